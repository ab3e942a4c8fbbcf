"""A build directory: one place a kernel is built (target, toolchain, config, source
worktree, O= dir, environment, runner). The build matrix and the boot stage both build
through it, and its reproducer is exactly the command and environment that ran.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from arena_patches.kbuild.kconfig import BuildConfig, merge, unmet
from arena_patches.kbuild.targets import Target, Toolchain, make_argv, shell_line
from arena_patches.core.errors import InfraError
from arena_patches.core.jobserver import Jobserver
from arena_patches.core.model import RunRecord
from arena_patches.core.paths import ccache_dir, read_regular, write_own
from arena_patches.core.runner import DEFAULT, Runner
from arena_patches.core.sandbox import Sandbox, around

# The kernel's Makefile unexports LC_ALL, so LANG and the LC_ categories are set too:
# compiler messages then use plain quotes whatever the user's locale.
C_LOCALE = {"LC_ALL": "C", "LANG": "C", "LC_CTYPE": "C", "LC_MESSAGES": "C"}
CONFIG_TIMEOUT = 600.0
CONFIG_STAMP = ".arena-patches-config"  # the config's key, written once the config is made
BUILT_STAMP = ".arena-patches-built"  # what O= holds: written after a build, removed before any make
CCACHE_LOG = ".arena-patches-ccache"  # ccache's stats log of this directory's makes (CcacheLog)
# each recipe's output in one block, stderr with it: a state's diagnostics are read per
# object from its one make (diagnostics.by_object)
GROUPED = "--output-sync=target"
VMLINUX = ("-k", GROUPED, "vmlinux")  # a state's build (kbuild/state.py says why -k)


def make_env(root: Path) -> dict[str, str]:
    """The environment of every kernel make: ccache, a C locale, reproducible build stamps.
    Every work dir lays out its worktrees and O= dirs alike (root/wt/build, root/builds/X):
    with ccache's paths made relative to the root, one work dir's compiles serve another's."""
    return {"CCACHE_DIR": str(ccache_dir()), "CCACHE_BASEDIR": str(root), "CCACHE_NOHASHDIR": "1",
            **C_LOCALE, "KBUILD_BUILD_TIMESTAMP": "@0", "KBUILD_BUILD_USER": "arena-patches",
            "KBUILD_BUILD_HOST": "arena-patches"}


def placement(kind: str, target: str, separate: bool) -> tuple[str, str]:
    """(worktree name, O= dir suffix). Units run here share the worktree `wt/<kind>`, one
    after the other or at once, each holding it at the commit it builds (tree/shared.py;
    ccache keys hold paths relative to the work dir: an unchanged layout keeps every compile
    cached); units on Ray each get `wt/<kind>-<target>` and an O= dir of their own. Result
    cache entries are keyed by tree, not path: shared. `wt/build` is also where the patches
    were applied (tree/repo.SHARED_WORKTREE)."""
    return (f"{kind}-{target}", f"-{kind}-{target}") if separate else (kind, "")


class ConfigFailed(Exception):
    """`make <config>` or `make olddefconfig` failed: the directory cannot build anything."""

    def __init__(self, msg: str, output: str, reproduce: str):
        super().__init__(msg)
        self.output, self.reproduce = output, reproduce


@dataclass(frozen=True)
class BuildDir:
    target: Target
    toolchain: Toolchain
    config: BuildConfig  # already made for the target (BuildConfig.for_target)
    source: Path  # the worktree make runs in (-C)
    out: Path  # O=
    worktree: str  # its name under the work dir's wt/
    root: Path  # the work dir
    jobs: int = 2
    w1: bool = False
    runner: Runner = field(default=DEFAULT, compare=False)
    # every state built from scratch (O= emptied but for its config), as a check on the
    # incremental builds: the cells must be the same
    scratch: bool = False
    sparse: bool = False  # the checks' sparse rides on this directory's builds (checker_argv)
    # the `make -j` this directory's makes share with others running at the same time
    # (core/jobserver.py); None: their own -j`jobs`
    pool: Jobserver | None = field(default=None, compare=False)

    @classmethod
    def at(cls, root: Path, target: Target, toolchain: str | None, config: BuildConfig, jobs: int,
           w1: bool = False, separate: bool = False, runner: Runner = DEFAULT,
           scratch: bool = False, sparse: bool = False, pool: Jobserver | None = None) -> "BuildDir":
        """The directory for (target, toolchain, config) under the work dir `root`;
        `config` already made for the target (BuildConfig.for_target)."""
        tc = target.toolchain(toolchain)
        name, suffix = placement("build", target.name, separate)
        out = root / "builds" / f"{target.name}-{tc.name}-{config.name}-{config.key}{suffix}"
        return cls(target, tc, config, root / "wt" / name, out, name, root, jobs, w1, runner, scratch, sparse,
                   pool)

    def empty(self) -> None:
        """O= as a cold build finds it: everything gone but the config and its stamp."""
        for p in self.out.iterdir():
            if p.name in (".config", CONFIG_STAMP):
                continue
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()

    @property
    def env(self) -> dict[str, str]:
        return make_env(self.root)

    @cached_property
    def toolchain_id(self) -> str:
        """The compiler's own first line of `--version`: part of every result cache key."""
        r = self.runner.run([self.toolchain.cc, "--version"], timeout=60)
        return (r.stdout.splitlines() or ["?"])[0].strip()

    def argv(self, goals: list[str]) -> list[str]:
        return make_argv(self.target, self.toolchain, self.source, self.out, goals, self.jobs,
                         {"W": "1"} if self.w1 else None)

    def sandbox(self, readonly: tuple[str | Path, ...] = ()) -> Sandbox:
        """Where the tree's code runs (core/sandbox.py): nothing writable but the worktree,
        the O= dir and the ccache dir; `readonly`: more paths it may read."""
        return around((self.source, self.out, ccache_dir()), readonly,
                      planned=(self.source, self.root / "repo.git"))

    def run(self, argv: list[str], timeout: float, readonly: tuple[str | Path, ...] = (),
            cwd: Path | None = None, merged: bool = False, env: dict[str, str] | None = None,
            pass_fds: tuple[int, ...] = ()) -> RunRecord:
        """Run the tree's own code (make, scripts/checkpatch.pl, kernel-doc, a checker) in
        this directory's sandbox, under the environment of its builds (and `env`): the one call."""
        return self.runner.run(argv, cwd=cwd, env={**self.env, **(env or {})}, timeout=timeout,
                               sandbox=self.sandbox(readonly), merged=merged, pass_fds=pass_fds)

    def checker_goals(self, objs: list[str]) -> list[str]:
        """sparse on objects just compiled: C=2 runs the checker alone, no compile again."""
        return ["C=2", "CHECK=sparse", *objs]

    def make(self, goals: list[str], timeout: float, alone: bool = False) -> RunRecord:
        """`alone`: with the others of its pool ended, none beside it (a cold build)."""
        # any make may change what O= holds: the stamp saying what it holds goes first
        (self.out / BUILT_STAMP).unlink(missing_ok=True)
        env = {"CCACHE_STATSLOG": str(self.out / CCACHE_LOG)}
        if self.pool is None:
            return self.run(self.argv(goals), timeout, merged=GROUPED in goals, env=env)
        # in the shared pool: no -j of its own (make would start a jobserver of its own)
        argv = [a for a in self.argv(goals) if a != f"-j{self.jobs}"]
        with self.pool.slot(alone):
            return self.run(argv, timeout, merged=GROUPED in goals, pass_fds=self.pool.fds,
                            env={**env, "MAKEFLAGS": self.pool.makeflags()})

    def ccache_log(self) -> "CcacheLog":
        """What ccache does for this directory's makes from now on (counted apart from
        the makes of other directories running at the same time)."""
        return CcacheLog(self.out / CCACHE_LOG)

    def holds(self, what: str) -> bool:
        """O= holds the finished build `what` (mark()ed after it, no make since)."""
        try:
            return (self.out / BUILT_STAMP).read_text() == what
        except OSError:
            return False

    def mark(self, what: str) -> None:
        write_own(self.out / BUILT_STAMP, what.encode())

    def command(self, goals: list[str]) -> str:
        """`make` for these goals under the environment it runs with, pasteable into a
        shell; inside the same bwrap sandbox when the run had one."""
        line = ["env", *(f"{k}={v}" for k, v in sorted(self.env.items())), *self.argv(goals)]
        return shell_line(self.runner.confined(line, self.sandbox()))

    def reproducer(self, commit: str, goals: tuple[str, ...] = VMLINUX) -> str:
        """The build as it ran: the checkout, then `make` under the same environment."""
        return shell_line(["git", "-C", str(self.source), "checkout", "-q", "--detach", commit]) + \
            " && " + self.command(list(goals))

    def configured(self) -> bool:
        """The config this directory stands for is made (a stamp holds its key)."""
        stamp = self.out / CONFIG_STAMP
        return stamp.exists() and stamp.read_text() == self.config.key and (self.out / ".config").exists()

    def ensure_config(self) -> None:
        """The config this directory stands for, made once."""
        if self.configured():
            return
        stamp = self.out / CONFIG_STAMP
        self.out.mkdir(parents=True, exist_ok=True)
        self._config_step(self.config.base)
        cfg = self.out / ".config"
        # the tool's own writes in the work dir never follow a link planted there, nor its
        # reads of what the sandboxed make left (a link to a secret would be merged in)
        write_own(cfg, merge(read_regular(cfg).decode(errors="replace"), self.config.fragment).encode())
        self._config_step("olddefconfig")
        write_own(stamp, self.config.key.encode())

    def _config_step(self, goal: str) -> None:
        r = self.make([goal], CONFIG_TIMEOUT)
        if r.returncode != 0:
            raise ConfigFailed(f"{self.target.name}: make {goal} failed", r.stderr[-1500:],
                               self.command([goal]))

    def unmet(self) -> list[str]:
        """The config's options that the made .config does not hold."""
        return unmet(read_regular(self.out / ".config").decode(errors="replace"), self.config.fragment)


class CcacheLog:
    """ccache's stats log (its `stats_log`: a `# file` line per compile, then a line per
    counter it moved), begun empty."""

    def __init__(self, path: Path):
        self.path = path
        path.unlink(missing_ok=True)

    def counts(self) -> tuple[int, int]:
        """(hits, misses) since it began; (0, 0) when nothing was compiled through ccache."""
        try:  # written by the tree's make: read as itself, never through a link
            lines = read_regular(self.path).decode(errors="replace").splitlines()
        except OSError:
            return 0, 0
        return sum(line in ("direct_cache_hit", "preprocessed_cache_hit") for line in lines), \
            lines.count("cache_miss")


def ccache_counts(runner: Runner = DEFAULT) -> tuple[int, int]:
    """(hits, misses) so far; (0, 0) without ccache."""
    try:
        out = runner.run(["ccache", "--print-stats"], env={"CCACHE_DIR": str(ccache_dir())}, timeout=30).stdout
    except InfraError:
        return 0, 0
    vals = dict(l.split("\t", 1) for l in out.splitlines() if "\t" in l)
    hits = int(vals.get("direct_cache_hit", 0)) + int(vals.get("preprocessed_cache_hit", 0))
    return hits, int(vals.get("cache_miss", 0))
