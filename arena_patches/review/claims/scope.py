"""What a claim is judged on: the patches it is about in its version and the version
before (the patch it names, else all of them), their code lines, commit messages,
trailers and diff positions. Code lines are the lines a patch adds or removes, not its
context: a rename left undone shows as a line the new version still adds.
"""
from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass

from arena_patches.core.model import Claim, Patch, Series, Version

_COMMENT = re.compile(r"^\s*(/\*|\*|//)")


@dataclass(frozen=True)
class Scope:
    old: Version
    new: Version
    old_patches: tuple[Patch, ...]
    new_patches: tuple[Patch, ...]
    patch: int | None  # the patch the claim is about (None: the series)
    complete: bool  # every patch of both versions is in the source

    def where(self, p: Patch) -> str:
        return f"{self.new.name if p in self.new_patches else self.old.name} {p.number}/{p.total}"

    def lines(self, which: str, sign: str) -> list[tuple[Patch, str]]:
        """(patch, line) of the code lines the old or new patches add ("+") or remove ("-")."""
        ps = self.old_patches if which == "old" else self.new_patches
        return [(p, line[1:]) for p in ps for line in p.diff.splitlines()
                if line.startswith(sign) and not line.startswith(sign * 3)]

    def code(self, which: str, sign: str = "+") -> list[tuple[Patch, str]]:
        """The same, without comment lines and blank lines."""
        return [(p, l) for p, l in self.lines(which, sign) if l.strip() and not _COMMENT.match(l)]

    def changed(self, layout: bool = False) -> tuple[list[tuple[Patch, str]], list[tuple[Patch, str]]]:
        """The added lines only the new patches add, and those only the old ones added;
        `layout`: a line whose indentation alone changed counts as changed too."""
        key = (lambda l: l.rstrip()) if layout else (lambda l: l.strip())  # noqa: E731
        old = Counter(key(l) for _p, l in self.lines("old", "+"))
        new = Counter(key(l) for _p, l in self.lines("new", "+"))
        gained = [(p, l) for p, l in self.lines("new", "+") if new[key(l)] > old[key(l)]]
        lost = [(p, l) for p, l in self.lines("old", "+") if old[key(l)] > new[key(l)]]
        return gained, lost

    def counterpart(self, p: Patch) -> Patch | None:
        """The old version's patch that a new patch continues (scope's own pairing)."""
        if p in self.old_patches:
            return None
        if self.patch is not None:
            return self.old_patches[0] if self.old_patches else None
        return _counterpart(self.old, self.new, p)

    def moved(self) -> list[tuple[Patch, str]]:
        """Added lines that the new version adds at another place than the old one did."""
        a = [l.strip() for _p, l in self.lines("old", "+")]
        pb = self.lines("new", "+")
        b = [l.strip() for _p, l in pb]
        gone, came = set(), []
        for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
            if op in ("delete", "replace"):
                gone.update(a[i1:i2])
            if op in ("insert", "replace"):
                came += [pb[j] for j in range(j1, j2)]
        return [(p, l) for p, l in came if l.strip() in gone and l.strip()]


def _title(p: Patch) -> str:
    return " ".join(p.subject.lower().split())


def _counterpart(old: Version, new: Version, p: Patch) -> Patch | None:
    """The old version's patch p continues: same title, else a retitled one (its title gone
    from the new version) touching the same files with a diff alike."""
    same = [q for q in old.patches if _title(q) == _title(p)]
    if same:
        return same[0]
    if old.total == new.total == 1 and len(old.patches) == 1:
        return old.patches[0]  # a one-patch series: its one patch, whatever its subject became
    titles = {_title(x) for x in new.patches}
    gone = [q for q in old.patches if _title(q) not in titles and set(q.paths) & set(p.paths)]
    ratio = lambda q: difflib.SequenceMatcher(None, q.diff, p.diff, autojunk=False).quick_ratio()  # noqa: E731
    best = max(gone, key=ratio, default=None)
    return best if best is not None and ratio(best) >= 0.5 else None


def scope_of(s: Series, c: Claim) -> tuple[Scope | None, str]:
    old, new = s.version(c.from_version), s.version(c.to_version)
    if old is None or new is None:
        missing = f"v{c.from_version}" if old is None else f"v{c.to_version}"
        return None, f"{missing} is not in the source"
    complete = not old.missing and not new.missing and bool(old.patches) and bool(new.patches)
    if c.patch is None:
        if not new.patches:
            return None, f"no patch of {new.name} is in the source"
        return Scope(old, new, old.patches, new.patches, None, complete), ""
    p = new.patch(c.patch)
    if p is None and c.patch > new.total and old.patch(c.patch):  # "merged patch 4 into 1": the old 4
        return Scope(old, new, (old.patch(c.patch),), (), c.patch, complete), ""
    if p is None:
        return None, f"{new.name} patch {c.patch} is not in the source"
    q = _counterpart(old, new, p)
    return Scope(old, new, (q,) if q else (), (p,), c.patch, complete), ""
