"""--source PATH: an mbox file, a single mail, a maildir, or a directory searched
recursively for .eml .patch .mbox .mbx files. Messages are deduplicated by Message-ID.
"""
from __future__ import annotations

from pathlib import Path

from arena_patches.core.errors import bad_input
from arena_patches.core.model import Message, Problem
from arena_patches.mail import message as mail

MAIL_SUFFIXES = (".eml", ".patch", ".mbox", ".mbx")


def _is_maildir(p: Path) -> bool:
    return p.is_dir() and (p / "cur").is_dir() and (p / "new").is_dir()


def _files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    if _is_maildir(root):
        return sorted(f for d in ("new", "cur") for f in (root / d).iterdir() if f.is_file())
    found = []
    for f in sorted(root.rglob("*")):
        if f.is_file() and f.suffix.lower() in MAIL_SUFFIXES:
            found.append(f)
        elif f.is_dir() and _is_maildir(f):
            found.extend(_files(f))
    return found


def read_file(path: Path) -> tuple[list[Message], list[Problem]]:
    try:
        data = path.read_bytes()
    except OSError as e:
        return [], [Problem(str(path), f"cannot read: {e.strerror}")]
    raws = mail.split_mbox(data) if mail.is_mbox(data) else [data]
    msgs: list[Message] = []
    problems: list[Problem] = []
    for i, raw in enumerate(raws):
        origin = str(path) if len(raws) == 1 else f"{path}#{i + 1}"
        got = mail.parse(raw, origin)
        (problems if isinstance(got, Problem) else msgs).append(got)
    return msgs, problems


def read(source: str | Path) -> tuple[list[Message], list[Problem]]:
    root = Path(source)
    if not root.exists():
        raise bad_input(str(source), "no such file or directory",
                        "--source takes an mbox file, a maildir, a directory of mails, or 'lore'")
    files = _files(root)
    if not files:
        raise bad_input(str(source), f"no mail files found (looked for {' '.join(MAIL_SUFFIXES)}"
                        " and maildirs)")
    seen: dict[str, Message] = {}
    problems: list[Problem] = []
    for f in files:
        msgs, probs = read_file(f)
        problems.extend(probs)
        for m in msgs:
            first = seen.setdefault(m.message_id, m)  # first copy wins; .mbx duplicates collapse
            if first is not m and (first.subject, first.body.strip()) != (m.subject, m.body.strip()):
                problems.append(Problem(m.origin, f"Message-ID <{m.message_id}> also in {first.origin} "
                                                  "with a different subject or body: the first (in path "
                                                  "order) is used"))
    if not seen:
        detail = "; ".join(f"{p.origin}: {p.message}" for p in problems[:3])
        raise bad_input(str(source), f"no readable mail in it ({detail})")
    return list(seen.values()), problems
