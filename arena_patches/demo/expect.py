"""The demo's own check: every failure the demo series plants was found where it was
planted and nowhere else (the spec's [expect])."""
from __future__ import annotations


def mismatches(v, expect: dict) -> list[str]:
    """Where the run (a verify.compose.Verification) differs from what the spec says the
    demo must show."""
    out = []
    got = {f"v{r.version}": [p.status.value for p in r.patches] for r in v.apply}
    for ver, statuses in sorted(expect.get("apply", {}).items()):
        if got.get(ver) != statuses:
            out.append(f"apply {ver}: expected {statuses}, got {got.get(ver)}")
    for target, want in sorted(expect.get("boot", {}).items()):
        r = next((b for b in v.boot if b.target == target), None)
        have = r.status.value if r else None
        if have != want:
            out.append(f"boot {target}: expected {want}, got {have}"
                       + (f" ({r.detail})" if r and r.detail else ""))
    verdicts = {r.rule.id: r.verdict.value for r in v.invariants}
    for inv, want in sorted(expect.get("invariants", {}).items()):
        if verdicts.get(inv) != want:
            out.append(f"invariant {inv}: expected {want}, got {verdicts.get(inv)}")
    cells = {(f"v{c.version}", c.patch, c.target): c for c in v.build}
    for ver, per_target in sorted(expect.get("build", {}).items()):
        for target, statuses in sorted(per_target.items()):
            for k, want in enumerate(statuses, 1):
                c = cells.get((ver, k, target))
                have = c.word if c else None
                if have != want:
                    out.append(f"build {ver} {k}/{len(statuses)} {target}: expected {want}, got {have}")
    out += _checks(v, expect.get("checks", {}))
    return out


def _checks(v, expect: dict) -> list[str]:
    """Each check's new findings on exactly the patches named ("v1 3/4"), nowhere else."""
    out = []
    total = {x.version: x.total for x in v.series.versions}
    for name, where in sorted(expect.items()):
        got = sorted({f"v{r.version} {r.patch}/{total.get(r.version)}" for r in v.checks
                      if r.check == name and r.new})
        if got != sorted(where):
            out.append(f"checks {name}: expected new findings on {sorted(where)}, got {got}")
    return out
