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
