"""Invariants x versions x patches, and what the matrix says about each changelog claim:
the first version where it holds at its patch, whether that is the version that claims
it, and whether a later version lost it again."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from arena_patches.tree.apply import VersionResult
from arena_patches.core.findings import Finding
from arena_patches.core.verdicts import InvariantVerdict, Status, overall
from arena_patches.tree.repo import WorkRepo
from arena_patches.invariants.rules import KIND, CompilerReading, Rule, Verdict, evaluate
from arena_patches.invariants.sources import CommitFiles, DiskFiles


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
    verdict: InvariantVerdict
    history: str = ""  # "pass v1-v4, fail v5, pass v6-v8 (broken in v5 only, fixed in v6)"

    @property
    def status(self) -> Status:
        """Across versions: the verdict's. One column (the tree as it is, loose files):
        the cell's own."""
        if all(c.version is None for c in self.cells):
            return overall(c.status for c in self.cells)
        return self.verdict.status

    def findings(self) -> list[Finding]:
        """Each failing cell as every checker reports (core/findings.py): the identity is
        the rule and its file, so the same break in two versions is one finding followed."""
        return [Finding("invariants", Status.FAIL, self.rule.id, self.rule.file, self.rule.claim,
                        version=c.version, patch=c.patch) for c in self.cells if c.status is Status.FAIL]


def _verdict(rule: Rule, cells: list[Cell]) -> tuple[int | None, InvariantVerdict, str]:
    """Per version, the invariant's state at the patch it concerns: (first_holds, verdict,
    history). first_holds is the version from which it holds in every later judged
    version; `as-claimed` when that is the claimed version (or nothing judged between the
    claim and it says otherwise), `earlier`, `later`, `never` (the newest judged version
    does not hold it), `regressed` (it held at the claimed version and the newest fails:
    what a maintainer must hear before merging). A break in between that a later version
    fixed goes into the history ("broken in v5 only"), not the verdict."""
    per_version: dict[int, Status] = {}
    for c in cells:
        if c.version is None or c.status is Status.SKIP:
            continue
        if rule.patch is None or c.patch == rule.patch:
            per_version[c.version] = c.status
    if not per_version:
        return None, InvariantVerdict.NOT_JUDGED, ""
    order = sorted(per_version)
    history = _history(order, per_version)
    first = None
    for v in reversed(order):
        if per_version[v] is not Status.PASS:
            break
        first = v
    c = rule.claimed_in
    if c is not None and order[-1] < c:
        # the claimed version is not in the source: failing before it is what it claims to fix
        return first, InvariantVerdict.NOT_JUDGED, history + f" (not judged at or after the claimed v{c})"
    if first is None:
        held_at_claim = c is not None and per_version.get(c) is Status.PASS
        return None, InvariantVerdict.REGRESSED if held_at_claim else InvariantVerdict.NEVER, history
    if c is None:
        return first, InvariantVerdict.NOT_JUDGED, history
    if first == c:
        return first, InvariantVerdict.AS_CLAIMED, history
    if first < c:
        return first, InvariantVerdict.EARLIER, history
    seen_between = [v for v in order if c <= v < first]
    return first, InvariantVerdict.LATER if seen_between else InvariantVerdict.AS_CLAIMED, history


def _history(order: list[int], per: dict[int, Status]) -> str:
    """`pass v1-v4, fail v5, pass v6-v8 (broken in v5 only)`."""
    runs: list[tuple[Status, int, int]] = []
    for v in order:
        if runs and runs[-1][0] is per[v]:
            runs[-1] = (per[v], runs[-1][1], v)
        else:
            runs.append((per[v], v, v))
    words = ", ".join(f"{st.value} v{a}" + (f"-v{b}" if b != a else "") for st, a, b in runs)
    notes = []
    for i, (st, a, b) in enumerate(runs):
        if st is Status.FAIL and 0 < i < len(runs) - 1:
            notes.append(f"broken in v{a} only" if a == b else f"broken in v{a}-v{b}")
            notes[-1] += f", fixed in v{runs[i + 1][1]}"
    return words + (f" ({'; '.join(notes)})" if notes else "")


def over_versions(wr: WorkRepo, rules: list[Rule], applied: tuple[VersionResult, ...],
                  compiled: dict[tuple[str, str], CompilerReading] | None = None) -> list[InvariantResult]:
    """`compiled`: (commit, file) -> what the build stage's compiler said of it; `parses`
    takes the compiler's word where there is one."""
    compiled = compiled or {}
    commits: dict[str, CommitFiles] = {}
    dialects: dict[str, object] = {}  # base commit -> its dialect: patches do not move headers

    def files(commit: str) -> CommitFiles:
        if commit not in commits:
            commits[commit] = CommitFiles(wr, commit, wr.root / "dialects")
        return commits[commit]

    def judge(rule: Rule, commit: str, base: str) -> Verdict:
        if base not in dialects:
            dialects[base] = files(base)
        reading = compiled.get((commit, rule.file)) if KIND[rule.kind].compiler else None
        return evaluate(rule, files(commit).read(rule.file), dialects[base].dialect_for(rule.file), reading)

    out = []
    for rule in rules:
        cells = []
        for r in applied:
            left: set[str] = set()  # files the chain's partial patches left out, so far
            for p in r.patches:
                left |= set(p.left_out)
                if p.commit is None:
                    cells.append(Cell(r.version, p.number, Status.SKIP, f"not applied ({p.status.value})"))
                    continue
                if rule.file in left:
                    cells.append(Cell(r.version, p.number, Status.SKIP,
                                      f"{rule.file} was left out of a partial patch"))
                    continue
                v: Verdict = judge(rule, p.commit, r.base)
                cells.append(Cell(r.version, p.number, v.status, v.detail))
        first, word, history = _verdict(rule, cells)
        out.append(InvariantResult(rule, tuple(cells), first, word, history))
    return out


def over_texts(rules: list[Rule], files) -> list[InvariantResult]:
    """The tree as it is (CommitFiles), or loose files (DiskFiles): one column."""
    out = []
    for rule in rules:
        v = evaluate(rule, files.read(rule.file), files.dialect_for(rule.file))
        out.append(InvariantResult(rule, (Cell(None, None, v.status, v.detail),), None, InvariantVerdict.NOT_JUDGED))
    return out


def files_reader(root: Path) -> DiskFiles:
    return DiskFiles(root)


def commit_reader(wr: WorkRepo, commit: str) -> CommitFiles:
    return CommitFiles(wr, commit, wr.root / "dialects")
