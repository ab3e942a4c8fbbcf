"""Hostile environments, planted files and wrong verdicts around the user's tree (issue 29,
items 1-6 and 13-17): each test reproduces one attack on small real git trees and asserts
the user's tree byte-identical (HEAD, index, refs, objects, alternates, worktree list, the
uncommitted edit), nothing outside the work dir touched, and the verdict right.

No kernel is needed."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from arena_patches import cli
from tests import gittree, mailgen
from tests.test_hostile import DEMO, SECRET, World, _files, _patch_mail, _tar, world  # noqa: F401


def _state(w: World) -> tuple:
    """Everything of the user's tree a run could change: git's view and every file's bytes."""
    files = {str(f.relative_to(w.tree)): hashlib.sha256(f.read_bytes()).hexdigest()
             for f in sorted(w.tree.rglob("*")) if f.is_file() and not f.is_symlink()}
    return gittree.snapshot(w.tree), files, _files(w.outside)


def _run(argv: list[str], capsys) -> tuple[int, dict]:
    rc = cli.main([*argv, "--json"])
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out, out.err[-2000:]
    return rc, json.loads(out.out)


# --- 1. git's own variables inherited from the caller (a hook, a shell) ------------------------

def _git_vars(w: World) -> list[tuple[str, str]]:
    t, g = str(w.tree), str(w.tree / ".git")
    return [("GIT_DIR", g), ("GIT_DIR", t), ("GIT_WORK_TREE", t), ("GIT_INDEX_FILE", f"{g}/index"),
            ("GIT_OBJECT_DIRECTORY", f"{g}/objects"), ("GIT_ALTERNATE_OBJECT_DIRECTORIES", f"{g}/objects"),
            ("GIT_COMMON_DIR", g), ("GIT_CEILING_DIRECTORIES", t), ("GIT_NAMESPACE", "evil"),
            ("GIT_CONFIG", f"{g}/config"), ("GIT_CONFIG_GLOBAL", f"{g}/config"),
            ("GIT_CONFIG_PARAMETERS", f"'core.worktree'='{t}'"), ("GIT_EXEC_PATH", t),
            ("GIT_CONFIG_COUNT", "1"), ("GIT_REF_PARANOIA", "1"), ("GIT_QUARANTINE_PATH", f"{g}/objects")]


@pytest.mark.parametrize("which", range(16))
def test_inherited_git_variable_never_reaches_the_users_tree(world, capsys, monkeypatch, which):
    name, value = _git_vars(world)[which]
    before = _state(world)
    monkeypatch.setenv(name, value)
    if name == "GIT_CONFIG_COUNT":
        monkeypatch.setenv("GIT_CONFIG_KEY_0", "core.worktree")
        monkeypatch.setenv("GIT_CONFIG_VALUE_0", str(world.tree))
    rc, doc = _run(["apply", *world.common()], capsys)
    assert rc == 0, doc
    assert _state(world) == before, f"{name}={value} changed the user's tree"
    assert not (world.tree / ".git" / "objects" / "info" / "alternates").exists()


def test_a_hooks_whole_environment_at_once(world, capsys, monkeypatch):
    """What git exports to a pre-push or post-merge hook run in the user's tree."""
    before = _state(world)
    g = world.tree / ".git"
    for k, v in (("GIT_DIR", str(g)), ("GIT_WORK_TREE", str(world.tree)), ("GIT_INDEX_FILE", str(g / "index")),
                 ("GIT_OBJECT_DIRECTORY", str(g / "objects")), ("GIT_PREFIX", "")):
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(world.tree)
    rc, doc = _run(["apply", *world.common()], capsys)
    assert rc == 0 and doc["versions"][0]["patches"][0]["status"] == "applied", doc
    assert _state(world) == before
