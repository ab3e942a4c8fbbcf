"""coccinelle: the base tree's own semantic patches (scripts/coccinelle, those with a
report mode) on the .c files the patch touched, before and after it, `spatch -D report`;
only what is new after the patch is its. spatch is slow (a second or so per script and
file), so each file content's answer is cached (the file after patch k is the file
before patch k+1, and versions share files), and the whole check has a time budget: past
it, spatch is killed and the check is `error`."""
from __future__ import annotations

import hashlib
import re
import time
from dataclasses import replace
from pathlib import Path

from arena_patches.checks.basetree import base_tree, touched_files
from arena_patches.checks.registry import Check, Failed, Need, PatchContext, register
from arena_patches.core.cache import JsonCache
from arena_patches.core.findings import Finding, without_lines
from arena_patches.core.verdicts import Status

_REPORT = re.compile(r"^(?P<file>[^\s:]+):(?P<line>\d+):[\d-]+: (?P<msg>.*)$")
SPATCH = ("spatch", "--very-quiet", "--no-show-diff", "-D", "report", "--timeout", "60")


def scripts(root: Path) -> list[Path]:
    """The semantic patches that can report (`virtual report`)."""
    return [p for p in sorted((root / "scripts" / "coccinelle").rglob("*.cocci"))
            if "virtual report" in p.read_text(errors="replace")]


def parse(output: str, name: str) -> list[Finding]:
    out = []
    for line in output.splitlines():
        m = _REPORT.match(line.strip())
        if m:
            msg = m.group("msg").strip()
            out.append(Finding("coccinelle", Status.FAIL if msg.startswith("ERROR") else Status.WARN, name,
                               m.group("file"), without_lines(msg), int(m.group("line"))))
    return out


def _as(d: dict) -> Finding:
    return Finding("coccinelle", Status(d["status"]), d["type"], d["file"], d["message"], d["line"])


def _dump(f: Finding) -> dict:
    return {"status": f.status.value, "type": f.type, "file": f.file, "message": f.message, "line": f.line}


@register
class Coccinelle(Check):
    name = "coccinelle"
    needs = frozenset({Need.TREE, Need.APPLIED})
    tool = ("spatch", "coccinelle")
    timeout = 900.0  # the whole check's budget, per patch

    def run(self, ctx: PatchContext) -> list[Finding]:
        root = base_tree(ctx)
        here, paths = touched_files(ctx, (".c",), "coccinelle")
        cache = JsonCache(ctx.work / "coccinelle-cache")
        said: dict[str, list[Finding]] = {"before": [], "after": []}
        todo: dict[str, tuple[str, str]] = {}  # work-relative path -> (side, key)
        for side in said:
            for p in paths:
                f = here / side / p
                if not f.exists():
                    continue
                key = hashlib.sha256(f"{ctx.base}\0{p}\0".encode() + f.read_bytes()).hexdigest()[:32]
                hit = cache.get(key, lambda x: [_as(d) for d in x])
                if hit is None:
                    todo[f"{side}/{p}"] = (side, key)
                else:
                    said[side] += hit
        for rel, (side, key), found in self._spatch(ctx, root, here, todo):
            cache.put(key, [_dump(f) for f in found])
            said[side] += found
        had = {f.identity for f in said["before"]}
        return [f if f.identity not in had else replace(f, new=False) for f in said["after"]]

    def _spatch(self, ctx: PatchContext, root: Path, here: Path, todo: dict):
        """Each report script once over every file not cached; yields (file, where, findings)."""
        if not todo:
            return []
        per: dict[str, list[Finding]] = {rel: [] for rel in todo}
        deadline = time.monotonic() + self.timeout
        for script in scripts(root):
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failed(f"coccinelle: over its {self.timeout:.0f} s budget (at {script.name})")
            rec = ctx.runner.run([*SPATCH, "--sp-file", str(script), *todo], cwd=here, timeout=left)
            if rec.timed_out:
                raise Failed(f"coccinelle: spatch on {script.name} killed at the {self.timeout:.0f} s budget")
            name = str(script.relative_to(root / "scripts" / "coccinelle"))[:-len(".cocci")]
            for f in parse(rec.stdout, name):
                if f.file in per:
                    per[f.file].append(replace(f, file=f.file.split("/", 1)[1]))
        return [(rel, todo[rel], per[rel]) for rel in todo]
