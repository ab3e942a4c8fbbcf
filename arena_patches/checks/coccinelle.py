"""coccinelle: the base tree's own semantic patches (scripts/coccinelle, those with a
report mode) that apply to the patch, on the .c files it touched, before and after it,
`spatch -D report`; only what is new after the patch is its. spatch parses the whole file
for each script (verifier.c: tens of seconds each), so a script runs only when a function
it calls appears in the lines the patch adds (a finding the patch brings involves them),
each answer is cached by file content and script (the file after patch k is the file
before patch k+1; versions share files), and the whole check has a time budget: past it,
spatch is killed and the check is `error`."""
from __future__ import annotations

import hashlib
import re
import time
from dataclasses import replace
from pathlib import Path

from arena_patches.checks.basetree import base_tree, touched_files
from arena_patches.checks.registry import Check, Failed, Need, PatchContext, Skipped, register
from arena_patches.core.cache import JsonCache
from arena_patches.core.findings import Finding, without_lines
from arena_patches.core.verdicts import Status

_CALLED = re.compile(r"\b([A-Za-z_]\w{3,})\s*\(")
_WORD = re.compile(r"[A-Za-z_]\w*")
_NOT_NAMES = {"sizeof", "return", "while", "switch", "typeof", "defined"}
_REPORT = re.compile(r"^(?P<file>[^\s:]+):(?P<line>\d+):[\d-]+: (?P<msg>.*)$")
SPATCH = ("spatch", "--very-quiet", "--no-show-diff", "-D", "report", "--timeout", "60")


def scripts(root: Path, added: str) -> list[Path]:
    """The semantic patches that can report (`virtual report`) and call a function the
    added lines name."""
    words = set(_WORD.findall(added))
    out = []
    for p in sorted((root / "scripts" / "coccinelle").rglob("*.cocci")):
        text = p.read_text(errors="replace")
        if "virtual report" in text and (set(_CALLED.findall(text)) - _NOT_NAMES) & words:
            out.append(p)
    return out


def added_lines(diff: str) -> str:
    return "\n".join(l[1:] for l in diff.splitlines() if l.startswith("+") and not l.startswith("+++"))


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
        chosen = scripts(root, added_lines(ctx.patch.diff))
        if not chosen:
            raise Skipped("no semantic patch calls what the patch's added lines name")
        files = {f"{side}/{p}": hashlib.sha256((here / side / p).read_bytes()).hexdigest()
                 for side in ("before", "after") for p in paths if (here / side / p).exists()}
        cache = JsonCache(ctx.work / "coccinelle-cache")
        said: list[Finding] = []
        deadline = time.monotonic() + self.timeout
        for script in chosen:
            name = str(script.relative_to(root / "scripts" / "coccinelle"))[:-len(".cocci")]
            keys = {rel: hashlib.sha256(f"{ctx.base}\0{name}\0{rel.split('/', 1)[1]}\0{h}".encode()
                                        ).hexdigest()[:32] for rel, h in files.items()}
            todo = []
            for rel, key in keys.items():
                hit = cache.get(key, lambda x: [_as(d) for d in x])
                if hit is None:
                    todo.append(rel)
                else:
                    said += [replace(f, file=rel) for f in hit]
            if todo:
                found = self._spatch(ctx, script, name, here, todo, deadline)
                for rel in todo:
                    mine = [f for f in found if f.file == rel]
                    cache.put(keys[rel], [_dump(f) for f in mine])
                    said += mine
        before = {(f.check, f.file.split("/", 1)[1], f.type, f.message) for f in said if f.file.startswith("before/")}
        out = []
        for f in said:
            if f.file.startswith("after/"):
                f = replace(f, file=f.file.split("/", 1)[1])
                out.append(f if f.identity not in before else replace(f, new=False))
        return out

    def _spatch(self, ctx: PatchContext, script: Path, name: str, here: Path, files: list[str],
                deadline: float) -> list[Finding]:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Failed(f"coccinelle: over its {self.timeout:.0f} s budget (before {name})")
        rec = ctx.run_tree_code([*SPATCH, "--sp-file", str(script), *files], here, left)
        if rec.timed_out:
            raise Failed(f"coccinelle: spatch {name} killed at the {self.timeout:.0f} s budget")
        if rec.returncode != 0:  # spatch itself failed: nothing was checked (and nothing is cached)
            why = (rec.stderr or rec.stdout).strip().splitlines()
            raise Failed(f"coccinelle: spatch {name} exited {rec.returncode}: {why[-1][:300] if why else ''}")
        return parse(rec.stdout, name)
