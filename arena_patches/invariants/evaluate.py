"""Invariants x versions x patches, and what the matrix says about each changelog claim:
the first version where it holds at its patch, whether that is the version that claims
it, and whether a later version lost it again."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..apply import VersionResult
from ..model import Status
from ..tree import WorkRepo
from .rules import Rule, Verdict, evaluate
from .sources import CommitFiles, DiskFiles


@dataclass(frozen=True)
class Cell:
    version: int | None  # None: the tree as is, or loose files
    patch: int | None
    status: Status
    detail: str


@dataclass(frozen=True)
class InvariantResult:
    rule: Rule
    cells: tuple[Cell, ...]
    first_holds: int | None
    verdict: str  # as-claimed | earlier | later | never | regressed | n/a


def _verdict(rule: Rule, cells: list[Cell]) -> tuple[int | None, str]:
    """Per version, the invariant's state at the patch it concerns (or the version's last)."""
    per_version: dict[int, Status] = {}
    for c in cells:
        if c.version is None or c.status is Status.SKIP:
            continue
        if rule.patch is None or c.patch == rule.patch:
            per_version[c.version] = c.status
    if not per_version:
        return None, "n/a"
    order = sorted(per_version)
    holds = [v for v in order if per_version[v] is Status.PASS]
    first = holds[0] if holds else None
    if first is None:
        return None, "never"
    if any(per_version[v] is Status.FAIL for v in order if v > first):
        return first, "regressed"
    if rule.claimed_in is None:
        return first, "n/a"
    if first == rule.claimed_in:
        return first, "as-claimed"
    if first < rule.claimed_in:
        return first, "earlier"
    # Later than claimed, unless no version between the claim and `first` was seen: then
    # nothing here contradicts the claim.
    seen_between = [v for v in order if rule.claimed_in <= v < first]
    return first, "later" if seen_between else "as-claimed"


def over_versions(wr: WorkRepo, rules: list[Rule], applied: tuple[VersionResult, ...]) -> list[InvariantResult]:
    commits: dict[str, CommitFiles] = {}
    dialects: dict[str, object] = {}  # base commit -> its dialect: patches do not move headers

    def files(commit: str) -> CommitFiles:
        if commit not in commits:
            commits[commit] = CommitFiles(wr, commit, wr.root / "dialects")
        return commits[commit]

    def judge(rule: Rule, commit: str, base: str) -> Verdict:
        if base not in dialects:
            dialects[base] = files(base)
        return evaluate(rule, files(commit).read(rule.file), dialects[base].dialect_for(rule.file))

    out = []
    for rule in rules:
        cells = []
        for r in applied:
            for p in r.patches:
                if p.commit is None:
                    cells.append(Cell(r.version, p.number, Status.SKIP, f"not applied ({p.status.value})"))
                    continue
                v: Verdict = judge(rule, p.commit, r.base)
                cells.append(Cell(r.version, p.number, v.status, v.detail))
        first, word = _verdict(rule, cells)
        out.append(InvariantResult(rule, tuple(cells), first, word))
    return out


def over_texts(rules: list[Rule], files) -> list[InvariantResult]:
    """The tree as it is (CommitFiles), or loose files (DiskFiles): one column."""
    out = []
    for rule in rules:
        v = evaluate(rule, files.read(rule.file), files.dialect_for(rule.file))
        out.append(InvariantResult(rule, (Cell(None, None, v.status, v.detail),), None, "n/a"))
    return out


def files_reader(root: Path) -> DiskFiles:
    return DiskFiles(root)


def commit_reader(wr: WorkRepo, commit: str) -> CommitFiles:
    return CommitFiles(wr, commit, wr.root / "dialects")
