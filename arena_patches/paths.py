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
