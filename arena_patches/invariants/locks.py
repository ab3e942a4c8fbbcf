"""Which locks are held at each call and at each exit of a function, on every path: the
walk (lockwalk.py) with the file's own lock helpers (helpers.py) taken into account."""
from __future__ import annotations

from arena_patches.invariants.cparse import CFile
from arena_patches.invariants.helpers import lock_helpers
from arena_patches.invariants.lockstate import Analysis
from arena_patches.invariants.lockwalk import Walker

__all__ = ["Analysis", "analyse"]


def analyse(cf: CFile, function: str, order: list[tuple[str, str]] | None = None,
            guards: dict[str, set[tuple[str, str]]] | None = None) -> Analysis | None:
    fn = cf.functions.get(function)
    if fn is None:
        return None
    return Walker(cf, fn, order or [], guards, lock_helpers(cf)).run()
