"""Synthetic series mails for tests: what git send-email would produce."""
from __future__ import annotations

import email.utils
from dataclasses import dataclass

DIFF = """diff --git a/{path} b/{path}
index {pre}..{post} 100644
--- a/{path}
+++ b/{path}
@@ -1,3 +1,4 @@
 line one
+added by patch {k} of v{v}
 line two
 line three
"""


@dataclass
class Mail:
    msgid: str
    subject: str
    body: str
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    sender: str = "Jane Dev <jane@example.org>"
    date: str = "Mon, 17 Nov 2025 16:01:44 +0000"
    headers: tuple[tuple[str, str], ...] = ()

    def as_bytes(self) -> bytes:
        h = [f"From: {self.sender}", f"Subject: {self.subject}", f"Date: {self.date}",
             f"Message-ID: <{self.msgid}>"]
        if self.in_reply_to:
            h.append(f"In-Reply-To: <{self.in_reply_to}>")
        if self.references:
            h.append("References: " + " ".join(f"<{r}>" for r in self.references))
        h += [f"{k}: {v}" for k, v in self.headers]
        return ("\n".join(h) + "\n\n" + self.body).encode("utf-8")


def patch_body(v: int, k: int, path: str = "lib/demo.c", msg: str = "Does a thing.") -> str:
    return (f"{msg}\n\nSigned-off-by: Jane Dev <jane@example.org>\n---\n {path} | 1 +\n"
            f" 1 file changed, 1 insertion(+)\n\n"
            + DIFF.format(path=path, pre="1111111", post="2222222", k=k, v=v) + "-- \n2.47.3\n")


def series(v: int, n: int, title: str = "demo: a series", prefix: str = "PATCH",
           changelog: str = "", skip: tuple[int, ...] = (), domain: str = "example.org",
           date: str | None = None) -> list[Mail]:
    tag = f"{prefix} v{v}" if v > 1 else prefix
    cover_id = f"v{v}-0@{domain}"
    mails = [Mail(cover_id, f"[{tag} 0/{n}] {title}",
                  f"{changelog}\nThis series does things.\n\n-- \n2.47.3\n",
                  date=date or f"Mon, {10 + v} Nov 2025 10:00:00 +0000")]
    for k in range(1, n + 1):
        if k in skip:
            continue
        mails.append(Mail(f"v{v}-{k}@{domain}", f"[{tag} {k}/{n}] demo: patch number {k}",
                          patch_body(v, k), in_reply_to=cover_id, references=(cover_id,),
                          date=date or f"Mon, {10 + v} Nov 2025 10:00:0{k} +0000"))
    return mails


def mbox(mails: list[Mail]) -> bytes:
    out = b""
    for m in mails:
        body = m.as_bytes().replace(b"\nFrom ", b"\n>From ")
        out += b"From mboxrd@z Thu Jan  1 00:00:00 1970\n" + body.rstrip(b"\n") + b"\n\n"
    return out


def reply(to: Mail, msgid: str, sender: str, text: str, quote: bool = True) -> Mail:
    quoted = "".join(f"> {l}\n" for l in to.body.splitlines()[:3]) if quote else ""
    subj = to.subject if to.subject.startswith("Re:") else f"Re: {to.subject}"
    return Mail(msgid, subj, f"On Mon, someone wrote:\n{quoted}\n{text}\n", in_reply_to=to.msgid,
                references=to.references + (to.msgid,), sender=sender,
                date=email.utils.formatdate(1763400000 + len(msgid), usegmt=True))
