"""Running the registry over a series: one PatchContext per patch of each version (the
applied commits when there is a tree, the build's cells when there was a build), each
selected check on each, then the findings followed across the versions (history.py).
Progress says one line per step: `[12/72] v3 2/4 checkpatch pass 1 s`."""
from __future__ import annotations

from pathlib import Path

from arena_patches.checks import history, registry
from arena_patches.checks.registry import Check, CheckResult, PatchContext
from arena_patches.core.model import Series
from arena_patches.core.paths import default_work_dir
from arena_patches.core.progress import Progress, Steps, step
from arena_patches.core.runner import DEFAULT, Runner
from arena_patches.core.verdicts import Status, overall
from arena_patches.tree.repo import WorkRepo


def contexts(s: Series, versions: list[int], applied: tuple = (), wr: WorkRepo | None = None,
             work: Path | None = None, cells: tuple = (), runner: Runner | None = None,
             head: str | None = None, w1: bool = False) -> list[PatchContext]:
    """Every patch of the chosen versions; applied ones carry their commit and parent.
    A version not applied is checked against `head` (the tree as it is) for the checks
    that read only the mail and the base's scripts."""
    by_version = {r.version: r for r in applied}
    work = work or (wr.root / "checks" if wr else default_work_dir() / "checks")
    runner = runner or (wr.runner if wr else DEFAULT)
    out = []
    for v in s.versions:
        if v.version not in versions:
            continue
        r = by_version.get(v.version)
        commits = {p.number: p for p in r.patches} if r else {}
        parent = r.base if r else None
        for p in v.patches:
            pr = commits.get(p.number)
            commit = pr.commit if pr and not pr.left_out and pr.on_partial is None else None
            mine = tuple(c for c in cells if c.version == v.version and c.patch == p.number)
            out.append(PatchContext(v, p, work, runner, wr, r.base if r else head, commit,
                                    parent if commit else None, mine, w1))
            parent = pr.commit if pr and pr.commit else None
    return out


def run(checks: list[Check], ctxs: list[PatchContext], progress: Progress | None = None) -> list[CheckResult]:
    steps = [(c, x) for x in ctxs for c in checks]
    say = Steps(progress, len(steps)) if progress else None
    out = []
    for check, ctx in steps:
        if say:
            say(f"checks: {ctx.where} {check.name}")
        r = check.judge(ctx)
        step(say, f"{ctx.where} {check.name} {r.status.value} {r.seconds:.0f} s")
        out.append(r)
    totals = {(x.version.version, x.patch.number): x.patch.total for x in ctxs}
    return history.follow(out, totals)


def judged_code(results: list[CheckResult]) -> bool:
    """Whether a check that reads the patched tree or its build judged something: checks
    that read only the mails judge no code, and cannot make a gate say good alone."""
    known = registry.all_checks()
    return any(r.status is not Status.SKIP and r.check in known and known[r.check].reads_code
               for r in results)


def outcome(results: list[CheckResult]) -> tuple[Status, str]:
    """The checks as one stage: the same status and line in `checks` and in `verify`."""
    if not results:
        return Status.SKIP, "no check ran"
    st = overall(r.status for r in results)
    if st is Status.PASS and any(r.status is Status.WARN for r in results):
        st = Status.WARN
    bad = [f"v{r.version} {r.patch} {r.check}" for r in results if r.status.is_trouble]
    new = sum(len(r.new) for r in results)
    why: dict[str, set[str]] = {}
    for r in results:
        if r.status is Status.SKIP:
            why.setdefault(r.detail, set()).add(r.check)
    skipped = [f"{d} ({', '.join(sorted(c))})" for d, c in sorted(why.items())]
    line = f"{len(results)} checks run, {new} new findings"
    if bad:
        line += ": " + ", ".join(bad[:8]) + (f" (+{len(bad) - 8})" if len(bad) > 8 else "")
    if skipped:
        line += "; skipped: " + "; ".join(skipped[:4])
    return st, line
