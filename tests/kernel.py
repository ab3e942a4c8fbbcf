"""The real 6.12 kernel for integration tests: imported once per machine (idempotent)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from arena_patches import demo, tree

TEST_CACHE = Path(os.environ.get("ARENA_PATCHES_TEST_CACHE",
                                 Path.home() / ".cache" / "arena-patches-tests"))


def kernel_tree() -> Path:
    if not demo.TARBALL.exists():
        pytest.skip(f"{demo.TARBALL} is absent: run scripts/setup (Debian package linux-source-6.12)")
    dest = TEST_CACHE / "linux-6.12"
    tree.import_tarball(demo.TARBALL, dest, checkout=True)
    return dest


def work_dir() -> Path:
    """A persistent work dir for kernel tests: the worktree checkout (86k files) is reused
    across runs; the apply cache is emptied so each run really applies."""
    import shutil
    w = TEST_CACHE / "work"
    for cache in w.glob("trees/*/apply-cache"):
        shutil.rmtree(cache)
    return w


def fresh_build_cache(w: Path) -> None:
    """Forget cached build results (O= dirs and ccache stay: builds are warm, not skipped)."""
    import shutil
    for cache in w.glob("trees/*/build-cache"):
        shutil.rmtree(cache)
