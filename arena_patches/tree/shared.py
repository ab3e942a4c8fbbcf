"""One worktree that several build directories build from at once.

A matrix's targets go through the same commits in the same order (each version's base,
then its patches). Run at once (core.executor.LocalExecutor's `at_once`), each holds the
worktree at its commit while its make runs (`at`), and the worktree moves to another
commit only when no make holds it: the targets build each tree state at the same time,
from one checkout, and one target's serial steps (make's walk of the tree, the link of
vmlinux) overlap another's compiles. Every turn starts with a forced checkout of its
commit, as each state did when one target ran after the other: what a make before it left
in the worktree's tracked files is undone.
"""
from __future__ import annotations

import threading
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

from arena_patches.tree.repo import WorkRepo, git


class SharedWorktree:
    """`wt/<name>` of the work repo, entered at the first `at` (a run whose every state is
    cached never checks out), left clean when the block using it ends."""

    def __init__(self, wr: WorkRepo, name: str):
        self.wr, self.name = wr, name
        self.path: Path = wr.root / "wt" / name
        self._cond = threading.Condition()
        self._commit: str | None = None
        self._users = 0
        self._stack = ExitStack()
        self._entered = False
        self.checkouts = 0

    def __enter__(self) -> "SharedWorktree":
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    @contextmanager
    def at(self, commit: str) -> Iterator[Path]:
        """The worktree at `commit` for the length of the block, shared with every other
        holder of the same commit; waits while others hold it at another."""
        with self._cond:
            while self._users and self._commit != commit:
                self._cond.wait()
            if not self._users:  # a new turn: the commit checked out again, by force
                self._commit = None  # a checkout that fails leaves it unknown
                if not self._entered:  # made, or cleaned and checked out by force, at the commit
                    self._stack.enter_context(self.wr.worktree(self.name, commit))
                    self._entered = True
                else:
                    git(self.wr.runner, self.path, "checkout", "--quiet", "--detach", "--force", commit)
                self.checkouts += 1
                self._commit = commit
            self._users += 1
        try:
            yield self.path
        finally:
            with self._cond:
                self._users -= 1
                self._cond.notify_all()
