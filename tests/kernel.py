"""The real kernels for integration tests, imported once per machine (idempotent): Debian's
6.12 (before the arena series) and Debian's 7.x from sid (after it: v8 is merged there),
fetched by the tool's own helper (`tree import debian:linux-source-7.2`)."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from arena_patches.tree import debian
from arena_patches.demo import prepare as demo
from arena_patches.tree import repo as tree, tarball
from arena_patches.core.errors import ArenaPatchesError

TEST_CACHE = Path(os.environ.get("ARENA_PATCHES_TEST_CACHE",
                                 Path.home() / ".cache" / "arena-patches-tests"))


def kernel_tree() -> Path:
    if not demo.TARBALL.exists():
        pytest.skip(f"{demo.TARBALL} is absent: run scripts/setup (Debian package linux-source-6.12)")
    dest = TEST_CACHE / "linux-6.12"
    tarball.import_tarball(demo.TARBALL, dest, checkout=True)
    return dest


KERNEL_7 = os.environ.get("ARENA_PATCHES_TEST_KERNEL7", "debian:linux-source-7.2")


def kernel_tree_7() -> Path:
    """Debian's 7.x (the series merged), fetched from sid into the test cache (no checkout:
    the tool works in worktrees of its own)."""
    dest = TEST_CACHE / "linux-7"
    try:
        tb = debian.fetch(KERNEL_7, root=TEST_CACHE / "debian").tarball
    except ArenaPatchesError as e:
        pytest.skip(f"{KERNEL_7} cannot be fetched here: {e}")
    tarball.import_tarball(tb, dest, checkout=False)
    return dest


def work_dir() -> Path:
    """A persistent work dir for kernel tests: the worktree checkout (86k files) is reused
    across runs; the apply cache is emptied so each run really applies."""
    import shutil
    # ARENA_PATCHES_TEST_WORK: a work dir of one's own beside the shared kernels (two
    # checkouts of the project testing at once would otherwise wait on one lock)
    w = Path(os.environ.get("ARENA_PATCHES_TEST_WORK") or TEST_CACHE / "work")
    for cache in w.glob("trees/*/apply-cache"):
        shutil.rmtree(cache)
    return w


def fresh_build_cache(w: Path) -> None:
    """Forget cached build results (O= dirs and ccache stay: builds are warm, not skipped)."""
    import shutil
    for cache in w.glob("trees/*/build-cache"):
        shutil.rmtree(cache)


@contextmanager
def demo_on_kernel(mails: Path) -> Iterator[tuple]:
    """The demo series written on the real 6.12 kernel and applied (v1..v3), in the
    persistent test work dir: yields (kernel, spec, series, work repo, apply results)."""
    from arena_patches.demo import mkseries
    from arena_patches.verify import stages
    from arena_patches.mail import spec as spec_mod
    kernel = kernel_tree()
    mkseries.write(kernel, "HEAD", demo.TITLE, demo.versions(), mails, tag="demo")
    spec = spec_mod.load(str(demo.SPEC))
    s = stages.load_series(spec, str(mails))
    with tree.work_repo(tree.open_user_tree(kernel), work_dir()) as wr:
        yield kernel, spec, s, wr, stages.apply_series(s, wr, [1, 2, 3])


def kernel_7_with_series_base(shared_base: Path) -> Path:
    """A clone of the 7.x tree plus one commit putting back the files the real v6-v8 were
    written on (../shared/lore/base: arena.c and the selftests, hash-exact). Made with git
    plumbing: nothing is checked out."""
    import os
    import subprocess
    src = kernel_tree_7()
    dest = TEST_CACHE / "linux-7-series-base"
    files = sorted(p for p in shared_base.rglob("*") if p.is_file() and p.name != "README.md")
    env = {**os.environ, "GIT_AUTHOR_NAME": "base", "GIT_AUTHOR_EMAIL": "base@localhost",
           "GIT_COMMITTER_NAME": "base", "GIT_COMMITTER_EMAIL": "base@localhost",
           "GIT_AUTHOR_DATE": "@1766000000 +0000", "GIT_COMMITTER_DATE": "@1766000000 +0000",
           "GIT_INDEX_FILE": str(TEST_CACHE / "series-base.index"), "GIT_CONFIG_GLOBAL": os.devnull}

    def git(*args: str, input: str | None = None) -> str:
        return subprocess.run(["git", "-C", str(dest), *args], check=True, capture_output=True, text=True,
                              env=env, input=input).stdout.strip()
    if not (dest / "HEAD").exists() and not (dest / ".git").exists():
        subprocess.run(["git", "clone", "-q", "--bare", "--shared", str(src), str(dest)], check=True)
    msg = "Put back the files the real v6-v8 were written on\n"
    if git("log", "-1", "--format=%s", "HEAD") + "\n" == msg:
        return dest
    git("read-tree", "HEAD")
    for f in files:
        blob = git("hash-object", "-w", str(f))
        git("update-index", "--add", "--cacheinfo", f"100644,{blob},{f.relative_to(shared_base)}")
    commit = git("commit-tree", git("write-tree"), "-p", "HEAD", input=msg)
    git("update-ref", "HEAD", commit)
    return dest
