"""Findings followed across the versions, by identity, per (check, patch number): where
each first appeared ("v3 2/4"), where it went away, and which of the previous version's
findings a version fixed."""
from __future__ import annotations

from dataclasses import replace
from itertools import groupby

from arena_patches.checks.registry import CheckResult
from arena_patches.core.verdicts import Status


def _where(r: CheckResult, total: dict[tuple[int, int], int]) -> str:
    return f"v{r.version} {r.patch}/{total.get((r.version, r.patch), '?')}"


def follow(results: list[CheckResult], totals: dict[tuple[int, int], int]) -> list[CheckResult]:
    """The results again, each finding with first_seen/gone_in, each result with `fixed`.
    Versions where the check did not judge the patch (skip, error) neither start nor end
    a finding."""
    out: dict[int, CheckResult] = {}
    key = lambda ir: (ir[1].check, ir[1].patch)  # noqa: E731
    for _, group in groupby(sorted(enumerate(results), key=key), key=key):
        chain = sorted(group, key=lambda ir: ir[1].version)
        judged = [(i, r) for i, r in chain if r.status not in (Status.SKIP, Status.ERROR)]
        first: dict = {}
        for _, r in judged:
            for f in r.findings:
                first.setdefault(f.identity, _where(r, totals))
        for n, (i, r) in enumerate(judged):
            later = judged[n + 1:]
            found = []
            for f in r.findings:
                gone = next((_where(x, totals) for _, x in later
                             if f.identity not in {g.identity for g in x.findings}), None)
                found.append(replace(f, first_seen=first[f.identity], gone_in=gone))
            prev = judged[n - 1][1] if n else None
            now = {f.identity for f in r.findings}
            fixed = tuple(f for f in (prev.findings if prev else ()) if f.identity not in now)
            out[i] = replace(r, findings=tuple(found), fixed=fixed)
        for i, r in chain:
            out.setdefault(i, r)
    return [out[i] for i in range(len(results))]
