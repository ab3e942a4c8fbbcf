"""w1: the warnings a patch brings at W=1 (`--w1` builds the matrix with W=1; this check
reads what each target's build said, new vs the parent by identity)."""
from __future__ import annotations

from arena_patches.checks.registry import Check, Need, PatchContext, Skipped, register
from arena_patches.core.findings import Finding, new_by_identity


@register
class W1(Check):
    name = "w1"
    needs = frozenset({Need.APPLIED, Need.BUILD})

    def run(self, ctx: PatchContext) -> list[Finding]:
        if not ctx.w1:
            raise Skipped("the build ran without W=1 (--w1)")
        said = [d.finding("w1") for c in ctx.cells for d in c.new_warnings]
        return new_by_identity(said, [])
