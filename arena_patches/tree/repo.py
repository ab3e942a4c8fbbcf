"""The user's kernel tree, and a private place to work that never writes to it.

The user's --tree is only ever read. The tool keeps, under its work dir, a shared
clone of it (`git clone --shared`: objects are borrowed through alternates, nothing is
copied and nothing is written back), and all checkouts are `git worktree add --detach`
worktrees of that clone. So the user's HEAD, index, branches, refs, worktree list and
object store stay exactly as they were, even while a run is interrupted.
"""
from __future__ import annotations

import fcntl
import hashlib
import math
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from arena_patches.core.errors import InfraError, UserError, bad_input
from arena_patches.core.model import RunRecord
from arena_patches.core.paths import (cache_root, ccache_dir, ccache_dir_origin, default_work_dir,
                                      default_work_dir_origin, no_links_in,
                                      open_own, own_dir, write_own)
from arena_patches.core.runner import DEFAULT, Runner

# Commits the tool makes must not depend on who runs it or when: the same patch on the
# same base gives the same commit id, so results can be cached by id.
# The one checkout the patches are applied in and the local builds run in (kbuild/directory
# placement's "build"): a second checkout of the kernel would cost ~9 s of the first run
SHARED_WORKTREE = "build"
TOOL_IDENT = {"GIT_COMMITTER_NAME": "arena-patches", "GIT_COMMITTER_EMAIL": "arena-patches@localhost"}
# The user's global and system git config (commit.gpgsign, apply.whitespace=error, hooks)
# must not change what the private clone does: both are shut out, and what the tool needs
# is set explicitly.
GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
           "LC_ALL": "C", "GIT_ADVICE": "0",
           # hooks or an fsmonitor command written into a clone's config never run
           "GIT_CONFIG_COUNT": "2", "GIT_CONFIG_KEY_0": "core.hooksPath", "GIT_CONFIG_VALUE_0": os.devnull,
           "GIT_CONFIG_KEY_1": "core.fsmonitor", "GIT_CONFIG_VALUE_1": "false"}


def git(runner: Runner, repo: Path | str, *args: str, check: bool = True,
        env: dict[str, str] | None = None, input: bytes | None = None,
        timeout: float | None = 600, encoding: str = "utf-8") -> RunRecord:
    return runner.run(["git", "-C", str(repo), *args], env={**GIT_ENV, **(env or {})},
                      check=check, input=input, timeout=timeout, encoding=encoding)


# ---------------------------------------------------------------- the user's tree

@dataclass(frozen=True)
class UserTree:
    path: Path
    gitdir: Path
    bare: bool


def open_user_tree(path: str | Path, runner: Runner = DEFAULT) -> UserTree:
    p = Path(path)
    if not p.exists():
        raise bad_input(str(path), "no such directory", "--tree takes a kernel git tree")
    r = git(runner, p, "rev-parse", "--is-bare-repository", "--absolute-git-dir", check=False)
    if r.returncode != 0:
        raise bad_input(str(path), "not a git tree",
                        "import a source tarball first: arena-patches tree import TARBALL DEST")
    bare_s, gitdir = r.stdout.split()[:2]
    head = git(runner, p, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
    if head.returncode != 0:
        raise bad_input(str(path), "the git tree has no commit yet")
    return UserTree(path=p.resolve(), gitdir=Path(gitdir), bare=bare_s == "true")


# ---------------------------------------------------------------- the private work repo

@dataclass(frozen=True)
class WorkRepo:
    """The tool's shared clone of a user tree, and where its worktrees live."""

    user: UserTree
    root: Path  # work_dir/trees/<key>
    repo: Path  # root/repo.git (bare)
    runner: Runner

    def git(self, *args: str, **kw) -> RunRecord:
        return git(self.runner, self.repo, *args, **kw)

    def resolve(self, rev: str) -> str | None:
        r = self.git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
        return r.stdout.strip() if r.returncode == 0 else None

    def has_object(self, abbrev: str) -> bool:
        """Is the blob in the user's tree (the clone also holds the tool's own commits)?"""
        r = git(self.runner, self.user.path, "rev-parse", "--verify", "--quiet", f"{abbrev}^{{blob}}",
                check=False)
        return r.returncode == 0

    def resolve_user(self, rev: str) -> str | None:
        """`rev` as a commit of the user's tree: the private clone also holds the commits of
        every series applied in this work dir, and a base-commit naming one of those must
        not be found (a fresh work dir would not find it)."""
        sha = self.resolve(rev)
        if sha is None:
            return None
        r = git(self.runner, self.user.path, "cat-file", "-e", f"{sha}^{{commit}}", check=False)
        return sha if r.returncode == 0 else None

    def user_head(self) -> str:
        return git(self.runner, self.user.path, "rev-parse", "HEAD").stdout.strip()

    @contextmanager
    def worktree(self, name: str, rev: str) -> Iterator[Path]:
        """A detached worktree at `rev`, reused across runs; left clean on exit."""
        wt = self.root / "wt" / name
        self._ensure_worktree(wt, rev)
        try:
            yield wt
        finally:
            self._clean(wt)

    def prepare_worktree(self, name: str, rev: str) -> None:
        """Make the worktree now (units running in parallel then only check it out)."""
        self._ensure_worktree(self.root / "wt" / name, rev)

    def _ensure_worktree(self, wt: Path, rev: str) -> None:
        self.git("worktree", "prune", check=False)
        if (wt / ".git").exists() and not self._ours(wt):
            remove_tree(wt)  # a .git file naming another repository (the user's?) is not ours
        if (wt / ".git").exists():
            lock = Path(self.git("rev-parse", "--git-path", f"worktrees/{wt.name}/index.lock",
                                 check=False).stdout.strip() or "/nonexistent")
            if not lock.is_absolute():
                lock = self.repo / lock
            lock.unlink(missing_ok=True)  # left by an interrupted git; we hold the run lock
            self._clean(wt)
            git(self.runner, wt, "checkout", "--quiet", "--detach", "--force", rev)
            return
        if wt.exists():
            remove_tree(wt)
        wt.parent.mkdir(parents=True, exist_ok=True)
        self.git("worktree", "add", "--quiet", "--detach", "--force", str(wt), rev,
                 timeout=1800)

    def _ours(self, wt: Path) -> bool:
        """Is wt a worktree of the private clone: its .git a plain file naming repo.git/worktrees/X?"""
        try:
            fd = open_own(wt / ".git", os.O_RDONLY)
        except (OSError, UserError):
            return False
        with os.fdopen(fd) as f:
            text = f.read(4096)
        if not text.startswith("gitdir: "):
            return False
        return Path(text[8:].strip()).resolve().parent == (self.repo / "worktrees").resolve()

    def _clean(self, wt: Path) -> None:
        if (wt / ".git").exists():
            git(self.runner, wt, "reset", "--quiet", "--hard", check=False, timeout=1800)
            git(self.runner, wt, "clean", "-q", "-fdx", check=False, timeout=1800)


def remove_tree(p: Path) -> None:
    import shutil
    shutil.rmtree(p, ignore_errors=True)


def tree_key(user: UserTree) -> str:
    return hashlib.sha256(str(user.gitdir).encode()).hexdigest()[:16]


@contextmanager
def work_repo(user: UserTree, work_dir: Path | None = None,
              runner: Runner = DEFAULT) -> Iterator[WorkRepo]:
    """Open (creating or refreshing) the private clone; hold the work dir's lock meanwhile."""
    base = work_dir or default_work_dir()
    named = f"--work-dir {work_dir}" if work_dir else default_work_dir_origin()
    where = "" if work_dir else f" (the default work dir {base})"
    root = base / "trees" / tree_key(user)
    _outside_the_tree(user, root, named, where)
    try:
        base.mkdir(parents=True, exist_ok=True)
        own_dir(own_dir(base / "trees") / tree_key(user))
        no_links_in(root)
        os.close(open_own(root / ".writable"))
    except OSError as e:
        raise bad_input(named, f"cannot hold the tool's work{where} ({e.strerror or e}: {e.filename or root})",
                        "pass a writable directory (or none: ~/.cache/arena-patches/work)")
    with _locked(root / "lock"):
        repo = root / "repo.git"
        wr = WorkRepo(user, root, repo, runner)
        # New commits, moved branches, tags and remote-tracking branches of the user's tree
        # become visible (objects are borrowed through alternates; nothing is written there).
        # A fetch that fails (history rewritten at the same path, objects gone) means a new clone.
        def follow() -> bool:
            return git(runner, repo, "fetch", "--quiet", "--prune", str(user.gitdir),
                       "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*",
                       "+refs/remotes/*:refs/remotes/*", check=False, timeout=1800).returncode == 0
        if not (repo / "objects").is_dir() or not _alternates_ok(repo, user) or not follow():
            remove_tree(repo)
            remove_tree(root / "wt")
            git(runner, root, "clone", "--quiet", "--shared", "--bare", str(user.gitdir), str(repo),
                timeout=1800)
            follow()
        # HEAD is the user's HEAD as it is now (a switched branch, a detached HEAD): every
        # stage that says "HEAD" judges what the user has checked out today
        head = git(runner, user.path, "rev-parse", "--verify", "HEAD^{commit}", check=False).stdout.strip()
        if not head or git(runner, repo, "update-ref", "--no-deref", "HEAD", head, check=False).returncode != 0:
            raise InfraError(f"{user.path}: its HEAD cannot be read into the private clone in {repo}",
                             "remove that directory and run again")
        write_own(root / "user-tree", (str(user.path) + "\n").encode())
        yield wr


def _outside_the_tree(user: UserTree, root: Path, named: str, where: str) -> None:
    """The rule --work-dir obeys holds for every place the tool writes, whichever variable
    chose it: HOME, XDG_CACHE_HOME, ARENA_PATCHES_CACHE or CCACHE_DIR inside the tree is
    refused, named."""
    places = ((root, named, f"is inside the tree {{}}{where}", "pass a --work-dir outside it"),
              (cache_root(), default_work_dir_origin(), f"puts the tool's cache {cache_root()} inside the tree {{}}",
               "set XDG_CACHE_HOME or ARENA_PATCHES_CACHE to a directory outside it"),
              (ccache_dir(), ccache_dir_origin(), f"puts the build cache {ccache_dir()} inside the tree {{}}",
               "set CCACHE_DIR to a directory outside it"))
    for inside in (user.path, user.gitdir):
        for place, what, why, hint in places:
            if place.resolve().is_relative_to(inside.resolve()):
                raise bad_input(what, why.format(inside) + ": the tool never writes into the user's tree",
                                hint)


def _alternates_ok(repo: Path, user: UserTree) -> bool:
    alt = repo / "objects" / "info" / "alternates"
    try:
        return Path(alt.read_text().split()[0]).resolve() == (user.gitdir / "objects").resolve()
    except (OSError, IndexError):
        return False


LOCK_WAIT: float | None = None  # seconds; None: ARENA_PATCHES_LOCK_WAIT, or 900


def lock_wait() -> float:
    """Read where it is used, not at import: a bad value is this run's input error, not
    every command's (--help included) traceback."""
    if LOCK_WAIT is not None:
        return LOCK_WAIT
    raw = os.environ.get("ARENA_PATCHES_LOCK_WAIT")
    if raw is None:
        return 900.0
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:  # nan would wait forever, inf too
        raise bad_input(f"ARENA_PATCHES_LOCK_WAIT={raw!r}", "must be a number of seconds, 0 or more",
                        "e.g. ARENA_PATCHES_LOCK_WAIT=900 for 15 minutes")
    return seconds


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """The work dir's lock: a second run on the same work dir waits for the first (up to
    LOCK_WAIT seconds, then an infrastructure error naming the holder)."""
    wait = lock_wait()
    fd = open_own(path)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
                    raise InfraError(f"{path.parent}: another arena-patches run is using this work dir"
                                     f"{' (' + holder + ')' if holder else ''}; waited {wait:.0f} s",
                                     "wait for it to finish, or pass another --work-dir")
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} since {time.strftime('%H:%M:%S')}".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock, also on Ctrl-C


# ---------------------------------------------------------------- the merge of the series

def merge_messages(wr: WorkRepo, title: str, merge: str | None = None) -> list[tuple[str, str]]:
    """(commit, message) of merge commits that carry the series' cover letter."""
    found: list[tuple[str, str]] = []
    if merge and (sha := wr.resolve_user(merge)):
        found.append((sha, wr.git("log", "-1", "--format=%B", sha).stdout))
    r = wr.git("log", "--merges", "-F", f"--grep={title}", "-n", "20", "--format=%H%x00%B%x1e",
               "HEAD", check=False, timeout=120)
    for chunk in r.stdout.split("\x1e"):
        if "\x00" in chunk:
            sha, body = chunk.strip("\n").split("\x00", 1)
            if sha not in (s for s, _ in found):
                found.append((sha, body))
    return found
