"""`arena-patches verify`: the stages in order, each skipped with its reason when what it
needs is absent, and one exit code a pre-merge check can gate on.

`demo` is verify on the embedded demo series, and then a check that every failure the
demo plants was found where it was planted and nowhere else (the spec's [expect]).
"""
from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from arena_patches.verify import stages as pipeline
from arena_patches.tree.apply import VersionResult
from arena_patches.core.model import Series, Status, overall
from arena_patches.report import jsonout, text



@dataclass(frozen=True)
class StageOutcome:
    name: str
    status: Status
    reason: str


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

    @property
    def findings(self) -> bool:
        return any(s.status is Status.FAIL for s in self.stages)

    @property
    def status(self) -> Status:
        """Judged by the stages that look at code: series and diff read only the mails."""
        code = [s.status for s in self.stages if s.name not in ("series", "diff")]
        mails = [s.status for s in self.stages if s.name in ("series", "diff") and s.status is Status.FAIL]
        return overall(code + mails)


@dataclass(frozen=True)
class BuildOptions:
    targets: str | None = None
    toolchain: str | None = None
    config: str | None = None
    jobs: int = 2
    w1: bool = False
    enabled: bool = True
    boot: bool = True
    boot_targets: str | None = None
    executor: Any = None  # executor.LocalExecutor (None) or executor.RayExecutor


def verify(spec_name: str | None, source: str | None, tree: str | None, work_dir: str | None,
           version: str | None = None, base: str | None = None, progress=None,
           build: BuildOptions = BuildOptions()) -> Verification:
    spec = pipeline.load_spec(spec_name)
    stages: list[StageOutcome] = []
    applied: tuple[VersionResult, ...] = ()
    with ExitStack() as stack:
        if progress:
            progress("reading the series")
        wr = pipeline.open_tree(stack, tree, work_dir)
        s = pipeline.load_series(spec, source, wr)
        gaps = sum(len(v.missing) for v in s.versions)
        stages.append(StageOutcome(
            "series", Status.WARN if gaps or s.problems else Status.PASS,
            f"{len(s.versions)} versions, {gaps} patches missing from the source, "
            f"{len(s.claims)} changelog claims, {len(s.problems)} input problems"))
        if wr is None:
            stages.append(StageOutcome("apply", Status.SKIP, "no --tree given"))
        else:
            applied = pipeline.apply_series(s, wr, pipeline.pick_versions(s, version), base, progress)
            bad = [f"v{r.version} {p.number}/{len(r.patches)} {p.status.value}"
                   for r in applied for p in r.patches if p.status.is_finding]
            done = sum(1 for r in applied for p in r.patches if p.commit)
            skipped = sum(1 for r in applied for p in r.patches if p.commit is None) - len(bad)
            if bad:
                stages.append(StageOutcome("apply", Status.FAIL, "; ".join(bad)))
            elif not done:
                stages.append(StageOutcome("apply", Status.SKIP, "no patch could be applied "
                                           f"({skipped} skipped: missing from the source)"))
            else:
                stages.append(StageOutcome("apply", Status.PASS, f"{done} patches applied"
                                           + (f", {skipped} skipped" if skipped else "")))
        cells, stats = [], None
        if wr is None:
            stages.append(StageOutcome("build", Status.SKIP, "no --tree given"))
        elif not build.enabled:
            stages.append(StageOutcome("build", Status.SKIP, "--no-build"))
        else:
            cells, stats = pipeline.build_series(spec, s, wr, applied, build.targets, build.toolchain,
                                                 build.config, build.jobs, build.w1, progress,
                                                 build.executor)
            stages.append(_build_outcome(cells))
        boots = _boot_stage(spec, s, wr, applied, build, stages, progress)
        invs = _invariant_stage(spec, wr, applied, stages, s, cells)
    comps, reviews = _diff_stage(s, stages)
    return Verification(s, applied, tuple(stages), tuple(cells), stats, tuple(boots), tuple(invs),
                        tuple(comps), tuple(reviews))


def _invariant_stage(spec, wr, applied, stages: list, s=None, cells=()) -> list:
    from arena_patches.invariants import compiled, evaluate, rules
    rs = rules.from_spec(spec.raw, spec.path)
    if not rs:
        stages.append(StageOutcome("invariants", Status.SKIP, "the spec has no [[invariants]]"))
        return []
    if wr is None or not applied:
        stages.append(StageOutcome("invariants", Status.SKIP,
                                   "no --tree given" if wr is None else "no version applied"))
        return []
    results = evaluate.over_versions(wr, rs, applied, compiled.readings(cells, s) if s else None)
    bad = [f"{r.rule.id} {r.verdict}" for r in results if r.verdict in ("regressed", "later", "never")]
    judged = [r for r in results if any(c.status is not Status.SKIP for c in r.cells)]
    if bad:
        stages.append(StageOutcome("invariants", Status.FAIL, "; ".join(bad)))
    elif not judged:
        stages.append(StageOutcome("invariants", Status.SKIP,
                                   f"nothing judged: none of the {len(results)} invariants' patches applied"))
    else:
        stages.append(StageOutcome("invariants", Status.PASS, f"{len(judged)} invariants judged, as claimed "
                                   f"or better" + (f"; {len(results) - len(judged)} not judged"
                                                   if len(judged) < len(results) else "")))
    return results


def _diff_stage(s, stages: list):
    from arena_patches.review import compare as versions
    pairs = versions.consecutive(s)
    comps = [versions.compare(s, a, b) for a, b in pairs]
    reviews = versions.track(s, {(c.from_version, c.to_version): c for c in comps})
    undoc = [f"v{c.from_version}->v{c.to_version} {p.number}" for c in comps for p in c.patches
             if p.flag is versions.Flag.UNDOCUMENTED]
    open_reviews = [i for i in reviews if i.addressed is False]
    word = Status.WARN if undoc or open_reviews else Status.PASS
    stages.append(StageOutcome("diff", word, f"{len(undoc)} undocumented changes"
                               + (f" ({', '.join(undoc[:6])})" if undoc else "")
                               + f", {len(open_reviews)} reviews not visibly answered"))
    return comps, reviews


def _boot_stage(spec, s, wr, applied, opts: BuildOptions, stages: list, progress) -> list:
    """Boot the newest version's last applied patch on the spec's boot targets."""
    from arena_patches.build import targets as targets_mod
    from arena_patches.boot import stage
    if wr is None:
        stages.append(StageOutcome("boot", Status.SKIP, "no --tree given"))
        return []
    if not opts.boot:
        stages.append(StageOutcome("boot", Status.SKIP, "--no-boot"))
        return []
    newest = next((r for r in reversed(applied) if r.head), None)
    if newest is None:
        stages.append(StageOutcome("boot", Status.SKIP, "no version applied"))
        return []
    default = tuple(spec.raw.get("boot", {}).get("targets", ())) or ("x86_64",)
    chosen = targets_mod.select(opts.boot_targets, default)
    patch = max(p.number for p in newest.patches if p.commit)
    results = stage.boot_targets(wr, spec, chosen, opts.toolchain, newest.head, "after",
                                 newest.version, patch, opts.jobs, progress, opts.executor)
    bad = [f"{r.target}: {r.detail}" for r in results if r.status in (Status.FAIL, Status.ERROR)]
    word = Status.FAIL if any(r.status is Status.FAIL for r in results) else \
        Status.ERROR if bad else Status.SKIP if all(r.status is Status.SKIP for r in results) else Status.PASS
    stages.append(StageOutcome("boot", word, "; ".join(bad) or
                               f"v{newest.version} {patch}/{len(newest.patches)} booted on "
                               + ", ".join(r.target for r in results if r.status is Status.PASS)))
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


def to_json(v: Verification) -> dict:
    return {"schema": jsonout.SCHEMA_VERSION,
            "status": v.status.value,
            "stages": [{"name": s.name, "status": s.status.value, "reason": s.reason}
                       for s in v.stages],
            "series": jsonout.series(v.series),
            "apply": jsonout.apply_results(v.apply),
            "build": jsonout.build_results(v.build, v.build_stats) if v.build_stats else None,
            "boot": jsonout.boot_results(v.boot) if v.boot else None,
            "invariants": jsonout.invariants(v.invariants)["invariants"] if v.invariants else None,
            "diff": jsonout.comparisons(v.comparisons, v.reviews)}


def show(v: Verification) -> None:
    con = text.console()
    text.print_series(v.series, con)
    if v.apply:
        text.print_apply(v.apply, con)
    if v.build:
        text.print_build(v.build, v.build_stats, con)
    if v.boot:
        text.print_boot(v.boot, con)
    if v.invariants:
        text.print_invariants(v.invariants, con)
    if v.comparisons or v.reviews:
        text.print_diff(v.comparisons, v.reviews, con)
    for s in v.stages:
        style = {"pass": "green", "warn": "yellow", "fail": "red", "skip": "dim", "error": "red"}
        con.print(f"[{style[s.status.value]}]{s.status.value:5}[/] {s.name}: {s.reason}")


def expectation_mismatches(v: Verification, expect: dict) -> list[str]:
    """Where the run differs from what the spec says the demo must show."""
    out = []
    got = {f"v{r.version}": [p.status.value for p in r.patches] for r in v.apply}
    for ver, statuses in sorted(expect.get("apply", {}).items()):
        if got.get(ver) != statuses:
            out.append(f"apply {ver}: expected {statuses}, got {got.get(ver)}")
    for target, want in sorted(expect.get("boot", {}).items()):
        r = next((b for b in v.boot if b.target == target), None)
        if r is None or r.status.value != want:
            out.append(f"boot {target}: expected {want}, got {r.status.value if r else None}"
                       + (f" ({r.detail})" if r and r.detail else ""))
    verdicts = {r.rule.id: r.verdict for r in v.invariants}
    for inv, want in sorted(expect.get("invariants", {}).items()):
        if verdicts.get(inv) != want:
            out.append(f"invariant {inv}: expected {want}, got {verdicts.get(inv)}")
    cells = {(f"v{c.version}", c.patch, c.target): c for c in v.build}
    for ver, per_target in sorted(expect.get("build", {}).items()):
        for target, statuses in sorted(per_target.items()):
            for k, want in enumerate(statuses, 1):
                c = cells.get((ver, k, target))
                have = _cell_word(c) if c else None
                if have != want:
                    out.append(f"build {ver} {k}/{len(statuses)} {target}: expected {want}, got {have}")
    return out


def _cell_word(c) -> str:
    """The cell's status, with "fail*" for a patch that only keeps its parent's errors."""
    if c.status is Status.FAIL and not c.errors and c.inherited:
        return "fail*"
    return c.status.value
