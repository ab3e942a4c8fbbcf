"""Write a multi-version patch series as mails, from edits to a real kernel tree.

Used by the embedded demo and by tests: each patch is a list of exact text edits;
commits are made without a checkout (hash-object, a temporary index, commit-tree) in
a throwaway shared clone, and `git format-patch` writes the mails, so the index lines
carry real blob ids. Message-IDs and dates are fixed, so the output is reproducible.
"""
from __future__ import annotations

import email.utils
import hashlib
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from arena_patches.core.errors import UserError
from arena_patches.core.runner import DEFAULT, Runner
from arena_patches.mail import message as mail
from arena_patches.tree.repo import git

AUTHOR = ("Demo Author", "demo@arena-patches.invalid")


@dataclass(frozen=True)
class Edit:
    path: str
    old: str  # must occur exactly once in the file ("" with new: create the file)
    new: str
    delete: bool = False  # the file goes (old and new unused)


@dataclass(frozen=True)
class PatchSpec:
    subject: str
    body: str
    edits: tuple[Edit, ...]
    trailers: tuple[str, ...] = ()  # "Fixes: …" lines, just above the Signed-off-by


@dataclass(frozen=True)
class VersionSpec:
    version: int
    patches: tuple[PatchSpec, ...]
    changelog: str = ""
    drop: tuple[int, ...] = ()  # patches whose mail is not written (a gap)
    # Patch k's mail is made from this patch instead, on the same parent, while the
    # patches after it are made on the original: the series no longer fits together.
    sent_instead: dict[int, PatchSpec] = field(default_factory=dict)
    base_commit_trailer: bool = False


def _apply_edits(runner: Runner, repo: Path, parent: str, edits: tuple[Edit, ...]) -> dict[str, str | None]:
    """Each edited file's new text; None for a file deleted."""
    files: dict[str, str | None] = {}
    for e in edits:
        if e.delete:
            files[e.path] = None
            continue
        if e.path not in files:
            r = git(runner, repo, "cat-file", "blob", f"{parent}:{e.path}", check=False)
            if r.returncode != 0 and e.old:
                raise UserError(f"mkseries: {e.path} does not exist at {parent}")
            files[e.path] = r.stdout if r.returncode == 0 else ""
        text = files[e.path]
        if not e.old:
            files[e.path] = text + e.new
            continue
        if text.count(e.old) != 1:
            raise UserError(f"mkseries: the text to replace occurs {text.count(e.old)} times in "
                            f"{e.path}, not once: {e.old[:60]!r}")
        files[e.path] = text.replace(e.old, e.new)
    return files


def _commit(runner: Runner, repo: Path, parent: str, p: PatchSpec, when: int, index: Path) -> str:
    env = {"GIT_INDEX_FILE": str(index)}
    git(runner, repo, "read-tree", parent, env=env)
    for path, text in _apply_edits(runner, repo, parent, p.edits).items():
        if text is None:  # mode 0 removes the entry (--force-remove wants a work tree)
            git(runner, repo, "update-index", "--index-info", env=env, input=f"0 {'0' * 40}\t{path}\n".encode())
            continue
        blob = git(runner, repo, "hash-object", "-w", "--stdin", input=text.encode()).stdout.strip()
        git(runner, repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
    tree = git(runner, repo, "write-tree", env=env).stdout.strip()
    tags = "".join(f"{t}\n" for t in p.trailers)
    msg = f"{p.subject}\n\n{p.body.strip()}\n\n{tags}Signed-off-by: {AUTHOR[0]} <{AUTHOR[1]}>\n"
    return git(runner, repo, "commit-tree", tree, "-p", parent, "-F", "-", env=_ident(when),
               input=msg.encode()).stdout.strip()


def _ident(when: int) -> dict[str, str]:
    return {"GIT_AUTHOR_NAME": AUTHOR[0], "GIT_AUTHOR_EMAIL": AUTHOR[1],
            "GIT_COMMITTER_NAME": AUTHOR[0], "GIT_COMMITTER_EMAIL": AUTHOR[1],
            "GIT_AUTHOR_DATE": f"@{when} +0000", "GIT_COMMITTER_DATE": f"@{when} +0000"}


def msgid(tag: str, v: int, k: int) -> str:
    return f"{tag}-v{v}-{k}@arena-patches.invalid"


def write(tree: str | Path, base: str, title: str, versions: list[VersionSpec], out: Path,
          tag: str = "demo", prefix: str = "PATCH demo", start: int = 1767225600,
          runner: Runner = DEFAULT) -> list[Path]:
    """Write one mbox per version into `out`; returns their paths. The output is a pure
    function of the base commit and the arguments: when `out` already holds what they
    give (its stamp says so), nothing is written again."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{tag}-v{vs.version}.mbox" for vs in versions]
    base_sha = git(runner, tree, "rev-parse", f"{base}^{{commit}}").stdout.strip()
    key = hashlib.sha256(repr((base_sha, title, versions, tag, prefix, start,
                               Path(__file__).read_bytes())).encode()).hexdigest()
    stamp = out / ".mkseries"
    if stamp.exists() and stamp.read_text() == key and all(p.exists() for p in paths):
        return paths
    stamp.unlink(missing_ok=True)
    written = _write(tree, base_sha, title, versions, out, tag, prefix, start, runner)
    stamp.write_text(key)
    return written


def _write(tree: str | Path, base_sha: str, title: str, versions: list[VersionSpec], out: Path,
           tag: str, prefix: str, start: int, runner: Runner) -> list[Path]:
    written = []
    with tempfile.TemporaryDirectory(prefix="arena-mkseries-") as tmp:
        repo = Path(tmp) / "repo.git"
        git(runner, tmp, "clone", "--quiet", "--bare", "--shared", "--no-tags", str(tree), str(repo))
        index = Path(tmp) / "index"
        for vi, vs in enumerate(versions):
            when = start + vs.version * 86400
            commits, sent = [], {}
            parent = base_sha
            for k, p in enumerate(vs.patches, 1):
                c = _commit(runner, repo, parent, p, when + k, index)
                if k in vs.sent_instead:
                    sent[k] = _commit(runner, repo, parent, vs.sent_instead[k], when + k, index)
                commits.append(c)
                parent = c
            mails = [_cover(vs, title, tag, prefix, when, base_sha)]
            n = len(vs.patches)
            for k, c in enumerate(commits, 1):
                if k in vs.drop:
                    continue
                mails.append(_patch_mail(runner, repo, sent.get(k, c), tag, prefix, vs.version, k, n))
            path = out / f"{tag}-v{vs.version}.mbox"
            path.write_bytes(b"".join(mails))
            written.append(path)
    return written


def _cover(vs: VersionSpec, title: str, tag: str, prefix: str, when: int, base: str) -> bytes:
    n = len(vs.patches)
    pfx = f"{prefix} v{vs.version}" if vs.version > 1 else prefix
    body = (vs.changelog.strip() + "\n\n" if vs.changelog.strip() else "") + \
        f"{title}: a generated series for arena-patches.\n"
    if vs.base_commit_trailer:
        body += f"\nbase-commit: {base}\n"
    body += "-- \n2.47.3\n"
    head = (f"From: {AUTHOR[0]} <{AUTHOR[1]}>\nSubject: [{pfx} 0/{n}] {title}\n"
            f"Date: {email.utils.formatdate(when, usegmt=True)}\n"
            f"Message-ID: <{msgid(tag, vs.version, 0)}>\n")
    return _mbox_entry(head + "\n" + body)


def _patch_mail(runner: Runner, repo: Path, commit: str, tag: str, prefix: str, v: int,
                k: int, n: int) -> bytes:
    r = git(runner, repo, "format-patch", "--stdout", "--no-signature", "--zero-commit",
            "--no-numbered", "--subject-prefix=X", "-1", commit)
    raw = mail.split_mbox(r.stdout.encode())[0].decode()
    heads, body = raw.split("\n\n", 1)
    cover = msgid(tag, v, 0)
    pfx = f"{prefix} v{v}" if v > 1 else prefix
    out_heads = []
    for line in heads.split("\n"):
        if line.startswith("Subject: [X] "):
            line = f"Subject: [{pfx} {k}/{n}] " + line[len("Subject: [X] "):]
        out_heads.append(line)
    out_heads += [f"Message-ID: <{msgid(tag, v, k)}>", f"In-Reply-To: <{cover}>",
                  f"References: <{cover}>"]
    return _mbox_entry("\n".join(out_heads) + "\n\n" + body.rstrip("\n") + "\n-- \n2.47.3\n")


def _mbox_entry(text: str) -> bytes:
    body = re.sub(r"^(>*From )", r">\1", text, flags=re.M)  # mboxrd escaping
    return b"From mboxrd@z Thu Jan  1 00:00:00 1970\n" + body.encode() + b"\n"
