"""Build matrix: for each version x patch x target, does the tree build with this patch
and what did the patch itself introduce?

For one target, a version's commits (its base, then patch 1..k) are built in turn in one
O= directory, so each step recompiles only what changed (and ccache serves contents seen
before). At each commit: `make vmlinux` (links, so a 32-bit undefined reference shows),
then every kernel .c file the version touches is compiled again on its own to read its
diagnostics (a ccache hit replays them). A patch's new warnings are those present after
it and absent before it, by identity. Each commit's state is cached by (tree id, target,
config, toolchain, files): a re-run, or a later version sharing a prefix, costs nothing.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from arena_patches.build import diagnostics as dg
from arena_patches.tree.apply import VersionResult
from arena_patches.build.kconfig import BuildConfig, merge, unmet
from arena_patches.core.model import Series
from arena_patches.core.verdicts import Severity, Status
from arena_patches.core.runner import Runner
from arena_patches.build.targets import Target, Toolchain, make_argv, missing_tool, shell_line
from arena_patches.tree.repo import WorkRepo, git

# The kernel's Makefile unexports LC_ALL, so LANG and the LC_ categories are set too:
# compiler messages then use plain quotes whatever the user's locale.
C_LOCALE = {"LC_ALL": "C", "LANG": "C", "LC_CTYPE": "C", "LC_MESSAGES": "C"}
COLD_TIMEOUT = 3600.0


def ccache_dir() -> str:
    return os.environ.get("CCACHE_DIR") or str(Path.home() / ".cache" / "arena-patches-ccache")


def make_env(root: Path) -> dict[str, str]:
    """The environment of every kernel make: ccache, a C locale, reproducible build stamps.
    Every work dir lays out its worktrees and O= dirs alike (root/wt/build, root/builds/X):
    with ccache's paths made relative to the root, one work dir's compiles serve another's."""
    return {"CCACHE_DIR": ccache_dir(), "CCACHE_BASEDIR": str(root), "CCACHE_NOHASHDIR": "1",
            **C_LOCALE, "KBUILD_BUILD_TIMESTAMP": "@0", "KBUILD_BUILD_USER": "arena-patches",
            "KBUILD_BUILD_HOST": "arena-patches"}
STEP_TIMEOUT = 1800.0
_CC_LINE = re.compile(r"^\s+CC( \[M\])?\s+\S+\.o$", re.M)
_NOT_KERNEL = ("tools/", "samples/", "Documentation/", "scripts/", "usr/")


@dataclass(frozen=True)
class CommitState:
    """What building one commit for one target gave."""
    ok: bool
    errors: tuple[dg.Diagnostic, ...]
    warnings: tuple[dg.Diagnostic, ...]  # of the version's files, compiled on their own
    not_built: tuple[str, ...]  # the version's .c files this config does not compile
    failure: str  # the first make error line when no diagnostic names one
    compiles: int  # compiler invocations make issued for this state
    seconds: float
    timed_out: bool = False


@dataclass(frozen=True)
class BuildCell:
    version: int | None  # None (with patch None): the tree as it is
    patch: int | None
    target: str
    config: str
    toolchain: str
    status: Status
    commit: str | None
    errors: tuple[dg.Diagnostic, ...] = ()
    inherited: tuple[dg.Diagnostic, ...] = ()  # errors the parent already had
    new_warnings: tuple[dg.Diagnostic, ...] = ()
    not_built: tuple[str, ...] = ()
    reproduce: str = ""
    detail: str = ""
    seconds: float = 0.0
    cached: bool = False

    @property
    def keeps_parent_errors(self) -> bool:
        """Fails only with the errors its parent already had: the patch broke nothing."""
        return self.status is Status.FAIL and not self.errors and bool(self.inherited)

    @property
    def word(self) -> str:
        """The word a report shows: the status, `fail*` when it only keeps its parent's errors."""
        return self.status.value + ("*" if self.keeps_parent_errors else "")


@dataclass
class BuildStats:
    compiler_invocations: int = 0
    cached_results: int = 0
    built_states: int = 0
    wall_seconds: float = 0.0
    ccache_hits: int = 0
    ccache_misses: int = 0


@dataclass
class _Ctx:
    wr: WorkRepo
    target: Target
    tc: Toolchain
    config: BuildConfig
    out: Path
    src: Path
    jobs: int
    w1: bool
    tc_id: str
    stats: BuildStats
    env: dict[str, str] = field(default_factory=dict)

    @property
    def runner(self) -> Runner:
        return self.wr.runner

    def make(self, goals: list[str], timeout: float):
        extra = {"W": "1"} if self.w1 else {}
        argv = make_argv(self.target, self.tc, self.src, self.out, goals, self.jobs, extra)
        return self.runner.run(argv, env=self.env, timeout=timeout), argv


def placement(kind: str, target: str, separate: bool) -> tuple[str, str]:
    """(worktree name, O= dir suffix). Units run one after the other share the worktree
    `wt/<kind>` (ccache keys hold paths relative to the work dir: an unchanged layout keeps
    every compile cached); units running at once (Ray) each get `wt/<kind>-<target>` and
    an O= dir of their own. Result cache entries are keyed by tree, not path: shared."""
    return (f"{kind}-{target}", f"-{kind}-{target}") if separate else (kind, "")


def reproducer(ctx: _Ctx, wt: Path, commit: str) -> str:
    """The cell's build as it ran: the checkout, then `make` under the same environment
    (ccache dir and base, C locale, build stamps), pasteable into a shell."""
    argv = make_argv(ctx.target, ctx.tc, wt, ctx.out, ["vmlinux"], ctx.jobs, {"W": "1"} if ctx.w1 else None)
    return shell_line(["git", "-C", str(wt), "checkout", "-q", "--detach", commit]) + " && " + \
        shell_line(["env", *(f"{k}={v}" for k, v in sorted(ctx.env.items())), *argv])


def kernel_objects(paths: list[str]) -> list[str]:
    return sorted({p[:-2] + ".o" for p in paths if p.endswith(".c") and not p.startswith(_NOT_KERNEL)})


def toolchain_id(runner: Runner, tc: Toolchain) -> str:
    r = runner.run([tc.cc, "--version"], timeout=60)
    return (r.stdout.splitlines() or ["?"])[0].strip()


def _ensure_config(ctx: _Ctx) -> None:
    stamp = ctx.out / ".arena-patches-config"
    if stamp.exists() and stamp.read_text() == ctx.config.key and (ctx.out / ".config").exists():
        return
    ctx.out.mkdir(parents=True, exist_ok=True)
    r, argv = ctx.make([ctx.config.base], 600)
    if r.returncode != 0:
        raise _Infra(f"{ctx.target.name}: make {ctx.config.base} failed", r.stderr[-1500:], argv)
    cfg = ctx.out / ".config"
    cfg.write_text(merge(cfg.read_text(), ctx.config.fragment))
    r, argv = ctx.make(["olddefconfig"], 600)
    if r.returncode != 0:
        raise _Infra(f"{ctx.target.name}: make olddefconfig failed", r.stderr[-1500:], argv)
    stamp.write_text(ctx.config.key)


class _Infra(Exception):
    def __init__(self, msg: str, output: str, argv: list[str]):
        super().__init__(msg)
        self.output, self.argv = output, argv


def _build_state(ctx: _Ctx, objs: list[str], prev_not_built: frozenset[str] = frozenset()) -> CommitState:
    # ccache's base_dir makes the compiler see paths relative to the O= dir
    roots = [str(ctx.src), os.path.realpath(ctx.src), os.path.relpath(ctx.src, ctx.out)]
    start = time.monotonic()
    r, _ = ctx.make(["vmlinux"], COLD_TIMEOUT)
    logs = [r.stdout + r.stderr]
    ok, timed_out = r.returncode == 0, r.timed_out
    warnings: list[dg.Diagnostic] = []
    not_built = []
    again = []
    for obj in objs:
        built = ctx.out / obj
        if ok and not built.exists():
            not_built.append(obj[:-2] + ".c")  # vmlinux linked without it: not in this config
            continue
        if not ok and not built.exists() and obj[:-2] + ".c" in prev_not_built:
            # `make file.o` compiles even what the config leaves out (arena.c on 32-bit):
            # when vmlinux did not build, the parent's answer says whether it belongs.
            not_built.append(obj[:-2] + ".c")
            continue
        built.unlink(missing_ok=True)  # compile again: a ccache hit replays the diagnostics
        again.append(obj)
    if again:
        r1, _ = ctx.make(["-k", *again], STEP_TIMEOUT)  # one make for all; -k: every file speaks
        logs.append(r1.stdout + r1.stderr)
        ok = ok and r1.returncode == 0
        timed_out = timed_out or r1.timed_out
        warnings += [d for d in dg.parse(r1.stdout + r1.stderr, roots) if d.severity is Severity.WARNING]
    text = "\n".join(logs)
    diags = dg.parse(text, roots)
    errors = _dedupe([d for d in diags if d.severity is Severity.ERROR])
    compiles = len(_CC_LINE.findall(text))
    ctx.stats.compiler_invocations += compiles
    ctx.stats.built_states += 1
    return CommitState(ok=ok, errors=tuple(errors), warnings=tuple(_dedupe(warnings)),
                       not_built=tuple(sorted(set(not_built))),
                       failure="" if ok else (dg.make_failure(text) or "make failed"),
                       compiles=compiles, seconds=time.monotonic() - start, timed_out=timed_out)


def _dedupe(ds: list[dg.Diagnostic]) -> list[dg.Diagnostic]:
    seen, out = set(), []
    for d in ds:
        if d.identity not in seen:
            seen.add(d.identity)
            out.append(d)
    return out


def _state_key(ctx: _Ctx, tree_id: str, objs: list[str]) -> str:
    h = hashlib.sha256(json.dumps([tree_id, ctx.target.name, ctx.config.key, ctx.tc_id, ctx.w1,
                                   objs]).encode())
    return h.hexdigest()[:32]


def _state(ctx: _Ctx, commit: str, objs: list[str], wt: Path, cache_dir: Path,
           prev: CommitState | None = None) -> tuple[CommitState, bool]:
    tree_id = ctx.wr.git("rev-parse", f"{commit}^{{tree}}").stdout.strip()
    f = cache_dir / f"{_state_key(ctx, tree_id, objs)}.json"
    if f.exists():
        try:
            return _load_state(json.loads(f.read_text())), True
        except (ValueError, KeyError, TypeError):
            pass
    git(ctx.runner, wt, "checkout", "--quiet", "--detach", "--force", commit)
    st = _build_state(ctx, objs, frozenset(prev.not_built) if prev else frozenset())
    if not st.timed_out:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(_dump_state(st)))
    return st, False


def _diag_dump(d: dg.Diagnostic) -> dict:
    return {"file": d.file, "line": d.line, "column": d.column, "severity": d.severity.value,
            "message": d.message, "flag": d.flag}


def _diag_load(x: dict) -> dg.Diagnostic:
    return dg.Diagnostic(x["file"], x["line"], x["column"], x["severity"], x["message"], x["flag"])


def _dump_state(s: CommitState) -> dict:
    return {"ok": s.ok, "errors": [_diag_dump(d) for d in s.errors],
            "warnings": [_diag_dump(d) for d in s.warnings], "not_built": list(s.not_built),
            "failure": s.failure, "compiles": s.compiles, "seconds": s.seconds}


def _load_state(x: dict) -> CommitState:
    return CommitState(x["ok"], tuple(map(_diag_load, x["errors"])), tuple(map(_diag_load, x["warnings"])),
                       tuple(x["not_built"]), x["failure"], x["compiles"], x["seconds"])


def judge(before: CommitState, after: CommitState,
          last_built: CommitState | None = None) -> tuple[Status, list, list, list]:
    """A patch's cell from the states before and after it: (status, errors, inherited, new
    warnings). A parent that did not build printed fewer warnings than it has, so warnings
    are also held against the last state that built (the fix of a broken patch does not
    "introduce" the base's warnings)."""
    had = {d.identity for d in before.errors}
    errors = [d for d in after.errors if d.identity not in had]
    inherited = [d for d in after.errors if d.identity in had]
    known = list(before.warnings) + (list(last_built.warnings) if last_built else [])
    new_w = dg.new_by_identity(list(after.warnings), known)
    if not after.ok:
        return Status.FAIL, errors, inherited, new_w
    return (Status.WARN if new_w else Status.PASS), [], [], new_w


def build_target(wr: WorkRepo, s: Series, applied: tuple[VersionResult, ...], target: Target,
                 toolchain: str | None, config: BuildConfig, jobs: int, w1: bool,
                 stats: BuildStats, progress: Callable[[str], None] | None = None,
                 separate: bool = False) -> list[BuildCell]:
    tc = target.toolchain(toolchain)
    cfg = config.for_target(target)
    cells: list[BuildCell] = []

    def cell(v: int, k: int, status: Status, commit=None, **kw) -> BuildCell:
        return BuildCell(v, k, target.name, config.name, tc.name, status, commit, **kw)

    why = missing_tool(target, tc)
    if why:
        return [cell(r.version, p.number, Status.SKIP, detail=why) for r in applied for p in r.patches]
    name, suffix = placement("build", target.name, separate)
    out = wr.root / "builds" / f"{target.name}-{tc.name}-{config.name}-{cfg.key}{suffix}"
    ctx = _Ctx(wr, target, tc, cfg, out, wr.root / "wt" / name, jobs, w1,
               toolchain_id(wr.runner, tc), stats, make_env(wr.root))
    cache_dir = wr.root / "build-cache"
    first_base = next((r.base for r in applied), None)
    if first_base is None:
        return cells
    with wr.worktree(name, first_base) as wt:
        try:
            _ensure_config(ctx)
        except _Infra as e:
            return [cell(r.version, p.number, Status.ERROR, detail=f"{e}: {e.output.strip()[-300:]}",
                         reproduce=shell_line(e.argv)) for r in applied for p in r.patches]
        problems = unmet((out / ".config").read_text(), cfg.fragment)
        for r in applied:
            v = s.version(r.version)
            objs = kernel_objects([path for p in v.patches for path in p.paths]) if v else []
            if progress:
                progress(f"build {target.name} v{r.version} base")
            before, hit = _state(ctx, r.base, objs, wt, cache_dir)
            stats.cached_results += hit
            last_built = before
            base_broken = None if before.ok else (
                f"the base {r.base[:12]} does not build for {target.name}: {before.failure}")
            for p in r.patches:
                if p.commit is None:
                    cells.append(cell(r.version, p.number, Status.SKIP,
                                      detail=f"not applied ({p.status.value})"))
                    continue
                if p.left_out or p.on_partial is not None:
                    # an honest build needs the whole patch, and everything under it
                    cells.append(cell(r.version, p.number, Status.SKIP, p.commit, detail=(
                        f"partial: {', '.join(p.left_out)} not applied" if p.left_out else
                        f"built on the partial {p.on_partial}/{len(r.patches)}")))
                    continue
                repro = reproducer(ctx, wt, p.commit)
                if base_broken:
                    cells.append(cell(r.version, p.number, Status.ERROR, p.commit, reproduce=repro,
                                      detail=base_broken, errors=last_built.errors[:5]))
                    continue
                if progress:
                    progress(f"build {target.name} v{r.version} {p.number}/{len(r.patches)}")
                after, hit = _state(ctx, p.commit, objs, wt, cache_dir, before)
                stats.cached_results += hit
                status, errors, inherited, new_w = judge(before, after, last_built)
                detail = after.failure if status is Status.FAIL and not errors and not inherited else ""
                if after.timed_out:
                    status, detail = Status.ERROR, f"timed out after {COLD_TIMEOUT:.0f} s"
                if problems and status is Status.PASS:
                    detail = "config options not met: " + ", ".join(problems)
                cells.append(cell(r.version, p.number, status, p.commit, errors=tuple(errors),
                                  inherited=tuple(inherited), new_warnings=tuple(new_w),
                                  not_built=after.not_built, reproduce=repro, detail=detail,
                                  seconds=after.seconds, cached=hit))
                before = after
                if after.ok:
                    last_built = after
    return cells


def build_tree(wr: WorkRepo, commit: str, target: Target, toolchain: str | None,
               config: BuildConfig, jobs: int, w1: bool, stats: BuildStats,
               progress: Callable[[str], None] | None = None, separate: bool = False) -> BuildCell:
    """The tree as it is (no series): one cell, judged on its own. Without a parent there
    is nothing to hold warnings against, so only whether it builds is said."""
    tc = target.toolchain(toolchain)
    cfg = config.for_target(target)

    def cell(status: Status, **kw) -> BuildCell:
        return BuildCell(None, None, target.name, config.name, tc.name, status, commit, **kw)

    why = missing_tool(target, tc)
    if why:  # asked for by name: a target that cannot be built is an error, not a pass
        return cell(Status.ERROR, detail=why)
    name, suffix = placement("build", target.name, separate)
    out = wr.root / "builds" / f"{target.name}-{tc.name}-{config.name}-{cfg.key}{suffix}"
    ctx = _Ctx(wr, target, tc, cfg, out, wr.root / "wt" / name, jobs, w1,
               toolchain_id(wr.runner, tc), stats, make_env(wr.root))
    with wr.worktree(name, commit) as wt:
        repro = reproducer(ctx, wt, commit)
        try:
            _ensure_config(ctx)
        except _Infra as e:
            return cell(Status.ERROR, detail=f"{e}: {e.output.strip()[-300:]}", reproduce=shell_line(e.argv))
        problems = unmet((out / ".config").read_text(), cfg.fragment)
        if progress:
            progress(f"build {target.name} {commit[:12]}")
        st, hit = _state(ctx, commit, [], wt, wr.root / "build-cache")
    stats.cached_results += hit
    if st.timed_out:
        return cell(Status.ERROR, detail=f"timed out after {COLD_TIMEOUT:.0f} s", reproduce=repro,
                    seconds=st.seconds)
    detail = "" if st.ok else (st.failure if not st.errors else "")
    if st.ok and problems:
        detail = "config options not met: " + ", ".join(problems)
    return cell(Status.PASS if st.ok else Status.FAIL, errors=st.errors, reproduce=repro,
                detail=detail, seconds=st.seconds, cached=hit)


def _tree_unit(wr: WorkRepo, commit: str, target: Target, toolchain: str | None, config: BuildConfig,
               jobs: int, w1: bool, progress: Callable[[str], None] | None = None,
               separate: bool = False) -> tuple[list[BuildCell], BuildStats]:
    stats = BuildStats()
    return [build_tree(wr, commit, target, toolchain, config, jobs, w1, stats, progress, separate)], stats


def tree_matrix(wr: WorkRepo, commit: str, targets: list[Target], toolchain: str | None,
                config: BuildConfig, jobs: int = 2, w1: bool = False,
                progress: Callable[[str], None] | None = None,
                executor=None) -> tuple[list[BuildCell], BuildStats]:
    def lost(t: Target, why: str) -> list[BuildCell]:
        return [BuildCell(None, None, t.name, config.name, t.toolchain(toolchain).name, Status.ERROR,
                          commit, detail=why)]
    return _matrix(wr, executor, _tree_unit, targets, commit,
                   lambda t, here: (wr, commit, t, toolchain, config, jobs, w1, progress if here else None,
                                    not here),
                   lost, progress)


def ccache_counts(runner: Runner | None = None) -> tuple[int, int]:
    from arena_patches.core.errors import InfraError
    from arena_patches.core.runner import DEFAULT
    try:
        out = (runner or DEFAULT).run(["ccache", "--print-stats"], env={"CCACHE_DIR": ccache_dir()},
                                      timeout=30).stdout
    except InfraError:  # no ccache: no counts
        return 0, 0
    vals = dict(l.split("\t", 1) for l in out.splitlines() if "\t" in l)
    hits = int(vals.get("direct_cache_hit", 0)) + int(vals.get("preprocessed_cache_hit", 0))
    return hits, int(vals.get("cache_miss", 0))


def _build_unit(wr: WorkRepo, s: Series, applied: tuple[VersionResult, ...], target: Target,
                toolchain: str | None, config: BuildConfig, jobs: int, w1: bool,
                progress: Callable[[str], None] | None = None,
                separate: bool = False) -> tuple[list[BuildCell], BuildStats]:
    """One unit of the matrix (executor.py): a target's chains."""
    stats = BuildStats()
    return build_target(wr, s, applied, target, toolchain, config, jobs, w1, stats, progress, separate), stats


def build_matrix(wr: WorkRepo, s: Series, applied: tuple[VersionResult, ...], targets: list[Target],
                 toolchain: str | None, config: BuildConfig, jobs: int = 2, w1: bool = False,
                 progress: Callable[[str], None] | None = None,
                 executor=None) -> tuple[list[BuildCell], BuildStats]:
    def lost(t: Target, why: str) -> list[BuildCell]:
        tc = t.toolchain(toolchain)
        return [BuildCell(r.version, p.number, t.name, config.name, tc.name, Status.ERROR, p.commit,
                          detail=why) for r in applied for p in r.patches]
    return _matrix(wr, executor, _build_unit, targets, next((r.base for r in applied), None),
                   lambda t, here: (wr, s, applied, t, toolchain, config, jobs, w1, progress if here else None,
                                    not here),
                   lost, progress)


def _matrix(wr: WorkRepo, executor, fn: Callable, targets: list[Target], first_rev: str | None,
            unit: Callable, lost: Callable, progress) -> tuple[list[BuildCell], BuildStats]:
    """One unit per target on the executor (executor.py); the units' stats summed, ccache
    counted around the whole; a lost unit's cells are `error` with the reason."""
    from arena_patches.core.executor import LocalExecutor, UnitLost
    ex = executor or LocalExecutor()
    stats = BuildStats()
    start = time.monotonic()
    h0, m0 = ccache_counts()
    here = isinstance(ex, LocalExecutor)
    if not here and first_rev:
        for t in targets:  # made here, one at a time: units only check them out
            wr.prepare_worktree(placement("build", t.name, True)[0], first_rev)
    cells: list[BuildCell] = []
    answers = ex.map(fn, [unit(t, here) for t in targets], [f"build {t.name}" for t in targets], progress)
    for t, got in zip(targets, answers):
        if isinstance(got, UnitLost):
            cells += lost(t, f"{got.label}: {got.reason}")
            continue
        unit_cells, unit_stats = got
        cells += unit_cells
        stats.compiler_invocations += unit_stats.compiler_invocations
        stats.cached_results += unit_stats.cached_results
        stats.built_states += unit_stats.built_states
    h1, m1 = ccache_counts()
    stats.ccache_hits, stats.ccache_misses = h1 - h0, m1 - m0
    stats.wall_seconds = time.monotonic() - start
    return cells, stats
