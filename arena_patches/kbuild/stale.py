"""Before a tree state is built on the one before it in the same O= dir: every object
built from a source file the new state no longer has is removed, so that make compiles it
again (and fails as a cold build does, "No such file or directory").

Why make does not do it itself: kbuild marks every target .SECONDARY on GNU make older
than 4.4.1 (Debian 12 has 4.3), and a missing prerequisite of a secondary target is never
in `$?`; kbuild's if_changed then finds nothing newer and keeps the object compiled while
the header existed, vmlinux links it, and the state passes where a cold build fails
(scripts/Kbuild.include says it: "newer-prereq cannot detect deleted files"). The
maintainer's `git rebase -x make` loop on such a make hides the break the same way.
"""
from __future__ import annotations

import os

from arena_patches.core.paths import write_own
from arena_patches.kbuild.directory import BuildDir
from arena_patches.tree.repo import git

SOURCE_STAMP = ".arena-patches-source"  # the commit O= was last built from


def deleted_since(bd: BuildDir, commit: str) -> set[str] | None:
    """Paths (relative to the tree) the commit lacks that the state O= was last built from
    had; None when that state is not known (O= from before the stamp, or a lost commit)."""
    try:
        prev = (bd.out / SOURCE_STAMP).read_text().strip()
    except OSError:
        return None
    if prev == commit:
        return set()
    r = git(bd.runner, bd.source, "diff", "--no-renames", "--name-only", "--diff-filter=D", "-z",
            prev, commit, "--", check=False)
    return set(filter(None, r.stdout.split("\0"))) if r.returncode == 0 else None


def _deps(text: str) -> list[str]:
    """The source and prerequisite paths a kbuild .cmd file names (fixdep's output)."""
    out = []
    for line in text.splitlines():
        s = line.strip().removesuffix("\\").strip()
        if s.startswith("source_"):
            s = s.partition(":=")[2].strip()
        elif not line.startswith(" ") or s.startswith("$(") or not s:
            continue
        out.append(s)
    return out


def drop_stale(bd: BuildDir, commit: str) -> list[str]:
    """Remove the objects in O= built from a file the commit deleted (every object whose
    source file is missing when the last state is not known); the commit is then recorded
    as what O= is built from. Returns the objects removed, relative to O=."""
    gone = deleted_since(bd, commit)
    removed = [] if gone == set() else _remove(bd, gone)
    write_own(bd.out / SOURCE_STAMP, commit.encode())
    return removed


def _remove(bd: BuildDir, gone: set[str] | None) -> list[str]:
    roots = {os.path.normpath(bd.source), os.path.realpath(bd.source)}
    bases = {os.path.normpath(bd.out), os.path.realpath(bd.out)}
    under = tuple(r + os.sep for r in roots)
    targets = {os.path.join(r, p) for r in roots for p in gone} if gone is not None else set()
    seen: dict[str, bool] = {}

    def stale(dep: str) -> bool:
        for base in bases:
            p = os.path.normpath(os.path.join(base, dep))
            if p not in seen:
                seen[p] = p in targets if gone is not None else p.startswith(under) and not os.path.exists(p)
            if seen[p]:
                return True
        return False

    names = {os.path.basename(p) for p in gone} if gone is not None else set()
    removed = []
    for cmd in bd.out.rglob(".*.o.cmd"):
        obj = cmd.with_name(cmd.name[1:-4])
        try:
            text = cmd.read_text(errors="replace")
            if names and not any(n in text for n in names):
                continue  # names none of the deleted files: no need to parse it
            if obj.exists() and any(stale(d) for d in _deps(text)):
                obj.unlink()
                removed.append(str(obj.relative_to(bd.out)))
        except OSError:
            continue
    return sorted(removed)
