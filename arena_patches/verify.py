"""`arena-patches verify`: the stages in order, each skipped with its reason when what it
needs is absent, and one exit code a pre-merge check can gate on.

`demo` is verify on the embedded demo series, and then a check that every failure the
demo plants was found where it was planted and nowhere else (the spec's [expect]).
"""
from __future__ import annotations

import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from . import pipeline
from .apply import VersionResult
from .model import Series, Status
from .report import jsonout, text

FINDING_STATUSES = ("conflict", "base-missing", "refused")


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

    @property
    def findings(self) -> bool:
        return any(s.status is Status.FAIL for s in self.stages)


def verify(spec_name: str | None, source: str | None, tree: str | None, work_dir: str | None,
           version: str | None = None, base: str | None = None, progress=None) -> Verification:
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
                   for r in applied for p in r.patches if p.status.value in FINDING_STATUSES]
            stages.append(StageOutcome("apply", Status.FAIL if bad else Status.PASS,
                                       "; ".join(bad) or "every patch applied"))
    return Verification(s, applied, tuple(stages))


def to_json(v: Verification) -> dict:
    return {"schema": jsonout.SCHEMA_VERSION,
            "status": "fail" if v.findings else "pass",
            "stages": [{"name": s.name, "status": s.status.value, "reason": s.reason}
                       for s in v.stages],
            "series": jsonout.series(v.series),
            "apply": jsonout.apply_results(v.apply)}


def show(v: Verification) -> None:
    con = text.console()
    text.print_series(v.series, con)
    if v.apply:
        text.print_apply(v.apply, con)
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
    return out


def run(args) -> int:
    from .cli import EXIT_FINDINGS, EXIT_OK, progress
    demo_mode = getattr(args, "demo", False) or args.command == "demo"
    with progress(True) as prog:
        if demo_mode:
            from . import demo, spec as spec_mod
            d = demo.prepare(Path(args.work_dir) / "demo" if args.work_dir else None, progress=prog)
            result = verify(str(d.spec), str(d.source), str(d.tree), args.work_dir, progress=prog)
            expect = spec_mod.load(str(d.spec)).raw.get("expect", {})
        else:
            result = verify(args.spec, args.source, args.tree, args.work_dir, args.version,
                            args.base, prog)
    if args.json:
        jsonout.dump(to_json(result))
    else:
        show(result)
    if args.command == "demo":
        wrong = expectation_mismatches(result, expect)
        for w in wrong:
            print(f"demo: {w}", file=sys.stderr)
        if not args.json:
            print("demo: every planted failure was found where it was planted" if not wrong
                  else "demo: the tool did not find what the demo plants", file=sys.stderr)
        return EXIT_FINDINGS if wrong else EXIT_OK
    return EXIT_FINDINGS if result.findings else EXIT_OK
