"""sparse: `C=1 CHECK=sparse` riding on the build the matrix already does (the build
directory runs the checker on the version's files just compiled, C=2: no second compile),
on the first target, as NIPA does on x86_64. Findings on the files the patch touched,
new vs the parent by identity."""
from __future__ import annotations

from dataclasses import replace

from arena_patches.checks.registry import Check, Need, PatchContext, Skipped, register
from arena_patches.core.findings import Finding


def wanted(selected: list[Check]) -> bool:
    """Whether the build should carry sparse: the check is selected and the tool is here."""
    return any(isinstance(c, Sparse) and c.missing_tool() is None for c in selected)


@register
class Sparse(Check):
    name = "sparse"
    needs = frozenset({Need.APPLIED, Need.BUILD})
    tool = ("sparse", "sparse")

    def run(self, ctx: PatchContext) -> list[Finding]:
        cell = next((c for c in ctx.cells if c.checked), None)
        if cell is None:
            raise Skipped("sparse did not run on this patch's build (not built, or --no-build)")
        mine = set(ctx.patch.paths)
        had = {d.identity for d in cell.checker_before}
        out = []
        for d in cell.checker:
            if d.file in mine:
                f = d.finding("sparse")
                out.append(replace(f, type="sparse", new=d.identity not in had))
        return out
