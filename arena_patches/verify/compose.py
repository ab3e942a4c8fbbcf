"""`arena-patches verify`: the stages in order, each skipped with its reason when what it
needs is absent, composed from the same entry points the single commands use (stages.py),
over typed options (options.py). Its `Verification` says one status a pre-merge check
can gate on; rendering is report/'s, the exit code core.verdicts'.
"""
from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

from arena_patches.checks import registry as checks_registry, run as checks_run, sparse
from arena_patches.core.model import Series, Timing
from arena_patches.core.verdicts import BootState, Status, overall
from arena_patches.invariants import compiled, evaluate, rules
from arena_patches.mail import spec as spec_mod
from arena_patches.review import claims as claims_mod, compare as versions, track
from arena_patches.tree.apply import VersionResult
from arena_patches.verify import stages, timings
from arena_patches.verify.timings import Clock
from arena_patches.verify.options import BuildOptions, ChecksOptions, Inputs

@dataclass(frozen=True)
class StageOutcome:
    name: str
    status: Status
    reason: str
    sandbox: str = ""  # build and boot: what the tree's code ran in (core.sandbox.Isolation)
    mails_only: bool = False  # judged only the mails (as series and diff do): only a fail counts


@dataclass(frozen=True)
class Verification:
    series: Series
    apply: tuple[VersionResult, ...]
    stages: tuple[StageOutcome, ...]
    build: tuple = ()
    build_stats: object = None
    boot: tuple = ()
    invariants: tuple = ()
    comparisons: tuple = ()
    reviews: tuple = ()
    claims: tuple = ()  # review.claims.Judged: every changelog claim judged on the mails
    timings: tuple[Timing, ...] = ()  # where the time went (timings.py)
    checks: tuple = ()  # checks.registry.CheckResult

    @property
    def status(self) -> Status:
        """Judged by the stages that look at code: series and diff read only the mails."""
        code = [s.status for s in self.stages if s.name not in ("series", "diff") and not s.mails_only]
        mails = [s.status for s in self.stages if (s.name in ("series", "diff") or s.mails_only)
                 and s.status is Status.FAIL]
        return overall(code + mails)


def verify(o: Inputs, build: BuildOptions = BuildOptions(), progress=None,
           clock: Clock | None = None, checks: ChecksOptions = ChecksOptions()) -> Verification:
    clock = clock or Clock()
    chosen = checks_registry.select(checks.names, not checks.enabled)
    outcomes: list[StageOutcome] = []
    applied: tuple[VersionResult, ...] = ()
    with ExitStack() as stack:
        progress and progress("reading the series")
        with clock.stage("tree"):
            wr = stages.open_tree(stack, o.tree, o.work_dir, stages.runner_for(build.sandbox))
            if wr is not None and (build.enabled or build.boot):
                wr.runner.require_sandbox()  # refused now, not after the series is applied
        with clock.stage("series"):
            spec, s = stages.series_and_spec(o, wr)
        gaps = sum(len(v.missing) for v in s.versions)
        outcomes.append(StageOutcome(
            "series", Status.WARN if gaps or s.problems else Status.PASS,
            f"{len(s.versions)} versions, {gaps} patches missing from the source, "
            f"{len(s.claims)} changelog claims, {len(s.problems)} input problems"))
        if wr is None:
            outcomes.append(StageOutcome("apply", Status.SKIP, "no --tree given"))
        else:
            with clock.stage("apply"):
                applied = stages.apply_series(s, wr, stages.pick_versions(s, o.version), o.base, progress)
            bad = [f"v{r.version} {p.number}/{len(r.patches)} {p.status.value}"
                   for r in applied for p in r.patches if p.status.is_finding]
            done = sum(1 for r in applied for p in r.patches if p.commit)
            skipped = sum(1 for r in applied for p in r.patches if p.commit is None) - len(bad)
            if bad:
                outcomes.append(StageOutcome("apply", Status.FAIL, "; ".join(bad)))
            elif not done:
                outcomes.append(StageOutcome("apply", Status.SKIP, "no patch could be applied "
                                           f"({skipped} skipped: missing from the source)"))
            else:
                outcomes.append(StageOutcome("apply", Status.PASS, f"{done} patches applied"
                                           + (f", {skipped} skipped" if skipped else "")))
        cells, stats = [], None
        if wr is None:
            outcomes.append(StageOutcome("build", Status.SKIP, "no --tree given"))
        elif not build.enabled:
            outcomes.append(StageOutcome("build", Status.SKIP, "--no-build"))
        else:
            with clock.stage("build") as per_target:
                cells, stats = stages.build_series(
                    spec, s, wr, applied, build.targets, build.toolchain, build.config, build.jobs, build.w1,
                    progress, build.executor, stages.boot_names(spec, build.boot_targets) if build.boot else (),
                    sparse=sparse.wanted(chosen))
                per_target += timings.build_rows(stats)
            outcomes.append(replace(_build_outcome(cells), sandbox=wr.runner.isolation.value))
        found = _checks_stage(chosen, s, wr, applied, cells, o, build, outcomes, progress, clock)
        with clock.stage("boot") as per_target:
            boots = _boot_stage(spec, s, wr, applied, build, outcomes, progress)
            per_target += timings.boot_rows(boots)
        with clock.stage("invariants"):
            invs = _invariant_stage(spec, wr, applied, outcomes, s, cells)
    with clock.stage("diff"):
        comps, reviews, judged = _diff_stage(s, outcomes)
    return Verification(s, applied, tuple(outcomes), tuple(cells), stats, tuple(boots), tuple(invs),
                        tuple(comps), tuple(reviews), tuple(judged), tuple(clock.rows),
                        tuple(found))


def _checks_stage(chosen, s, wr, applied, cells, o: Inputs, build: BuildOptions, outcomes: list,
                  progress, clock: Clock) -> list:
    """The registry's checks on every patch; the stage says what checks_run.outcome says."""
    with clock.stage("checks"):
        return _run_checks(chosen, s, wr, applied, cells, o, build, outcomes, progress)


def _run_checks(chosen, s, wr, applied, cells, o: Inputs, build: BuildOptions, outcomes: list,
                progress) -> list:
    if not chosen:
        outcomes.append(StageOutcome("checks", Status.SKIP, "--no-checks"))
        return []
    picked = stages.pick_versions(s, o.version)
    work = None if wr else Path(o.work_dir).resolve() / "checks" if o.work_dir else None
    ctxs = checks_run.contexts(s, picked, applied, wr, work, tuple(cells),
                               head=wr.resolve("HEAD") if wr else None, w1=build.w1)
    results = checks_run.run(chosen, ctxs, progress)
    outcomes.append(StageOutcome("checks", *checks_run.outcome(results),
                                 mails_only=not checks_run.judged_code(results)))
    return results


def _invariant_stage(spec, wr, applied, outcomes: list, s=None, cells=()) -> list:
    rs = rules.from_spec(spec.raw, spec.path)
    if not rs:
        outcomes.append(StageOutcome("invariants", Status.SKIP, "the spec has no [[invariants]]"))
        return []
    if wr is None or not applied:
        outcomes.append(StageOutcome("invariants", Status.SKIP,
                                   "no --tree given" if wr is None else "no version applied"))
        return []
    results = evaluate.over_versions(wr, rs, applied, compiled.readings(cells, s) if s else None)
    bad = [f"{r.rule.id} {r.verdict.value}" for r in results if r.verdict.is_finding]
    judged = [r for r in results if any(c.status is not Status.SKIP for c in r.cells)]
    if bad:
        outcomes.append(StageOutcome("invariants", Status.FAIL, "; ".join(bad)))
    elif not judged:
        outcomes.append(StageOutcome("invariants", Status.SKIP,
                                   f"nothing judged: none of the {len(results)} invariants' patches applied"))
    else:
        outcomes.append(StageOutcome("invariants", Status.PASS, f"{len(judged)} invariants judged, as claimed "
                                   f"or better" + (f"; {len(results) - len(judged)} not judged"
                                                   if len(judged) < len(results) else "")))
    return results


def _diff_stage(s, outcomes: list):
    pairs = versions.consecutive(s)
    comps = [versions.compare(s, a, b) for a, b in pairs]
    reviews = track.track(s, {(c.from_version, c.to_version): c for c in comps})
    undoc = [f"v{c.from_version}->v{c.to_version} {p.number}" for c in comps for p in c.patches
             if p.flag is versions.Flag.UNDOCUMENTED]
    open_reviews = [i for i in reviews if i.addressed is False]
    judged = claims_mod.judge_all(s)
    word, said = claims_mod.summary(judged, len(undoc))
    if word is not Status.FAIL and open_reviews:
        word = Status.WARN
    outcomes.append(StageOutcome("diff", word, said + (f" ({', '.join(undoc[:6])})" if undoc else "")
                               + f", {len(open_reviews)} reviews not visibly answered"))
    return comps, reviews, judged


def _boot_stage(spec, s, wr, applied, opts: BuildOptions, outcomes: list, progress) -> list:
    """Boot the newest version's last applied patch on the spec's boot targets."""
    if wr is None:
        outcomes.append(StageOutcome("boot", Status.SKIP, "no --tree given"))
        return []
    if not opts.boot:
        outcomes.append(StageOutcome("boot", Status.SKIP, "--no-boot"))
        return []
    if not spec_mod.has_boot(spec):
        outcomes.append(StageOutcome("boot", Status.SKIP, "the spec has no [boot]: nothing says "
                                     "what to probe, so nothing is booted"))
        return []
    newest = next((r for r in reversed(applied) if r.head), None)
    if newest is None:
        outcomes.append(StageOutcome("boot", Status.SKIP, "no version applied"))
        return []
    patch = max(p.number for p in newest.patches if p.commit)
    results = stages.boot(spec, wr, newest.head, BootState.AFTER, opts.boot_targets, opts.toolchain,
                            opts.jobs, newest.version, patch, progress, opts.executor)
    bad = [f"{r.target}: {r.detail}" for r in results if r.status.is_trouble]
    word = Status.FAIL if any(r.status is Status.FAIL for r in results) else \
        Status.ERROR if bad else Status.SKIP if all(r.status is Status.SKIP for r in results) else Status.PASS
    outcomes.append(StageOutcome("boot", word, "; ".join(bad) or
                               f"v{newest.version} {patch}/{len(newest.patches)} booted on "
                               + ", ".join(r.target for r in results if r.status is Status.PASS),
                               wr.runner.isolation.value))
    return results


def _build_outcome(cells) -> StageOutcome:
    by = {st: [c for c in cells if c.status is st] for st in Status}
    def names(cs):
        return ", ".join(f"v{c.version} {c.patch} {c.target}" for c in cs[:8]) + \
            (f" (+{len(cs) - 8})" if len(cs) > 8 else "")
    if by[Status.FAIL]:
        return StageOutcome("build", Status.FAIL, "does not build: " + names(by[Status.FAIL]))
    if by[Status.ERROR]:
        return StageOutcome("build", Status.ERROR, "could not build: " + names(by[Status.ERROR]))
    if by[Status.WARN]:
        return StageOutcome("build", Status.WARN, "new warnings: " + names(by[Status.WARN]))
    if cells and all(c.status is Status.SKIP for c in cells):
        return StageOutcome("build", Status.SKIP, cells[0].detail)
    return StageOutcome("build", Status.PASS, f"{len(cells)} cells build")
