from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from arena_patches.mail import spec as spec_mod

ROOT = Path(__file__).resolve().parent.parent
# a worktree elsewhere than beside ../shared names it in ARENA_PATCHES_SHARED
SHARED = Path(os.environ.get("ARENA_PATCHES_SHARED") or ROOT.parent / "shared")
LORE = SHARED / "lore"


@pytest.fixture
def ctrl_c():
    """Ctrl-C as a terminal gives it: Python's KeyboardInterrupt handler in place for the
    test, even when the run began with SIGINT ignored (a background job of a shell script,
    as CI may start it), where _thread.interrupt_main() does nothing at all."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


@pytest.fixture
def lore_dir() -> Path:
    if not (LORE / "README.md").exists():
        pytest.skip(f"the real series mails are not here ({LORE} is absent: ../shared is only "
                    "beside the project on the developers' and CI machines)")
    return LORE


@pytest.fixture
def arena_spec():
    return spec_mod.load("arena-kfuncs")


@pytest.fixture
def plain_spec():
    """A spec naming no Message-IDs: every patch in the source is the series."""
    return spec_mod.from_dict({"series": {"title": "demo: a series"}}, "plain.toml")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    # Tests never read or write the user's cache.
    monkeypatch.setenv("ARENA_PATCHES_CACHE", str(tmp_path_factory.mktemp("cache")))
