"""Where a version goes: its base commit (--base, the base-commit: trailer, the commit
holding the most of its patches' pre-image blobs, or HEAD), and which other version's
patch may stand in for one missing from the source (its post-image blobs are exactly the
next patch's pre-image). Both read only the index lines of the mails and the tree.
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from arena_patches.core.errors import bad_input
from arena_patches.core.model import Patch, Version
from arena_patches.tree.repo import WorkRepo


class BaseRule(str, enum.Enum):
    FLAG = "flag"
    BASE_COMMIT = "base-commit"
    BLOB_GUESS = "blob-guess"
    HEAD = "head"


@dataclass(frozen=True)
class BaseChoice:
    commit: str
    rule: BaseRule
    detail: str


def version_base_blobs(v: Version) -> dict[str, str]:
    """The pre-image blob of each file where the series first touches it: the base."""
    wanted: dict[str, str] = {}
    for p in v.patches:
        for path, blob in p.base_blobs:
            wanted.setdefault(path, blob)
    return wanted


def _blob_guess(wr: WorkRepo, v: Version) -> tuple[str, str] | None:
    """The commit holding the most of the version's pre-image blobs (b4's guess-base idea,
    per file: the index lines say which file contents a patch was made on). Ties go to the
    newest. None when no commit holds any."""
    wanted = version_base_blobs(v)
    if not wanted:
        return None
    head = wr.resolve("HEAD")
    candidates: list[str] = [head] if head else []
    for path, blob in wanted.items():
        # the user's history only: the tool's own refs (applied patches) are not a base
        r = wr.git("log", "--branches", "--tags", "HEAD", "--format=%H", "--raw", "--no-abbrev", "-n", "2000",
                   "--", path, check=False, timeout=600)
        current = None
        for line in r.stdout.splitlines():
            if re.fullmatch(r"[0-9a-f]{40}", line):
                current = line
            elif line.startswith(":") and current and line.split()[3].startswith(blob) \
                    and current not in candidates:
                candidates.append(current)
    best, best_hits = None, []
    for c in candidates:  # in order: HEAD, then newest first per file
        hits = _matching(wr, c, wanted)
        if len(hits) > len(best_hits) or (len(hits) == len(best_hits) and best is not None and hits
                                           and _newer(wr, c, best)):
            best, best_hits = c, hits
    if best is None or not best_hits:
        return None
    if len(best_hits) == len(wanted):
        return best, ("HEAD has every pre-image blob" if best == head else
                      f"every pre-image blob is here ({', '.join(sorted(best_hits))})")
    missing = sorted(set(wanted) - set(best_hits))
    return best, (f"{len(best_hits)} of {len(wanted)} pre-image blobs are here "
                  f"(matched: {', '.join(sorted(best_hits))}; not in any commit: {', '.join(missing)})")


def _newer(wr: WorkRepo, a: str, b: str) -> bool:
    r = wr.git("log", "--no-walk", "--format=%ct", a, b, check=False)
    times = r.stdout.split()
    return len(times) == 2 and int(times[0]) > int(times[1])


def _matching(wr: WorkRepo, commit: str, wanted: dict[str, str]) -> list[str]:
    r = wr.git("ls-tree", commit, "--", *wanted.keys(), check=False)
    found = {}
    for line in r.stdout.splitlines():
        meta, path = line.split("\t", 1)
        found[path] = meta.split()[2]
    return [p for p, b in wanted.items() if found.get(p, "").startswith(b)]


def _matches(wr: WorkRepo, commit: str, wanted: dict[str, str]) -> bool:
    return len(_matching(wr, commit, wanted)) == len(wanted)


def choose_base(wr: WorkRepo, v: Version, flag: str | None = None) -> BaseChoice:
    if flag:
        sha = wr.resolve_user(flag)
        if not sha:
            raise bad_input(f"--base {flag}", f"no such commit in {wr.user.path}")
        return BaseChoice(sha, BaseRule.FLAG, f"--base {flag}")
    if v.base_commit and (sha := wr.resolve_user(v.base_commit)):
        return BaseChoice(sha, BaseRule.BASE_COMMIT, f"base-commit: {v.base_commit}")
    guess = _blob_guess(wr, v)
    if guess:
        return BaseChoice(guess[0], BaseRule.BLOB_GUESS, guess[1])
    head = wr.resolve("HEAD")
    why = (f"base-commit {v.base_commit} is not in the tree; " if v.base_commit else "") + \
        "no commit has the patches' pre-image blobs; using HEAD"
    return BaseChoice(head, BaseRule.HEAD, why)


def substitute(v: Version, k: int, others: list[Version]) -> tuple[Patch, Version, str] | None:
    """Another version's patch k, when the mails prove it equivalent for what follows: its
    post-image blobs are exactly the pre-image blobs of this version's next patch."""
    nxt = next((v.patch(j) for j in range(k + 1, max([v.total] + [p.number for p in v.patches]) + 1)
                if v.patch(j)), None)
    if nxt is None:
        return None
    pre = dict(nxt.base_blobs)
    for o in sorted(others, key=lambda o: abs(o.version - v.version)):
        cand = o.patch(k)
        if cand is None or o.version == v.version:
            continue
        shared = {f: b for f, b in cand.post_blobs if f in pre}
        if shared and all(_same_blob(b, pre[f]) for f, b in shared.items()):
            why = "; ".join(f"its post-image of {f} ({b}) is v{v.version} {nxt.number}/{nxt.total}'s "
                            f"pre-image" for f, b in sorted(shared.items()))
            return cand, o, why
    return None


def _same_blob(a: str, b: str) -> bool:
    n = min(len(a), len(b))
    return n >= 7 and a[:n] == b[:n]
