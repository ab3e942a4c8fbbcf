"""Build matrix: for each version x patch x target, does the tree build with this patch
and what did the patch itself introduce?

For one target, a version's commits (its base, then patch 1..k) are built in turn in one
build directory (directory.py), so each step recompiles only what changed (and ccache
serves contents seen before); each commit's state (state.py) is cached, so a re-run, or a
later version sharing a prefix, costs nothing. A patch's new warnings are those present
after it and absent before it, by identity. The units (one target each) run on an
executor: here, all at once, building each commit together from one worktree
(tree/shared.py), or on Ray, each on its own.
"""
from __future__ import annotations

import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

from arena_patches.kbuild import diagnostics as dg
from arena_patches.kbuild.directory import BuildDir, ConfigFailed, ccache_counts, placement
from arena_patches.kbuild.kconfig import BuildConfig
from arena_patches.kbuild.state import CommitState, judge, kernel_objects, restrict, state_at
from arena_patches.kbuild.targets import Target, missing_tool
from arena_patches.core.executor import LocalExecutor, UnitLost
from arena_patches.core.jobserver import Jobserver
from arena_patches.core.model import Series
from arena_patches.core.progress import Steps, step
from arena_patches.core.verdicts import Status
from arena_patches.tree.apply import VersionResult
from arena_patches.tree.repo import WorkRepo
from arena_patches.tree.shared import SharedWorktree

Progress = Callable[[str], None]


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
    checker: tuple[dg.Diagnostic, ...] = ()  # sparse after the patch (the directory ran it)
    checker_before: tuple[dg.Diagnostic, ...] = ()  # and on its parent
    checked: bool = False  # sparse ran on this cell's builds

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
    target: str = ""  # a unit's own stats name its target; the matrix's sum names none
    units: tuple["BuildStats", ...] = ()  # the matrix's: each target's own, in order
    sandbox: str = ""  # what make ran in (core.sandbox.Isolation's word)


def _cell_maker(target: Target, config: BuildConfig, toolchain: str | None):
    tc = target.toolchain(toolchain)

    def cell(v: int | None, k: int | None, status: Status, commit=None, **kw) -> BuildCell:
        return BuildCell(v, k, target.name, config.name, tc.name, status, commit, **kw)
    return cell


def _stated(bd: BuildDir, wr: WorkRepo, commit: str, objs: list[str], stats: BuildStats,
            tree: SharedWorktree, prev: CommitState | None = None) -> tuple[CommitState, bool]:
    st, hit = state_at(bd, wr, commit, objs, tree, prev)
    stats.cached_results += hit
    if not hit:
        stats.compiler_invocations += st.compiles
        stats.built_states += 1
    return st, hit


def build_target(wr: WorkRepo, s: Series, applied: tuple[VersionResult, ...], target: Target,
                 toolchain: str | None, config: BuildConfig, jobs: int, w1: bool,
                 stats: BuildStats, progress: Progress | None = None,
                 separate: bool = False, scratch: bool = False, sparse: bool = False,
                 tree: SharedWorktree | None = None, pool: Jobserver | None = None) -> list[BuildCell]:
    """One target's chains: each version's base, then its patches in turn. `tree` and
    `pool`: the worktree and the `make -j` shared with the targets running beside this one
    (else its own)."""
    cell = _cell_maker(target, config, toolchain)
    bd = BuildDir.at(wr.root, target, toolchain, config.for_target(target), jobs, w1, separate, wr.runner,
                     scratch, sparse, pool)
    why = missing_tool(target, bd.toolchain)
    if why:
        return [cell(r.version, p.number, Status.SKIP, detail=why) for r in applied for p in r.patches]
    first_base = next((r.base for r in applied), None)
    if first_base is None:
        return []
    cells: list[BuildCell] = []
    with _held(wr, bd, tree, stats) as tree:
        # configured: every state may be in the cache, the worktree is entered at the first
        # build; else the config is made in the worktree first
        problems = bd.unmet() if bd.configured() else None
        if problems is None:
            try:
                with tree.at(first_base):
                    bd.ensure_config()
            except ConfigFailed as e:
                return [cell(r.version, p.number, Status.ERROR, detail=f"{e}: {e.output.strip()[-300:]}",
                             reproduce=e.reproduce) for r in applied for p in r.patches]
            problems = bd.unmet()
        objs = {r.version: _objects(s, r.version) for r in applied}
        # every base is built for the files of every version (with sparse: its findings
        # are not known by object, so each version's own)
        every = None if bd.sparse else sorted(set().union(*objs.values()))
        for r in applied:
            if progress:
                progress(f"build {target.name} v{r.version} base")
            cells += _chain(bd, wr, r, objs[r.version], every, cell, stats, problems, progress, tree)
    return cells


@contextmanager
def _held(wr: WorkRepo, bd: BuildDir, tree: SharedWorktree | None, stats: BuildStats) -> Iterator[SharedWorktree]:
    """A unit's worktree: the one shared with the units beside it, or its own for the
    unit's length; and once the unit is done, what ccache did for this directory's makes
    alone (its stats log: counted apart from the units running at the same time)."""
    log = bd.ccache_log()
    with ExitStack() as stack:
        yield tree if tree is not None else stack.enter_context(SharedWorktree(wr, bd.worktree))
    stats.ccache_hits, stats.ccache_misses = log.counts()


def _objects(s: Series, version: int) -> list[str]:
    v = s.version(version)
    return kernel_objects([path for p in v.patches for path in p.paths]) if v else []


def _base(bd: BuildDir, wr: WorkRepo, commit: str, objs: list[str], every: list[str] | None,
          stats: BuildStats, tree: SharedWorktree) -> CommitState:
    """A version's base, as seen by its files. Built for the files of `every` version, it
    is built once: a later version's base is the cache's answer, and its first patch is
    built on the O= the last version left, not on the base built again."""
    if every is not None and every != objs:
        st, _ = _stated(bd, wr, commit, every, stats, tree)
        mine = restrict(st, objs)
        if mine is not None:
            return mine
    return _stated(bd, wr, commit, objs, stats, tree)[0]


def _chain(bd: BuildDir, wr: WorkRepo, r: VersionResult, objs: list[str], every: list[str] | None, cell,
           stats: BuildStats, problems: list[str], progress: Progress | None,
           tree: SharedWorktree) -> list[BuildCell]:
    """One version: its base, then each patch judged against its parent; `tree` is
    checked out at a state only when the state is not in the cache."""
    before = _base(bd, wr, r.base, objs, every, stats, tree)
    last_built = before
    base_broken = None if before.ok else (
        f"the base {r.base[:12]} could not be built for {bd.target.name}: {before.unknown}" if before.unknown
        else f"the base {r.base[:12]} does not build for {bd.target.name}: {before.failure}")
    out = []
    for p in r.patches:
        if p.commit is None:
            out.append(cell(r.version, p.number, Status.SKIP, detail=f"not applied ({p.status.value})"))
            continue
        if p.left_out or p.on_partial is not None:
            # an honest build needs the whole patch, and everything under it
            out.append(cell(r.version, p.number, Status.SKIP, p.commit, detail=(
                f"partial: {', '.join(p.left_out)} not applied" if p.left_out else
                f"built on the partial {p.on_partial}/{len(r.patches)}")))
            continue
        repro = bd.reproducer(p.commit)
        if base_broken:
            out.append(cell(r.version, p.number, Status.ERROR, p.commit, reproduce=repro,
                            detail=base_broken, errors=last_built.errors[:5]))
            continue
        if progress:
            progress(f"build {bd.target.name} v{r.version} {p.number}/{len(r.patches)}")
        after, hit = _stated(bd, wr, p.commit, objs, stats, tree, before)
        status, errors, inherited, new_w = judge(before, after, last_built)
        detail = after.failure if status is Status.FAIL and not errors and not inherited else ""
        if after.unknown:  # timed out, or the machine stopped it: nothing is said of the patch
            status, detail, errors, inherited, new_w = Status.ERROR, after.unknown, [], [], []
        elif before.unknown and status is Status.FAIL:
            # what the parent broke is not known: its errors cannot be told from this patch's
            status, detail = Status.ERROR, f"the parent could not be built ({before.unknown})"
        if problems and status is Status.PASS:
            detail = "config options not met: " + ", ".join(problems)
        step(progress, f"v{r.version} {p.number}/{len(r.patches)} {bd.target.name} {status.value} "
                       f"{after.seconds:.0f} s" + (" (cached)" if hit else ""))
        out.append(cell(r.version, p.number, status, p.commit, errors=tuple(errors),
                        inherited=tuple(inherited), new_warnings=tuple(new_w), not_built=after.not_built,
                        reproduce=repro, detail=detail, seconds=after.seconds, cached=hit,
                        checker=after.checker, checked=bd.sparse,
                        # a parent that did not build was checked on less: the last that built too
                        checker_before=before.checker + (last_built.checker if last_built is not before else ())))
        before = after
        if after.ok:
            last_built = after
    return out


def build_tree(wr: WorkRepo, commit: str, target: Target, toolchain: str | None,
               config: BuildConfig, jobs: int, w1: bool, stats: BuildStats,
               progress: Progress | None = None, separate: bool = False,
               tree: SharedWorktree | None = None, pool: Jobserver | None = None) -> BuildCell:
    """The tree as it is (no series): one cell, judged on its own. Without a parent there
    is nothing to hold warnings against, so only whether it builds is said."""
    cell = _cell_maker(target, config, toolchain)
    bd = BuildDir.at(wr.root, target, toolchain, config.for_target(target), jobs, w1, separate, wr.runner,
                     pool=pool)
    why = missing_tool(target, bd.toolchain)
    if why:  # asked for by name: a target that cannot be built is an error, not a pass
        return cell(None, None, Status.ERROR, commit, detail=why)
    with _held(wr, bd, tree, stats) as tree:
        with tree.at(commit):
            repro = bd.reproducer(commit)  # with the worktree there: its git dirs are in the sandbox
            try:
                bd.ensure_config()
            except ConfigFailed as e:
                return cell(None, None, Status.ERROR, commit, detail=f"{e}: {e.output.strip()[-300:]}",
                            reproduce=e.reproduce)
        problems = bd.unmet()
        if progress:
            progress(f"build {target.name} {commit[:12]}")
        st, hit = _stated(bd, wr, commit, [], stats, tree)
    if st.unknown:
        return cell(None, None, Status.ERROR, commit, detail=st.unknown, reproduce=repro, seconds=st.seconds)
    detail = "" if st.ok else (st.failure if not st.errors else "")
    if st.ok and problems:
        detail = "config options not met: " + ", ".join(problems)
    return cell(None, None, Status.PASS if st.ok else Status.FAIL, commit, errors=st.errors, reproduce=repro,
                detail=detail, seconds=st.seconds, cached=hit)


def _tree_unit(wr: WorkRepo, commit: str, target: Target, toolchain: str | None, config: BuildConfig,
               jobs: int, w1: bool, progress: Progress | None = None,
               separate: bool = False, tree: SharedWorktree | None = None,
               pool: Jobserver | None = None) -> tuple[list[BuildCell], BuildStats]:
    with _unit_stats(target) as stats:
        cells = [build_tree(wr, commit, target, toolchain, config, jobs, w1, stats, progress, separate, tree,
                            pool)]
    return cells, stats


def tree_matrix(wr: WorkRepo, commit: str, targets: list[Target], toolchain: str | None,
                config: BuildConfig, jobs: int = 2, w1: bool = False,
                progress: Progress | None = None,
                executor=None) -> tuple[list[BuildCell], BuildStats]:
    def lost(t: Target, why: str) -> list[BuildCell]:
        return [BuildCell(None, None, t.name, config.name, t.toolchain(toolchain).name, Status.ERROR,
                          commit, detail=why)]
    return _matrix(wr, executor, _tree_unit, targets, commit, jobs,
                   lambda t, here: (wr, commit, t, toolchain, config, jobs, w1, progress if here else None,
                                    not here),
                   lost, progress)


def _build_unit(wr: WorkRepo, s: Series, applied: tuple[VersionResult, ...], target: Target,
                toolchain: str | None, config: BuildConfig, jobs: int, w1: bool,
                progress: Progress | None = None, separate: bool = False,
                scratch: bool = False, sparse: bool = False,
                tree: SharedWorktree | None = None,
                pool: Jobserver | None = None) -> tuple[list[BuildCell], BuildStats]:
    """One unit of the matrix (executor.py): a target's chains."""
    with _unit_stats(target) as stats:
        cells = build_target(wr, s, applied, target, toolchain, config, jobs, w1, stats, progress, separate,
                             scratch, sparse, tree, pool)
    return cells, stats


@contextmanager
def _unit_stats(target: Target) -> Iterator[BuildStats]:
    """A unit's own stats and its wall time (its ccache counts are its directory's own:
    BuildDir.ccache_log, right while units run at once)."""
    stats = BuildStats(target=target.name)
    start = time.monotonic()
    yield stats
    stats.wall_seconds = time.monotonic() - start


def build_matrix(wr: WorkRepo, s: Series, applied: tuple[VersionResult, ...], targets: list[Target],
                 toolchain: str | None, config: BuildConfig, jobs: int = 2, w1: bool = False,
                 progress: Progress | None = None, executor=None,
                 scratch: bool = False, sparse: bool = False) -> tuple[list[BuildCell], BuildStats]:
    """`scratch`: each state built cold (BuildDir.scratch), not on the state before it.
    `sparse`: the checks' sparse rides on the first target's builds (one arch, as NIPA)."""
    def lost(t: Target, why: str) -> list[BuildCell]:
        tc = t.toolchain(toolchain)
        return [BuildCell(r.version, p.number, t.name, config.name, tc.name, Status.ERROR, p.commit,
                          detail=why) for r in applied for p in r.patches]
    if progress:  # one line per built cell, numbered over the whole matrix
        progress = Steps(progress, len(targets) * sum(len(r.patches) for r in applied))
    return _matrix(wr, executor, _build_unit, targets, next((r.base for r in applied), None), jobs,
                   lambda t, here: (wr, s, applied, t, toolchain, config, jobs, w1, progress if here else None,
                                    not here, scratch, sparse and t is targets[0]),
                   lost, progress)


def _matrix(wr: WorkRepo, executor, fn: Callable, targets: list[Target], first_rev: str | None, jobs: int,
            unit: Callable, lost: Callable, progress) -> tuple[list[BuildCell], BuildStats]:
    """One unit per target on the executor (executor.py); the units' stats summed, ccache
    counted around the whole; a lost unit's cells are `error` with the reason. Here, the
    units run at once, building each commit together from one worktree (tree/shared.py),
    their makes sharing one `make -j<jobs>` (core/jobserver.py)."""
    ex = executor or LocalExecutor()
    wr.runner.require_sandbox()  # refused here, before any build, when it cannot be had
    stats = BuildStats(sandbox=wr.runner.isolation.value)
    start = time.monotonic()
    h0, m0 = ccache_counts()
    here = isinstance(ex, LocalExecutor)
    if not here and first_rev:
        for t in targets:  # made here, one at a time: units only check them out
            wr.prepare_worktree(placement("build", t.name, True)[0], first_rev)
    cells: list[BuildCell] = []
    units: list[BuildStats] = []
    labels = [f"build {t.name}" for t in targets]
    if here:
        with SharedWorktree(wr, placement("build", "", False)[0]) as tree, Jobserver(jobs) as pool:
            answers = ex.map(fn, [unit(t, True) + (tree, pool if len(targets) > 1 else None) for t in targets],
                             labels, progress, at_once=len(targets))
    else:
        answers = ex.map(fn, [unit(t, False) for t in targets], labels, progress)
    for t, got in zip(targets, answers):
        if isinstance(got, UnitLost):
            cells += lost(t, f"{got.label}: {got.reason}")
            units.append(BuildStats(target=t.name))
            continue
        unit_cells, unit_stats = got
        cells += unit_cells
        units.append(unit_stats)
        stats.compiler_invocations += unit_stats.compiler_invocations
        stats.cached_results += unit_stats.cached_results
        stats.built_states += unit_stats.built_states
    h1, m1 = ccache_counts()
    stats.ccache_hits, stats.ccache_misses = h1 - h0, m1 - m0
    stats.wall_seconds = time.monotonic() - start
    stats.units = tuple(units)
    return cells, stats
