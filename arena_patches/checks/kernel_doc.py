"""kernel-doc: the base's `scripts/kernel-doc -Wall -none` on the files the patch touched,
before and after it (as NIPA does): what the patch brought is what is new after it."""
from __future__ import annotations

import re
from dataclasses import replace

from arena_patches.checks.basetree import base_tree, interpreter, touched_files
from arena_patches.checks.registry import Check, Failed, Need, PatchContext, register, timed_out
from arena_patches.core.findings import Finding
from arena_patches.core.verdicts import Status

_LINE = re.compile(r"^(?P<file>[^\s:][^:]*):(?P<line>\d+): (?P<sev>warning|error|WARNING|ERROR): (?P<msg>.*)$")
SUFFIXES = (".c", ".h")


def parse(output: str) -> list[Finding]:
    out = []
    for line in output.splitlines():
        m = _LINE.match(line.strip())
        if m:
            sev = m.group("sev").lower()
            out.append(Finding("kernel-doc", Status.FAIL if sev == "error" else Status.WARN, sev,
                               m.group("file"), m.group("msg").strip(), int(m.group("line"))))
    return out


@register
class KernelDoc(Check):
    name = "kernel-doc"
    needs = frozenset({Need.TREE, Need.APPLIED})
    tool = ("perl", "perl")
    timeout = 300.0

    def run(self, ctx: PatchContext) -> list[Finding]:
        argv = interpreter(base_tree(ctx) / "scripts" / "kernel-doc")
        here, paths = touched_files(ctx, SUFFIXES, "kernel-doc")
        said = {}
        for side in ("before", "after"):
            present = [p for p in paths if (here / side / p).exists()]
            if not present:
                said[side] = []
                continue
            rec = ctx.run_tree_code([*argv, "-Wall", "-none", *present], here / side, self.timeout)
            timed_out(rec, "kernel-doc")
            if rec.returncode < 0 or (rec.returncode and not parse(rec.stderr + rec.stdout)):
                raise Failed(f"kernel-doc exited {rec.returncode}: {rec.stderr.strip()[-300:]}")
            said[side] = parse(rec.stderr + rec.stdout)
        had = {f.identity for f in said["before"]}
        return [f if f.identity not in had else replace(f, new=False) for f in said["after"]]
