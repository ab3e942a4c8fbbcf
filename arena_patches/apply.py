"""Version + tree -> per-patch apply results, as a chain of real commits.

Per version: choose a base (--base, the base-commit: trailer, the pre-image blobs, or
HEAD), then apply patch 1..n in a detached worktree of the private clone, each onto
the commit of the one before, with `git apply` (3-way when plain fails) and commit it
with the mail's author, date and message. Commits are deterministic, so a re-run gives
the same ids and later stages can cache by them.
"""
from __future__ import annotations

import enum
import json
import re
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import unidiff

from .model import Patch, Version
from .tree import TOOL_IDENT, WorkRepo, git


class ApplyStatus(str, enum.Enum):
    APPLIED = "applied"
    APPLIED_3WAY = "applied-3way"
    CONFLICT = "conflict"
    SKIPPED = "skipped"
    BASE_MISSING = "base-missing"
    REFUSED = "refused"  # the patch writes outside the tree (../, absolute paths)


class BaseRule(str, enum.Enum):
    FLAG = "flag"
    BASE_COMMIT = "base-commit"
    BLOB_GUESS = "blob-guess"
    HEAD = "head"


@dataclass(frozen=True)
class Conflict:
    file: str
    hunk: str | None  # the @@ header of the hunk that failed, when git names a line


@dataclass(frozen=True)
class PatchResult:
    number: int
    status: ApplyStatus
    commit: str | None
    conflicts: tuple[Conflict, ...] = ()
    detail: str = ""


@dataclass(frozen=True)
class BaseChoice:
    commit: str
    rule: BaseRule
    detail: str


@dataclass(frozen=True)
class VersionResult:
    version: int
    base: str
    base_rule: BaseRule
    base_detail: str
    patches: tuple[PatchResult, ...]
    warnings: tuple[str, ...] = field(default=())

    @property
    def head(self) -> str | None:
        """The last commit of the unbroken chain from patch 1."""
        last = None
        for p in self.patches:
            if p.commit is None:
                break
            last = p.commit
        return last


# ---------------------------------------------------------------- base selection

def _blob_guess(wr: WorkRepo, v: Version) -> tuple[str, str] | None:
    """The newest commit whose files have every pre-image blob the patches name
    (b4's guess-base idea: the index lines say which file contents a patch was made on)."""
    wanted = version_base_blobs(v)
    if not wanted:
        return None
    head = wr.resolve("HEAD")
    if head and _matches(wr, head, wanted):
        return head, "HEAD has every pre-image blob"
    path, blob = next(iter(wanted.items()))
    r = wr.git("log", "--all", "--format=%H", "--raw", "--no-abbrev", "-n", "5000", "--", path,
               check=False, timeout=600)
    current = None
    for line in r.stdout.splitlines():
        if re.fullmatch(r"[0-9a-f]{40}", line):
            current = line
        elif line.startswith(":") and current:
            fields = line.split()
            if fields[3].startswith(blob) and _matches(wr, current, wanted):
                return current, f"{path} is blob {blob} at this commit"
    return None


def _matches(wr: WorkRepo, commit: str, wanted: dict[str, str]) -> bool:
    r = wr.git("ls-tree", commit, "--", *wanted.keys(), check=False)
    found = {}
    for line in r.stdout.splitlines():
        meta, path = line.split("\t", 1)
        found[path] = meta.split()[2]
    return all(found.get(p, "").startswith(b) for p, b in wanted.items())


def choose_base(wr: WorkRepo, v: Version, flag: str | None = None) -> BaseChoice:
    if flag:
        sha = wr.resolve(flag)
        if not sha:
            from .errors import bad_input
            raise bad_input(f"--base {flag}", f"no such commit in {wr.user.path}")
        return BaseChoice(sha, BaseRule.FLAG, f"--base {flag}")
    if v.base_commit and (sha := wr.resolve(v.base_commit)):
        return BaseChoice(sha, BaseRule.BASE_COMMIT, f"base-commit: {v.base_commit}")
    guess = _blob_guess(wr, v)
    if guess:
        return BaseChoice(guess[0], BaseRule.BLOB_GUESS, guess[1])
    head = wr.resolve("HEAD")
    why = (f"base-commit {v.base_commit} is not in the tree; " if v.base_commit else "") + \
        "no commit has the patches' pre-image blobs; using HEAD"
    return BaseChoice(head, BaseRule.HEAD, why)


# ---------------------------------------------------------------- applying

def unsafe_paths(p: Patch) -> list[str]:
    bad = []
    for line in p.diff.splitlines():
        m = re.match(r"^(?:diff --git a/(\S+) b/(\S+)|--- (\S+)|\+\+\+ (\S+)|rename (?:from|to) (.+)"
                     r"|copy (?:from|to) (.+))$", line)
        if not m:
            continue
        for path in filter(None, m.groups()):
            if path == "/dev/null":
                continue
            path = re.sub(r"^[ab]/", "", path) if line.startswith(("---", "+++")) else path
            if path.startswith("/") or ".." in path.split("/"):
                bad.append(path)
    return sorted(set(bad))


def hunk_header(h: unidiff.Hunk) -> str:
    return (f"@@ -{h.source_start},{h.source_length} +{h.target_start},{h.target_length} @@"
            + (f" {h.section_header}" if h.section_header else ""))


def _hunk_headers(p: Patch) -> dict[str, list[tuple[int, str]]]:
    out: dict[str, list[tuple[int, str]]] = {}
    try:
        for pf in unidiff.PatchSet(p.diff):
            out[pf.path] = [(h.source_start, hunk_header(h)) for h in pf]
    except unidiff.UnidiffParseError:
        pass
    return out


def _conflicts(p: Patch, output: str) -> tuple[Conflict, ...]:
    """Which file and hunk git could not place, from `git apply` messages."""
    hunks = _hunk_headers(p)
    out: list[Conflict] = []
    for m in re.finditer(r"^error: patch failed: (.+):(\d+)$", output, re.M):
        path, line = m.group(1), int(m.group(2))
        hdr = next((h for start, h in hunks.get(path, []) if start == line), None)
        out.append(Conflict(path, hdr))
    for m in re.finditer(r"^(?:error: )?(.+?): (?:does not exist in index|No such file or directory)$",
                         output, re.M):
        out.append(Conflict(m.group(1), None))
    for m in re.finditer(r"^U (.+)$", output, re.M):
        out.append(Conflict(m.group(1), None))
    for m in re.finditer(r"^CONFLICT \([^)]*\): .*? in (.+)$", output, re.M):
        out.append(Conflict(m.group(1), None))
    seen, uniq = set(), []
    for c in out:
        if (c.file, c.hunk) not in seen and not (c.hunk is None and any(
                x.file == c.file for x in out if x.hunk)):
            seen.add((c.file, c.hunk))
            uniq.append(c)
    return tuple(uniq) or tuple(Conflict(f, None) for f in p.paths)


def _commit(wt: Path, wr: WorkRepo, p: Patch) -> str:
    # the Date: header comes from a stranger: git gets the parsed time, never the raw text
    when = f"@{int(p.timestamp)} +0000" if p.timestamp and p.timestamp > 0 else "@0 +0000"
    env = {**TOOL_IDENT, "GIT_AUTHOR_NAME": p.author.name or p.author.email,
           "GIT_AUTHOR_EMAIL": p.author.email, "GIT_AUTHOR_DATE": when,
           "GIT_COMMITTER_DATE": when}
    msg = f"{p.subject}\n\n{p.commit_message}".rstrip() + "\n\n"
    msg += "".join(f"{k}: {v}\n" for k, v in p.trailers) + f"Link: <{p.message_id}>\n"
    git(wr.runner, wt, "commit", "--quiet", "--no-verify", "--allow-empty", "-F", "-",
        env=env, input=msg.encode())
    return git(wr.runner, wt, "rev-parse", "HEAD").stdout.strip()


def version_base_blobs(v: Version) -> dict[str, str]:
    """The pre-image blob of each file where the series first touches it: the base."""
    wanted: dict[str, str] = {}
    for p in v.patches:
        for path, blob in p.base_blobs:
            wanted.setdefault(path, blob)
    return wanted


def apply_patch(wr: WorkRepo, wt: Path, p: Patch, base_blobs: dict[str, str] | None = None) -> PatchResult:
    bad = unsafe_paths(p)
    if bad:
        return PatchResult(p.number, ApplyStatus.REFUSED, None,
                           tuple(Conflict(b, None) for b in bad),
                           "refused: the patch names paths outside the tree")
    diff = p.diff.encode()
    plain = git(wr.runner, wt, "apply", "--index", "--verbose", "-", input=diff, check=False)
    if plain.returncode == 0:
        return PatchResult(p.number, ApplyStatus.APPLIED, _commit(wt, wr, p))
    three = git(wr.runner, wt, "apply", "--index", "--3way", "-", input=diff, check=False)
    if three.returncode == 0:
        return PatchResult(p.number, ApplyStatus.APPLIED_3WAY, _commit(wt, wr, p))
    git(wr.runner, wt, "reset", "--quiet", "--hard", check=False)
    # Only the version's own base counts: a later patch's pre-image is made by the
    # earlier patches, and a mismatch there is a conflict within the series.
    base_blobs = base_blobs if base_blobs is not None else dict(p.base_blobs)
    missing = [(f, b) for f, b in p.base_blobs
               if base_blobs.get(f) == b and not wr.has_object(b)]
    conflicts = _conflicts(p, plain.stderr + "\n" + three.stderr + three.stdout)
    if missing:
        what = ", ".join(f"{f} {b}" for f, b in missing)
        return PatchResult(p.number, ApplyStatus.BASE_MISSING, None, conflicts,
                           f"the tree lacks the patch's base blobs ({what}): it was made on a "
                           "tree this one does not contain")
    errors = sorted((l for l in plain.stderr.splitlines() if l.startswith("error:")),
                    key=lambda l: "patch failed" not in l)
    first = errors[0] if errors else (plain.stderr.strip().splitlines() or ["git apply failed"])[0]
    return PatchResult(p.number, ApplyStatus.CONFLICT, None, conflicts, first)


def _cache_key(base: str, patches: list[Patch]) -> str:
    h = hashlib.sha256(base.encode())
    for p in patches:
        h.update(json.dumps([p.number, p.subject, p.commit_message, p.diff, str(p.author),
                             p.date, p.message_id, p.trailers]).encode())
    return h.hexdigest()[:32]


def apply_version(wr: WorkRepo, v: Version, base_flag: str | None = None,
                  progress: Callable[[str], None] | None = None) -> VersionResult:
    base = choose_base(wr, v, base_flag)
    warnings = [f"v{v.version}: {base.detail}"] if base.rule is BaseRule.HEAD else []
    total = max([v.total] + [p.number for p in v.patches])
    cache = wr.root / "apply-cache" / f"{_cache_key(base.commit, list(v.patches))}.json"
    if cache.exists():
        results = _load_cached(cache, wr)
        if results is not None:
            return VersionResult(v.version, base.commit, base.rule, base.detail, results,
                                 tuple(warnings))
    results: list[PatchResult] = []
    base_blobs = version_base_blobs(v)
    with wr.worktree("apply", base.commit) as wt:
        broken: str | None = None
        for k in range(1, total + 1):
            p = v.patch(k)
            if p is None:
                gap = f"skipped: patch {k}/{total} is missing from the source"
                results.append(PatchResult(k, ApplyStatus.SKIPPED, None, detail=gap))
                broken = broken or gap
                continue
            if broken:
                results.append(PatchResult(k, ApplyStatus.SKIPPED, None, detail=broken))
                continue
            if progress:
                progress(f"v{v.version} {k}/{total}")
            r = apply_patch(wr, wt, p, base_blobs)
            results.append(r)
            if r.commit:
                # A ref in the private clone keeps the commit from being pruned.
                wr.git("update-ref", f"refs/arena-patches/{base.commit[:12]}/v{v.version}/{k}",
                       r.commit)
            if r.commit is None:
                broken = f"skipped: patch {k}/{total} did not apply ({r.status.value})"
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps([_dump(r) for r in results]))
    return VersionResult(v.version, base.commit, base.rule, base.detail, tuple(results),
                         tuple(warnings))


def _dump(r: PatchResult) -> dict:
    return {"number": r.number, "status": r.status.value, "commit": r.commit,
            "conflicts": [{"file": c.file, "hunk": c.hunk} for c in r.conflicts],
            "detail": r.detail}


def _load_cached(path: Path, wr: WorkRepo) -> tuple[PatchResult, ...] | None:
    try:
        data = json.loads(path.read_text())
        results = tuple(PatchResult(d["number"], ApplyStatus(d["status"]), d["commit"],
                                    tuple(Conflict(c["file"], c["hunk"]) for c in d["conflicts"]),
                                    d.get("detail", "")) for d in data)
    except (OSError, ValueError, KeyError):
        return None
    if any(r.commit and not wr.resolve(r.commit) for r in results):
        return None  # the clone was rebuilt: recompute
    return results
