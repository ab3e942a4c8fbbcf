"""Carry a version to a stable tree and say what stands in the way.

Each patch is applied in a worktree of the stable tree (3-way when plain fails). A patch
that does not apply is taken hunk by hunk: each failed hunk is classified (the file is
absent; the function it edits is absent; the function is there but the lines moved:
context drift; the hunk's own pre-image lines are nowhere: pre-image absent). The
identifiers the added lines use (functions, macros, types, struct fields, Kconfig
symbols) that the stable tree does not define are the missing prerequisites; with an
upstream tree, `git log -S` names the commit that introduced each.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import unidiff

from arena_patches.tree.apply import PatchResult, VersionResult, apply_patch, hunk_header
from arena_patches.tree.base import BaseRule

from arena_patches.core.verdicts import ApplyStatus, BackportStatus, HunkClass, HunkStatus
from arena_patches.core.model import Patch, Version
from arena_patches.core.paths import confined
from arena_patches.tree.repo import WorkRepo, git

_KEYWORDS = {"if", "for", "while", "switch", "return", "sizeof", "typeof", "do", "else", "case",
             "goto", "break", "continue", "struct", "union", "enum", "static", "const", "inline",
             "void", "int", "long", "char", "unsigned", "signed", "bool", "u8", "u16", "u32", "u64",
             "s8", "s16", "s32", "s64", "true", "false", "NULL", "defined", "__func__",
             "likely", "unlikely", "min", "max", "u64_to_user_ptr"}


@dataclass(frozen=True)
class HunkResult:
    file: str
    header: str
    status: HunkStatus
    klass: HunkClass | None


@dataclass(frozen=True)
class Missing:
    identifier: str
    kind: str  # function | macro | type | field | kconfig
    defined_upstream: str | None


@dataclass(frozen=True)
class BackportPatch:
    number: int
    status: BackportStatus
    hunks: tuple[HunkResult, ...]
    missing: tuple[Missing, ...]
    detail: str = ""
    commit: str | None = None


# ---------------------------------------------------------------- identifiers

def used_identifiers(p: Patch) -> dict[str, str]:
    """Identifiers the patch's added lines use, with their kind; those the patch itself
    defines (functions, macros, types, fields, Kconfig entries) are left out."""
    added, path = [], ""
    for l in p.diff.splitlines():
        if l.startswith("+++ "):
            path = l[6:] if l.startswith("+++ b/") else l[4:]
        elif l.startswith("+") and not path.startswith("tools/"):  # selftests: generated names
            added.append(l[1:])
    code = re.sub(r"/\*.*?\*/", " ", "\n".join(added), flags=re.S)
    code = "\n".join(re.sub(r"//.*$|\"(?:\\.|[^\"\\])*\"", " ", l) for l in code.splitlines()
                     if not l.lstrip().startswith("*"))
    defined = set(re.findall(r"^\s*(?:static\s+)?(?:inline\s+)?[\w\s\*]+?\b(\w+)\s*\([^;]*$", code, re.M))
    defined |= set(re.findall(r"#\s*define\s+(\w+)", code))
    defined |= set(re.findall(r"\b(?:struct|union|enum)\s+(\w+)\s*\{", code))
    defined |= set(re.findall(r"^\s*[\w\s\*]+?\b(\w+)\s*(?:\[[^\]]*\])?\s*;", code, re.M))  # fields/vars
    defined |= set(re.findall(r"^\s*config\s+(\w+)", code, re.M))
    found: dict[str, str] = {}
    for m in re.finditer(r"\bCONFIG_(\w+)", code):
        found.setdefault(m.group(1), "kconfig")
    for m in re.finditer(r"(?:->|\.)\s*([A-Za-z_]\w*)", code):
        found.setdefault(m.group(1), "field")
    for m in re.finditer(r"\b(?:struct|union|enum)\s+(\w+)", code):
        found.setdefault(m.group(1), "type")
    for m in re.finditer(r"\b(\w+_t)\b", code):
        found.setdefault(m.group(1), "type")
    for m in re.finditer(r"\b([A-Za-z_]\w*)\s*\(", code):
        name = m.group(1)
        found.setdefault(name, "macro" if name.isupper() else "function")
    for m in re.finditer(r"\b([A-Z][A-Z0-9_]{3,})\b", code):
        if not m.group(1).startswith("CONFIG_"):
            found.setdefault(m.group(1), "macro")
    return {k: v for k, v in found.items() if k not in defined and k not in _KEYWORDS
            and not k.startswith("__builtin")}


_DEF_PATTERNS = {
    "kconfig": r"^\s*(menu)?config\s+({names})\b",
    "field": r"[\s\*]({names})(\s*\[[^]]*\])?\s*(:\s*\d+\s*)?;",
    "type": r"(struct|union|enum)\s+({names})\s*\{{|\b({names})\s*;",
    "macro": r"#\s*define\s+({names})\b|\b({names})\s*\(|\b({names})\b\s*[,=|]",
    "function": r"\b({names})\s*\(",
}


def defined_names(wr: WorkRepo, rev: str, wanted: dict[str, str]) -> set[str]:
    """Which of these identifiers the tree at rev has in code (comment lines do not count:
    6.12 mentions kmalloc_nolock() only in a comment): one `git grep` per kind."""
    found: set[str] = set()
    for kind, pattern in _DEF_PATTERNS.items():
        names = sorted(n for n, k in wanted.items() if k == kind)
        if not names:
            continue
        rx = pattern.format(names="|".join(re.escape(n) for n in names))
        r = wr.git("grep", "-h", "-E", rx, rev, "--", "*.h", "*.c", "*Kconfig*", "*.S",
                   check=False, timeout=600)
        py = re.compile(rx.replace("[[:space:]]", r"\s"))
        for line in r.stdout.splitlines():
            code = line.split(":", 1)[1] if line.startswith(rev) else line
            if re.match(r"\s*(\*|/\*|//)", code):
                continue
            code = re.sub(r"/\*.*?(\*/|$)|//.*$", " ", code)
            for m in py.finditer(code):
                found |= {g for g in m.groups() if g in names}
    return found


def introducing_commit(upstream: Path, wr: WorkRepo, name: str) -> str | None:
    r = git(wr.runner, upstream, "log", "--reverse", "--format=%H", f"-S{name}", "HEAD", check=False,
            timeout=600)
    first = r.stdout.split()
    return first[0] if first else None


# ---------------------------------------------------------------- hunks

def _function_of(header: str) -> str | None:
    m = re.search(r"\b(\w+)\s*\(", header or "")
    return m.group(1) if m else None


def classify_hunks(wr: WorkRepo, wt: Path, p: Patch) -> list[HunkResult]:
    out = []
    try:
        files = list(unidiff.PatchSet(p.diff))
    except unidiff.UnidiffParseError:
        return out
    for pf in files:
        path = pf.source_file[2:] if pf.source_file.startswith("a/") else pf.path
        inside = confined(wt, path)  # never read outside the worktree, whatever the patch says
        if inside is None:
            out.extend(HunkResult(pf.path, hunk_header(h), HunkStatus.FAILED, HunkClass.REFUSED) for h in pf)
            continue
        exists = inside.is_file()
        text = inside.read_text(errors="replace") if exists else ""
        for h in pf:
            header = hunk_header(h)
            if pf.is_added_file:
                out.append(HunkResult(pf.path, header, HunkStatus.APPLIED, None))
                continue
            if not exists:
                out.append(HunkResult(pf.path, header, HunkStatus.FAILED, HunkClass.FILE_ABSENT))
                continue
            one = f"--- a/{path}\n+++ b/{pf.path}\n{str(h)}"
            r = git(wr.runner, wt, "apply", "--check", "--recount", "-", input=one.encode(), check=False)
            if r.returncode == 0:
                out.append(HunkResult(pf.path, header, HunkStatus.APPLIED, None))
                continue
            removed = [l.value.rstrip("\n") for l in h if l.is_removed and l.value.strip()]
            context = [l.value.rstrip("\n") for l in h if l.is_context and l.value.strip()]
            fn = _function_of(h.section_header)
            if fn and not re.search(rf"\b{fn}\s*\(", text):
                klass = HunkClass.FUNCTION_ABSENT  # the function the hunk edits is not in this tree
            elif removed and all(l in text for l in removed):
                klass = HunkClass.CONTEXT_DRIFT  # its own pre-image is there; the lines around moved
            elif not removed and sum(l in text for l in context) * 2 >= max(len(context), 1):
                klass = HunkClass.CONTEXT_DRIFT  # a pure addition whose surroundings mostly remain
            else:
                klass = HunkClass.PREIMAGE_ABSENT
            out.append(HunkResult(pf.path, header, HunkStatus.FAILED, klass))
    return out


def backport(wr: WorkRepo, v: Version, upstream: Path | None = None, base: str | None = None,
             progress=None) -> tuple[str, list[BackportPatch]]:
    """Apply version v onto the stable tree (HEAD, or `base`) patch by patch."""
    target = wr.resolve_user(base or "HEAD")
    results: list[BackportPatch] = []
    total = max([v.total] + [p.number for p in v.patches])
    with wr.worktree("backport", target) as wt:
        broken = False
        for k in range(1, total + 1):
            p = v.patch(k)
            if p is None:
                results.append(BackportPatch(k, BackportStatus.SKIPPED, (), (), "missing from the source"))
                continue
            if progress:
                progress(f"backport v{v.version} {k}/{total}")
            head = git(wr.runner, wt, "rev-parse", "HEAD").stdout.strip()
            wanted = used_identifiers(p)
            have = defined_names(wr, head, wanted)
            missing = [Missing(n, kind, introducing_commit(upstream, wr, n) if upstream else None)
                       for n, kind in sorted(wanted.items()) if n not in have]
            if broken:
                results.append(BackportPatch(k, BackportStatus.SKIPPED, tuple(classify_hunks(wr, wt, p)),
                                             tuple(missing), "an earlier patch did not apply"))
                continue
            r = apply_patch(wr, wt, p, {})
            if r.commit:
                hunks = tuple(HunkResult(f, h, HunkStatus.APPLIED, None) for f, h in _headers(p))
                results.append(BackportPatch(k, BackportStatus.APPLIED, hunks, tuple(missing),
                                             "applied with 3-way" if r.status is ApplyStatus.APPLIED_3WAY else "",
                                             r.commit))
                continue
            broken = True
            results.append(BackportPatch(k, BackportStatus.CONFLICT, tuple(classify_hunks(wr, wt, p)),
                                         tuple(missing), r.detail))
    return target, results


def _headers(p: Patch) -> list[tuple[str, str]]:
    try:
        return [(pf.path, hunk_header(h)) for pf in unidiff.PatchSet(p.diff) for h in pf]
    except unidiff.UnidiffParseError:
        return []


def as_applied(v: Version, target: str, patches: list[BackportPatch]):
    """The backport as apply results, so the build stage can take it as it takes a version."""
    status = {BackportStatus.APPLIED: ApplyStatus.APPLIED, BackportStatus.CONFLICT: ApplyStatus.CONFLICT,
              BackportStatus.SKIPPED: ApplyStatus.SKIPPED}
    return VersionResult(v.version, target, BaseRule.FLAG, "the stable tree's HEAD",
                         tuple(PatchResult(p.number, status[p.status], p.commit, (), p.detail)
                               for p in patches))
