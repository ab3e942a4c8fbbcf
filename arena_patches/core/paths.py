"""Where the tool keeps its cache and work files (never inside the user's tree)."""
from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    env = os.environ.get("ARENA_PATCHES_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "arena-patches"


def default_work_dir() -> Path:
    return cache_root() / "work"


def confined(root: Path, rel: str) -> Path | None:
    """root/rel, only when it stays inside root: no absolute path, no `..`, and no symlink
    on the way (a patch or a spec names the path; strangers write both). None otherwise."""
    if not rel or rel.startswith("/") or "\0" in rel:
        return None
    parts = [x for x in rel.split("/") if x not in ("", ".")]
    if not parts or ".." in parts:
        return None
    here = root
    for part in parts:
        here = here / part
        if here.is_symlink():
            return None
    try:
        here.resolve().relative_to(root.resolve())
    except ValueError:
        return None
    return here


_C_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def unquote(name: str) -> str:
    """A path as git writes it in a diff: `"a/\\303\\251t\\303\\251.c"` (C-quoted, octal
    bytes in UTF-8) becomes `a/été.c`; an unquoted name is itself."""
    if len(name) < 2 or not (name.startswith('"') and name.endswith('"')):
        return name
    out, i, body = bytearray(), 0, name[1:-1]
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in "0123" and i + 3 < len(body) and all(x in "01234567" for x in body[i + 1:i + 4]):
                out.append(int(body[i + 1:i + 4], 8))
                i += 4
                continue
            out.append(_C_ESCAPES.get(nxt, ord(nxt)))
            i += 2
            continue
        out += c.encode()
        i += 1
    return out.decode("utf-8", errors="replace")
