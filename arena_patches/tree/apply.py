"""Version + tree -> per-patch apply results, as a chain of real commits.

Per version: choose a base (base.py), then apply patch 1..n in a detached worktree of the private clone, each onto
the commit of the one before, with `git apply` (3-way when plain fails) and commit it
with the mail's author, date and message. Commits are deterministic, so a re-run gives
the same ids and later stages can cache by them.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import unidiff

from arena_patches.core.model import Patch, Version
from arena_patches.core.cache import JsonCache
from arena_patches.core.paths import unquote
from arena_patches.core.verdicts import ApplyStatus
from arena_patches.tree.base import BaseRule, choose_base, substitute, version_base_blobs
from arena_patches.tree.repo import SHARED_WORKTREE, TOOL_IDENT, WorkRepo, git


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
    left_out: tuple[str, ...] = ()  # partial: the files not applied
    stands_in: str | None = None  # substituted: the Message-ID of the patch used
    on_partial: int | None = None  # applied on top of this partial patch of the version


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


# ---------------------------------------------------------------- applying

_PATH_LINE = re.compile(r'^(?:diff --git (a/\S+|"a/.*?(?<!\\)") (b/\S+|"b/.*")|--- (\S+|".*")|\+\+\+ (\S+|".*")'
                        r"|rename (?:from|to) (.+)|copy (?:from|to) (.+))$")


def unsafe_paths(p: Patch) -> list[str]:
    """Every path a diff names (git's C-quoted names decoded) that leaves the tree."""
    bad = []
    for line in p.diff.splitlines():
        m = _PATH_LINE.match(line)
        if not m:
            continue
        for i, path in enumerate(m.groups()):
            if path is None:
                continue
            path = unquote(path)
            if path == "/dev/null":
                continue
            if i < 4:  # diff --git, ---, +++: a/ and b/ prefixes
                path = re.sub(r"^[ab]/", "", path)
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


# git strips these from the ends of a name and refuses a name left empty
_CRUD = " .,:;<>\"\\'"
_CONTROL = re.compile(r"[\x00-\x1f\x7f<>]")


def _ident(p: Patch) -> tuple[str, str]:
    """The author as git will take it: a stranger's From: may hold NUL, newlines or a name
    of nothing but `<>`; git refuses those (exit 128) and the whole run was lost."""
    email = _CONTROL.sub("", p.author.email).strip(_CRUD)
    name = _CONTROL.sub("", p.author.name).strip(_CRUD)
    return name or email.split("@")[0].strip(_CRUD) or "unknown", email


def _commit(wt: Path, wr: WorkRepo, p: Patch) -> str:
    # the Date: header comes from a stranger: git gets the parsed time, never the raw text
    when = f"@{int(p.timestamp)} +0000" if p.timestamp and p.timestamp > 0 else "@0 +0000"
    name, email = _ident(p)
    env = {**TOOL_IDENT, "GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_AUTHOR_DATE": when,
           "GIT_COMMITTER_DATE": when}
    msg = f"{p.subject}\n\n{p.commit_message}".rstrip() + "\n\n"
    msg += "".join(f"{k}: {v}\n" for k, v in p.trailers) + f"Link: <{p.message_id}>\n"
    # git refuses a NUL in a commit message; the mail keeps it, the commit shows U+FFFD
    git(wr.runner, wt, "commit", "--quiet", "--no-verify", "--allow-empty", "-F", "-",
        env=env, input=msg.replace("\0", "\ufffd").encode("utf-8", "replace"))
    return git(wr.runner, wt, "rev-parse", "HEAD").stdout.strip()


def apply_patch(wr: WorkRepo, wt: Path, p: Patch, base_blobs: dict[str, str] | None = None) -> PatchResult:
    bad = unsafe_paths(p)
    if bad:
        return PatchResult(p.number, ApplyStatus.REFUSED, None,
                           tuple(Conflict(b, None) for b in bad),
                           "refused: the patch names paths outside the tree")
    diff = p.diff.encode()
    plain = git(wr.runner, wt, "apply", "--index", "--verbose", "-", input=diff, check=False)
    if plain.returncode == 0:
        return _links_out(wr, wt, p) or PatchResult(p.number, ApplyStatus.APPLIED, _commit(wt, wr, p))
    three = git(wr.runner, wt, "apply", "--index", "--3way", "-", input=diff, check=False)
    if three.returncode == 0:
        return _links_out(wr, wt, p) or PatchResult(p.number, ApplyStatus.APPLIED_3WAY, _commit(wt, wr, p))
    git(wr.runner, wt, "reset", "--quiet", "--hard", check=False)
    # Only the version's own base counts: a later patch's pre-image is made by the
    # earlier patches, and a mismatch there is a conflict within the series.
    base_blobs = base_blobs if base_blobs is not None else dict(p.base_blobs)
    missing = [(f, b) for f, b in p.base_blobs
               if base_blobs.get(f) == b and not wr.has_object(b)]
    conflicts = _conflicts(p, plain.stderr + "\n" + three.stderr + three.stdout)
    partial = _apply_files(wr, wt, p, dict(missing))
    if partial is not None:
        return partial
    if missing:
        what = ", ".join(f"{f} {b}" for f, b in missing)
        return PatchResult(p.number, ApplyStatus.BASE_MISSING, None, conflicts,
                           f"the tree lacks the patch's base blobs ({what}): it was made on a "
                           "tree this one does not contain")
    errors = sorted((l for l in plain.stderr.splitlines() if l.startswith("error:")),
                    key=lambda l: "patch failed" not in l)
    first = errors[0] if errors else (plain.stderr.strip().splitlines() or ["git apply failed"])[0]
    return PatchResult(p.number, ApplyStatus.CONFLICT, None, conflicts, first)


def _links_out(wr: WorkRepo, wt: Path, p: Patch) -> PatchResult | None:
    """A patch that leaves a symbolic link resolving outside the tree (a built kernel/a.c
    turned into a link to ~/.ssh/id_rsa: the next build reads it and prints it in its
    errors) is refused here, before any commit exists for a build to check out. Judged
    by where each link the patch touched resolves on disk, through the links on the way."""
    changed = git(wr.runner, wt, "diff", "--cached", "--name-only", "-z", "--no-renames",
                  check=False).stdout.split("\0")
    root = wt.resolve()
    out = []
    for path in filter(None, changed):
        f = wt / path
        if f.is_symlink() and not Path(os.path.realpath(f)).is_relative_to(root):
            out.append(Conflict(path, None))
    if not out:
        return None
    git(wr.runner, wt, "reset", "--quiet", "--hard", check=False)
    return PatchResult(p.number, ApplyStatus.REFUSED, None, tuple(out),
                       "refused: the patch leaves a symbolic link out of the tree at "
                       + ", ".join(c.file for c in out))


def _apply_files(wr: WorkRepo, wt: Path, p: Patch, missing: dict[str, str]) -> PatchResult | None:
    """File by file: the files that apply are applied and committed, the others named with
    why (their base blob is not in the tree). None unless some files apply and every file
    left out is one whose base the tree lacks."""
    done, left = [], []
    for path in dict.fromkeys(p.paths):
        one = ["--include", glob_escape(path)]
        r = git(wr.runner, wt, "apply", "--index", *one, "-", input=p.diff.encode(), check=False)
        if r.returncode != 0:
            r = git(wr.runner, wt, "apply", "--index", "--3way", *one, "-", input=p.diff.encode(), check=False)
        if r.returncode == 0:
            done.append(path)
        else:
            git(wr.runner, wt, "checkout", "-q", "HEAD", "--", path, check=False)
            git(wr.runner, wt, "reset", "-q", "--", path, check=False)
            left.append(f"{path} (base blob {missing[path]} is not in the tree)" if path in missing
                        else f"{path} (its hunks do not apply)")
    # partial only for a tree that lacks some files' bases (an older or moved tree); hunks
    # that do not fit a base the tree has are a conflict, and stay one
    if not done or not left or any(not x.endswith("is not in the tree)") for x in left):
        git(wr.runner, wt, "reset", "--quiet", "--hard", check=False)
        return None
    refused = _links_out(wr, wt, p)
    if refused:
        return refused
    commit = _commit(wt, wr, p)
    return PatchResult(p.number, ApplyStatus.PARTIAL, commit, detail=(
        f"partial: applied {', '.join(done)}; left out {', '.join(left)}"),
        left_out=tuple(x.split(" (")[0] for x in left))


def glob_escape(path: str) -> str:
    """A path as a git apply --include pattern that matches only itself."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", path)


def _cache_key(base: str, patches: list[Patch]) -> str:
    h = hashlib.sha256(base.encode())
    for p in patches:
        h.update(json.dumps([p.number, p.subject, p.commit_message, p.diff, str(p.author),
                             p.date, p.message_id, p.trailers]).encode())
    return h.hexdigest()[:32]


def apply_version(wr: WorkRepo, v: Version, base_flag: str | None = None,
                  progress: Callable[[str], None] | None = None,
                  others: list[Version] | None = None) -> VersionResult:
    total = max([v.total] + [p.number for p in v.patches])
    subs = {k: substitute(v, k, others or []) for k in range(1, total + 1) if v.patch(k) is None}
    used = [x[0] for x in subs.values() if x]
    # the version as it will be applied: a substitute's pre-images are the base's too
    effective = replace(v, patches=tuple(sorted(
        list(v.patches) + [replace(x[0], number=k) for k, x in subs.items() if x], key=lambda q: q.number)))
    base = choose_base(wr, effective, base_flag)
    warnings = [f"v{v.version}: {base.detail}"] if base.rule is BaseRule.HEAD else []
    cache, key = JsonCache(wr.root / "apply-cache"), _cache_key(base.commit, list(v.patches) + used)
    results = cache.get(key, _load)
    if results is not None and all(wr.resolve(r.commit) for r in results if r.commit):
        # (a clone rebuilt since lacks the commits: then it is applied again)
        return VersionResult(v.version, base.commit, base.rule, base.detail, results, tuple(warnings))
    results: list[PatchResult] = []
    base_blobs = version_base_blobs(effective)
    with wr.worktree(SHARED_WORKTREE, base.commit) as wt:
        broken: str | None = None
        partial: int | None = None
        for k in range(1, total + 1):
            p = v.patch(k)
            sub = subs.get(k)
            if p is None and (sub is None or broken):
                gap = f"skipped: patch {k}/{total} is missing from the source"
                results.append(PatchResult(k, ApplyStatus.SKIPPED, None, detail=gap))
                broken = broken or gap
                continue
            if broken:
                results.append(PatchResult(k, ApplyStatus.SKIPPED, None, detail=broken))
                continue
            if progress:
                progress(f"v{v.version} {k}/{total}")
            if p is None:
                cand, other, why = sub
                r = apply_patch(wr, wt, replace(cand, number=k), base_blobs)
                if r.commit:
                    r = replace(r, status=ApplyStatus.SUBSTITUTED, stands_in=cand.message_id,
                                detail=f"substituted: patch {k}/{total} is missing from the source; "
                                       f"v{other.version} {k}/{cand.total} <{cand.message_id}> stands in: {why}")
            else:
                r = apply_patch(wr, wt, p, base_blobs)
            if partial is not None and r.commit:
                r = replace(r, on_partial=partial, detail=(r.detail + "; " if r.detail else "")
                            + f"on top of the partial {partial}/{total}")
            if r.status is ApplyStatus.PARTIAL:
                partial = k
            results.append(r)
            if r.commit:
                # A ref in the private clone keeps the commit from being pruned.
                wr.git("update-ref", f"refs/arena-patches/{base.commit[:12]}/v{v.version}/{k}",
                       r.commit)
            if r.commit is None:
                broken = f"skipped: patch {k}/{total} did not apply ({r.status.value})"
    cache.put(key, [_dump(r) for r in results])
    return VersionResult(v.version, base.commit, base.rule, base.detail, tuple(results),
                         tuple(warnings))


def _dump(r: PatchResult) -> dict:
    return {"number": r.number, "status": r.status.value, "commit": r.commit,
            "conflicts": [{"file": c.file, "hunk": c.hunk} for c in r.conflicts],
            "detail": r.detail, "left_out": list(r.left_out), "stands_in": r.stands_in,
            "on_partial": r.on_partial}


def _load(data: list) -> tuple[PatchResult, ...]:
    return tuple(PatchResult(d["number"], ApplyStatus(d["status"]), d["commit"],
                             tuple(Conflict(c["file"], c["hunk"]) for c in d["conflicts"]),
                             d.get("detail", ""), tuple(d.get("left_out", ())),
                             d.get("stands_in"), d.get("on_partial")) for d in data)
