"""Cover letters (and merge commit messages) -> changelog claims.

Recognised block headers, as kernel authors write them:
    Changes in v6->v7:      Changes v2 -> v3:     v2 -> v3:     Changes since v2:
    Changes in v3:          v3:  (followed by bullets)          V1 -> V2: text
    v3: text (its indented lines wrap it)     v3: <link to v3> followed at once by bullets
A "vN: <link>" line ends the bullet before it.
Inside a block, "Patch 2:" / "Patch 2/3:" / "[PATCH 2/4]" lines set the patch the
following bullets are about; a bullet that names no patch header but says "patch N"
in its text is about patch N; otherwise the claim is series-wide (patch None).
A trailing "(Name)" on a bullet records who asked for the change.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from arena_patches.core.model import Claim, VersionLink

# numbers are read to 9 digits at most: a 5,000-digit "v99…9" is not a version header
# (int() would refuse it), it is prose
_N = r"(?<!\d)\d{1,9}(?!\d)"
_V = rf"[vV]?({_N})"
_ARROW = r"\s*(?:->|-->|→|=>|\.\.|to|-)\s*"
_HDR_RANGE = re.compile(
    rf"^\s*(?:changes\s+(?:in|from|since|between)?\s*|changelog\s*:?\s*)?{_V}{_ARROW}{_V}\s*:?\s*$", re.I)
_HDR_SINCE = re.compile(rf"^\s*changes\s+(?:since|from)\s+(?:\(\w+\)\s+)?{_V}(?:\s+of\s+this\s+series)?\s*:?\s*$",
                        re.I)
# "V1 -> V2: Simplify how ..." (the first claim on the header's line, more on indented lines)
_HDR_INLINE = re.compile(rf"^\s*(?:changes\s+)?[vV]({_N}){_ARROW}[vV]({_N})\s*:\s*(\S.*)$", re.I)
# a link to the earlier version inside a block ("(https://…):", "- Link to v1: https://…")
_LINK_LINE = re.compile(r"^\s*(?:[-*]\s*)?(?:link\s+to\s+v\d+\s*:\s*)?\(?<?https?://\S+\s*$", re.I)
_HDR_IN = re.compile(rf"^\s*changes\s+(?:in|for)\s+{_V}\s*:?\s*$", re.I)
_HDR_BARE = re.compile(rf"^\s*[vV]({_N})\s*:\s*$")
# "v2: Remove NULL checks ..." below a patch's ---: the change made in v2, on the header's
# line, its wrapped lines indented under it
_HDR_VTEXT = re.compile(rf"^\s*[vV]({_N})\s*:\s*(?!<?https?://)(\S.*)$")
_LINK = re.compile(rf"^\s*[vV]({_N})\s*:\s*(?:https?://\S+?/)([^/\s]+@[^/\s]+?)/?\s*$")
# "[PATCH 2/4]:" names patch 2 of 4; "Patch 2/3:" (no brackets) names patches 2 and 3.
_PATCH_HDR_TAG = re.compile(rf"^\s*\[PATCH[^\]]*?\s({_N})/\d+\]\s*:?\s*$", re.I)
_PATCH_HDR = re.compile(
    rf"^\s*patch(?:es)?\s*\#?({_N}(?:\s*(?:/|,|and|&)\s*{_N})*)\s*:\s*$", re.I)
_BULLET = re.compile(r"^(\s*)(?:[-*•+]|\d+[.)])\s+(.*)$")
# "patch 2", "patches 2 and 3", "patch7", "patch1,2,3,4,7" (patch 0, the cover, is no patch)
_PATCH_IN_TEXT = re.compile(rf"\bpatch(?:es)?\s*#?({_N}(?:\s*(?:/|and|&|,)\s*{_N})*)", re.I)
_PATCH_K_OF_N = re.compile(rf"\bpatch\s+\(({_N})/\d+\)", re.I)  # "a new patch (1/3)"
# "No relevant changes since v2, I just rebased to v6.8-rc1.": a changelog in one sentence
_HDR_SENTENCE = re.compile(rf"^\s*(no\s+(?:relevant\s+|real\s+|code\s+|functional\s+)?changes?\s+(since|in)\s+"
                           rf"[vV]({_N})\b.*\S)\s*$", re.I)
_PATCH_INLINE = re.compile(rf"^\s*patch\s*#?({_N})\s*:\s*(\S.*)$", re.I)  # "Patch 1: add a comment"
# an indented line under "v2: text" that starts another change, not the wrapped end of the
# one before ("v2: add better comment ...\n     add BUILD_BUG_ON for headroom")
_ITEM_VERB = re.compile(r"^\s*(?:add|adds|added|remove[sd]?|drop(?:s|ped)?|fix(?:e[sd])?|keep|kept|use[sd]?|"
                        r"move[sd]?|rename[sd]?|change[sd]?|update[sd]?|replace[sd]?|introduce[sd]?|"
                        r"convert(?:s|ed)?|switch(?:es|ed)?|split|merge[sd]?|squash(?:es|ed)?|rebase[sd]?|"
                        r"reword(?:s|ed)?|document(?:s|ed)?|simplif(?:y|ies|ied)|avoid(?:s|ed)?|"
                        r"handle[sd]?|return(?:s|ed)?|check(?:s|ed)?|collect(?:s|ed)?|pick(?:s|ed)?|no)\b", re.I)
_LEAD_IN = re.compile(r"^\s*(?:the\s+)?(?:only\s+)?(?:other\s+)?changes?(?:\s+\w+){0,3}\s*:\s*$", re.I)
# "Changes since (implicit) v1 of this series\n(https://…/<msgid>):" names the version it means
_SINCE_LINK = re.compile(rf"changes\s+(?:since|from)\s+(?:\(\w+\)\s+)?[vV]({_N})[^\n]*\n?\s*\(?<?"
                         r"https?://\S+?/(?:r/)?([^/\s<>()]+@[^/\s<>()]+?)/?\)?:?\s*$", re.I | re.M)
_LINK_TO = re.compile(rf"^\W*link\s+to\s+[vV]({_N})\s*:\s*<?https?://\S+?/(?:r/)?([^/\s<>]+@[^/\s<>]+?)/?>?\s*$",
                      re.I)
_ASKER = re.compile(r"\(([^()]{1,40})\)\s*\.?\s*$")
_NAME_LIKE = re.compile(r"^[A-Za-z][A-Za-z .'\-]*$")
# "(code formatting change only)", "(reviewer feedback)": words no one is called
_NOT_ASKER = {"code", "change", "changes", "only", "formatting", "format", "feedback",
              "review", "comment", "comments", "style", "cosmetic", "typo", "typos", "functional", "minor",
              "no", "not", "see", "above", "below", "again", "optional", "unchanged", "fix", "fixes"}


@dataclass
class _Open:
    from_v: int
    to_v: int
    patches: tuple[int, ...] = ()
    inline: str | None = None  # the claim written on the header's own line
    # "v2: <link>" then bullets (the changes made in v2): opened by a link line, the block
    # holds only what follows it at once (a blank line first: it was a list of links)
    by_link: bool = False
    # "v2: text" whose indented lines wrap it (not one claim each, as "V1 -> V2: ..." lists)
    wraps: bool = False


def _patch_list(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(_N, text))


def _asker(text: str) -> tuple[str, str | None]:
    """Split a trailing "(Alexei)" off a bullet; code such as "(free_pages)" is not a name."""
    m = _ASKER.search(text)
    if not m:
        return text, None
    who = " ".join(m.group(1).split())
    if not _NAME_LIKE.match(who) or len(who.split()) > 4 or _NOT_ASKER & set(who.lower().split()):
        return text, None
    return text[:m.start()].rstrip(), who.lower()


def _patches_named(text: str) -> tuple[int, ...]:
    m = _PATCH_K_OF_N.search(text)
    if m:
        return (int(m.group(1)),)
    m = _PATCH_IN_TEXT.search(text)
    if not m:
        return ()
    return tuple(n for n in dict.fromkeys(_patch_list(m.group(1))) if n > 0)


def _header(line: str, this_version: int | None) -> _Open | None:
    if _LINK.match(line):
        return None
    m = _HDR_SENTENCE.match(line)
    if m and this_version:
        k = int(m.group(3))
        if m.group(2).lower() == "in" and k == this_version and k > 1:
            return _Open(k - 1, k, inline=m.group(1))
        if m.group(2).lower() == "since" and k < this_version:
            return _Open(k, this_version, inline=m.group(1))
    m = _HDR_INLINE.match(line)
    if m and int(m.group(1)) < int(m.group(2)):
        return _Open(int(m.group(1)), int(m.group(2)), inline=m.group(3).strip())
    m = _HDR_RANGE.match(line)
    if m and re.search(r"[vV]\d|changes|changelog", line, re.I):
        a, b = int(m.group(1)), int(m.group(2))
        if a < b:
            return _Open(a, b)
    m = _HDR_SINCE.match(line)
    if m and this_version:
        return _Open(int(m.group(1)), this_version)
    m = _HDR_IN.match(line) or _HDR_BARE.match(line)
    if m and int(m.group(1)) > 1:
        return _Open(int(m.group(1)) - 1, int(m.group(1)))
    m = _HDR_VTEXT.match(line)
    if m and 1 < int(m.group(1)) <= (this_version or int(m.group(1))):
        return _Open(int(m.group(1)) - 1, int(m.group(1)), inline=m.group(2).strip(), wraps=True)
    return None


def links(text: str, cited_in: str) -> list[VersionLink]:
    """A text's links to earlier versions: "v1: https://…/<msgid>/", b4's "Link to v1: …",
    and a "Changes since v1 (https://…/<msgid>):" header."""
    out = []
    for line in text.splitlines():
        m = _LINK.match(line) or _LINK_TO.match(line)
        if m:
            out.append(VersionLink(int(m.group(1)), m.group(2), cited_in))
    out += [VersionLink(int(m.group(1)), m.group(2), cited_in) for m in _SINCE_LINK.finditer(text)]
    return out


_STAT = re.compile(r"^\s*(\S.*\S)\s+\|\s+(\d+|Bin)|^\s*\d+ files? changed|^diff --git ")


def notes(body: str) -> str:
    """A patch mail's notes: what its author wrote between the "---" and the diffstat."""
    lines = body.replace("\r", "").splitlines()
    start = next((i for i, line in enumerate(lines) if line.rstrip() == "---"), None)
    if start is None:
        return ""
    out = []
    for line in lines[start + 1:]:
        if _STAT.match(line):
            break
        out.append(line)
    return "\n".join(out).strip("\n")


class _Reader:
    """One text's changelog blocks, line by line: a header opens a block, bullets (or
    "Patch N:" lines, or indented lines) in it are claims, prose after it closes it."""

    def __init__(self, source: str, this_version: int | None):
        self.source, self.this_version = source, this_version
        self.claims: list[Claim] = []
        self.block: _Open | None = None
        self.bullet: list[str] = []
        self.patches: tuple[int, ...] = ()
        self.blank_seen = False

    def flush(self) -> None:
        if self.block and self.bullet:
            text, who = _asker(" ".join(" ".join(self.bullet).split()))
            for p in self.patches or _patches_named(text) or (None,):
                self.claims.append(Claim(self.block.from_v, self.block.to_v, p, text, who, (self.source,)))
        self.bullet = []

    def start(self, text: str, patches: tuple[int, ...]) -> None:
        self.flush()
        self.bullet, self.patches, self.blank_seen = [text], patches, False

    def line(self, line: str) -> None:
        lk = _LINK.match(line)
        if lk:  # "v3: https://…/<msgid>": never part of a bullet; bullets right under it are v3's
            self.flush()
            k = int(lk.group(1))
            self.block = _Open(k - 1, k, by_link=True) if k > 1 else None
            self.blank_seen = False
            return
        bare = _HDR_BARE.match(line)
        if bare and int(bare.group(1)) <= 1:  # " v1:" then its link: the changelog is over
            self.flush()
            self.block = None
            return
        hdr = _header(line, self.this_version)
        if hdr:
            self.flush()
            self.block, self.blank_seen = hdr, False
            if hdr.inline:
                self.start(hdr.inline, ())
            return
        if self.block is None or (_LINK_LINE.match(line) and not self.blank_seen):
            return
        pi = _PATCH_INLINE.match(line)
        if pi:  # "Patch 1: add comment wrt. alignment"
            return self.start(pi.group(2), (int(pi.group(1)),))
        if _LEAD_IN.match(line) or not line.strip():  # "Only changes are:" opens what follows
            self.flush()
            self.blank_seen = not line.strip()
            if self.blank_seen and self.block.by_link:
                self.block = None  # links listed one per line, not a changelog
            return
        self.in_block(line)

    def in_block(self, line: str) -> None:
        block = self.block
        m = _BULLET.match(line)
        ph = None if m else (_PATCH_HDR_TAG.match(line) or _PATCH_HDR.match(line))
        if ph:
            self.flush()
            block.patches, self.blank_seen = _patch_list(ph.group(1)), False
        elif m:
            self.start(m.group(2), block.patches)
        elif block.wraps and self.bullet and line[:1].isspace() and _ITEM_VERB.match(line):
            self.start(line.strip(), block.patches)  # "v2: add X\n    add Y": one change per line
        elif self.bullet and line[:1].isspace() and (not block.inline or block.wraps):
            self.bullet.append(line.strip())  # a wrapped bullet
        elif block.inline and line[:1].isspace() and not self.blank_seen:
            self.start(line.strip(), block.patches)  # "V3 -> V4: Move defines up", then one per line
        elif self.blank_seen or not line[:1].isspace():
            self.flush()  # prose after the block: the changelog is over
            self.block = None
        else:
            self.bullet, self.patches = [line.strip()], block.patches  # an unbulleted indented line


def parse(text: str, source: str, this_version: int | None = None) -> list[Claim]:
    """Every claim in one cover letter or merge message, in order of appearance."""
    r = _Reader(source, this_version)
    for line in text.splitlines():
        if not line.startswith(">"):
            r.line(line)
    r.flush()
    return r.claims


def _key(c: Claim) -> tuple:
    # a later cover repeating a changelog may quote 'ret' where the first said "ret"
    return (c.from_version, c.to_version, c.patch, " ".join(re.sub(r"[\"'`]", "", c.text.lower()).split()))


def merge(claim_lists: list[list[Claim]]) -> list[Claim]:
    """Later covers repeat earlier changelogs: keep one claim per (step, patch, text),
    remembering every text that carried it."""
    merged: dict[tuple, Claim] = {}
    for claims in claim_lists:
        for c in claims:
            k = _key(c)
            if k not in merged:  # a text cut short by another wrapping (a merge message) is the same claim
                k = next((o for o in merged if o[:3] == k[:3] and len(k[3]) >= 20
                          and (o[3].startswith(k[3]) or k[3].startswith(o[3]))), k)
            old = merged.get(k)
            if old is None:
                merged[k] = c
            else:
                merged[k] = Claim(old.from_version, old.to_version, old.patch, old.text,
                                  old.asked_by or c.asked_by,
                                  old.sources + tuple(s for s in c.sources if s not in old.sources))
    return sorted(merged.values(), key=lambda c: (c.from_version, c.to_version,
                                                   c.patch if c.patch is not None else 0))
