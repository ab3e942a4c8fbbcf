"""What building one commit in one build directory gives (a CommitState), cached by
(tree id, target, config, toolchain, files), and how a patch is judged from the states
before and after it.

At each commit: `make vmlinux` (links, so a 32-bit undefined reference shows), its output
grouped per recipe, so what each compile said is known by object (ObjectDiagnostics keeps
it for the objects a later state does not compile again). A kernel .c file the version
touches that this make did not hear is compiled again on its own (a ccache hit replays
what it said): after a failed make, or in an O= dir another make wrote.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

from arena_patches.kbuild import diagnostics as dg
from arena_patches.kbuild.directory import GROUPED, VMLINUX, BuildDir
from arena_patches.kbuild.stale import SOURCE_STAMP, drop_stale
from arena_patches.core.cache import JsonCache
from arena_patches.core.paths import read_regular
from arena_patches.core.verdicts import Severity, Status
from arena_patches.tree.repo import WorkRepo
from arena_patches.tree.shared import SharedWorktree

COLD_TIMEOUT = 3600.0
STEP_TIMEOUT = 1800.0
_NOT_KERNEL = ("tools/", "samples/", "Documentation/", "scripts/", "usr/")


@dataclass(frozen=True)
class CommitState:
    """What building one commit for one target gave."""
    ok: bool
    errors: tuple[dg.Diagnostic, ...]
    warnings: tuple[dg.Diagnostic, ...]  # of the version's files, compiled on their own
    not_built: tuple[str, ...]  # the version's .c files this config does not compile
    failure: str  # the first make error line when no diagnostic names one
    compiles: int  # compiler invocations make issued for this state
    seconds: float
    timed_out: bool = False
    checker: tuple[dg.Diagnostic, ...] = ()  # sparse on the version's files (BuildDir.sparse)
    # the machine stopped the build (disk full, memory, compiler killed): dg.infra_failure's
    # line. Like a timeout, the state says nothing about the code and is never cached
    infra: str = ""
    # `warnings` by what said them: each of the files' objects this config builds, and the
    # lines no object's block holds (a by-name make's prepare: checksyscalls' #warning).
    # None: not known (a state cached before they were kept), so not restrictable
    by_object: tuple[tuple[str, tuple[dg.Diagnostic, ...]], ...] | None = None
    loose: tuple[dg.Diagnostic, ...] = ()

    @property
    def unknown(self) -> str:
        """Why this state's build says nothing about the tree ("" when it does)."""
        if self.timed_out:
            return f"timed out after {COLD_TIMEOUT:.0f} s"
        return f"not judged: the build ran out of the machine's disk or memory ({self.infra})" if self.infra else ""


def kernel_objects(paths: list[str]) -> list[str]:
    return sorted({p[:-2] + ".o" for p in paths if p.endswith(".c") and not p.startswith(_NOT_KERNEL)})


def _dedupe(ds: list[dg.Diagnostic]) -> list[dg.Diagnostic]:
    """Each identity once (its first line), in the order of file and line: with `make -j`
    (and its output grouped per recipe, printed as each recipe ends) the order a log holds
    them in is the order the compiles happened to end, which a cell must not depend on."""
    seen, out = set(), []
    for d in ds:
        if d.identity not in seen:
            seen.add(d.identity)
            out.append(d)
    return sorted(out, key=lambda d: (d.file, d.line or 0, d.column or 0, d.message, d.flag or ""))


def build_state(bd: BuildDir, objs: list[str], prev_not_built: frozenset[str] = frozenset(),
                cold: bool = False) -> CommitState:
    """Build what is checked out in the directory's worktree; `cold`: nothing built in O=
    yet (such a make runs alone in the pool it shares with other targets')."""
    # ccache's base_dir makes the compiler see paths relative to the O= dir
    roots = [str(bd.source), os.path.realpath(bd.source), os.path.relpath(bd.source, bd.out)]
    start = time.monotonic()
    if bd.scratch:
        bd.empty()
    # -k: a state's errors are all it has, not those make reached before it stopped; that
    # depends on -j and on what O= held (a cold build stops at the first broken object, one
    # on the state before compiles only what changed), and the cells must not
    r = bd.make(list(VMLINUX), COLD_TIMEOUT, alone=cold or bd.scratch)
    logs = [r.stdout + r.stderr]
    ok, timed_out = r.returncode == 0, r.timed_out
    said = ObjectDiagnostics(bd.out)
    heard = dg.by_object(logs[0], roots)
    compiles = len(heard)  # compiler invocations: one CC block each
    said.record(heard)
    present, not_built, per, again = _sort_objects(bd, objs, ok, prev_not_built, said)
    loose: list[dg.Diagnostic] = []
    if again:
        # compiled again on its own to hear it (a ccache hit replays the diagnostics)
        with _same_mtime(bd.out, again):
            r1 = bd.make(["-k", GROUPED, *again], STEP_TIMEOUT)  # one make for all; -k: every file speaks
        logs.append(r1.stdout + r1.stderr)
        ok = ok and r1.returncode == 0
        timed_out = timed_out or r1.timed_out
        heard = dg.by_object(logs[-1], roots)
        compiles += len(heard)
        said.record({o: heard[o] for o in again if o in heard}, forget=again)
        for o in again:
            per[o] = _warnings_of(heard.get(o, []))
        in_blocks = {d.identity for o in again for d in heard.get(o, [])}
        loose = [d for d in _warnings_of(dg.parse(logs[-1], roots)) if d.identity not in in_blocks]
    said.save()
    warnings = [d for o in sorted(per) for d in per[o]] + loose
    checker: list[dg.Diagnostic] = []
    if bd.sparse and present and not timed_out:
        r2 = bd.make(bd.checker_goals([o for o in present if (bd.out / o).exists()]), STEP_TIMEOUT)
        checker = dg.parse(r2.stdout + r2.stderr, roots)
    text = "\n".join(logs)
    errors = _dedupe([d for d in dg.parse(text, roots) if d.severity is Severity.ERROR])
    return CommitState(ok=ok, errors=tuple(errors), warnings=tuple(_dedupe(warnings)),
                       not_built=tuple(sorted(set(not_built))),
                       failure="" if ok else (dg.make_failure(text) or "make failed"),
                       compiles=compiles, seconds=time.monotonic() - start,
                       timed_out=timed_out, checker=tuple(_dedupe(checker)),
                       infra="" if ok else (dg.infra_failure(text) or ""),
                       by_object=tuple((o, tuple(_dedupe(per[o]))) for o in sorted(per)),
                       loose=tuple(_dedupe(loose)))


def _warnings_of(ds: list[dg.Diagnostic]) -> list[dg.Diagnostic]:
    return [d for d in ds if d.severity is Severity.WARNING]


def restrict(st: CommitState, objs: list[str]) -> CommitState | None:
    """The state as built for only these of its objects (a version's files, from a base
    built for the files of every version): their warnings, the loose ones, their files not
    built. None when the state does not know its warnings by object."""
    if st.by_object is None:
        return None
    keep = set(objs)
    per = tuple((o, ds) for o, ds in st.by_object if o in keep)
    return replace(st, warnings=tuple(_dedupe([d for _, ds in per for d in ds] + list(st.loose))),
                   not_built=tuple(f for f in st.not_built if f[:-2] + ".o" in keep), by_object=per)


def _sort_objects(bd: BuildDir, objs: list[str], ok: bool, prev_not_built: frozenset[str],
                  said: "ObjectDiagnostics") -> tuple[list[str], list[str], dict[str, list[dg.Diagnostic]], list[str]]:
    """The version's objects after the state's make: (present: this config builds them,
    not_built: their .c files it leaves out, the warnings known of each, again: those
    still to be heard, compiled by name)."""
    per: dict[str, list[dg.Diagnostic]] = {}
    not_built, present, again = [], [], []
    for obj in objs:
        if not (bd.source / (obj[:-2] + ".c")).exists():
            # deleted at this state: nothing to compile, and its object left in O= by an
            # earlier state (vmlinux no longer links it) must not be taken for a build
            continue
        built = bd.out / obj
        if ok and not built.exists():
            not_built.append(obj[:-2] + ".c")  # vmlinux linked without it: not in this config
            continue
        if not ok and not built.exists() and obj[:-2] + ".c" in prev_not_built:
            # `make file.o` compiles even what the config leaves out (arena.c on 32-bit):
            # when vmlinux did not build, the parent's answer says whether it belongs.
            not_built.append(obj[:-2] + ".c")
            continue
        present.append(obj)
        # vmlinux built: the object is what this state compiles, and what its compile said
        # is known, from this make or from the one that last wrote it
        known = said.get(obj) if ok else None
        if known is not None:
            per[obj] = known
        else:
            again.append(obj)
    return present, not_built, per, again


class ObjectDiagnostics:
    """What each object's last compile said, kept in O= beside the objects: its warnings,
    and the object's mtime when they were heard. An entry speaks for the object only while
    the object is the one it was heard for (same mtime): any compile since (another make,
    one that did not group its output) makes it silent, and the object is compiled again
    to be heard."""

    KEY = ".arena-patches-diagnostics"  # one entry of the JSON cache, in O= itself

    def __init__(self, out: Path):
        self.out, self.cache = out, JsonCache(out)
        got = self.cache.get(self.KEY)
        self.entries: dict = got if isinstance(got, dict) else {}

    def _mtime(self, obj: str) -> int | None:
        try:
            return (self.out / obj).lstat().st_mtime_ns
        except OSError:
            return None

    def get(self, obj: str) -> list[dg.Diagnostic] | None:
        e = self.entries.get(obj)
        m = self._mtime(obj)
        if not isinstance(e, dict) or m is None or e.get("mtime") != m:
            return None
        try:
            return [dg.from_dict(x) for x in e["warnings"]]
        except (KeyError, TypeError, ValueError):
            return None

    def record(self, heard: dict[str, list[dg.Diagnostic]], forget: list[str] = ()) -> None:
        """Keep what these objects' compiles said (those that left an object: a block is
        printed whole once its recipe ended), forget the `forget` ones not heard."""
        for obj in forget:
            self.entries.pop(obj, None)
        for obj, ds in heard.items():
            m = self._mtime(obj)
            self.entries.pop(obj, None)
            if m is not None:  # none: its compile failed, nothing to keep
                self.entries[obj] = {"mtime": m, "warnings": [dg.as_dict(d) for d in ds
                                                              if d.severity is Severity.WARNING]}

    def save(self) -> None:
        """Kept, or (O= full) none kept at all: never an older record beside newer objects."""
        try:
            self.cache.put(self.KEY, self.entries)
        except OSError:
            self.cache.path(self.KEY).unlink(missing_ok=True)


@contextmanager
def _same_mtime(out: Path, objs: list[str]) -> Iterator[None]:
    """The objects are removed, to be compiled again (a ccache hit replays the
    diagnostics); one that comes back byte-identical gets its old mtime back, so that the
    next make (the boot's image, or a state that changes nothing it depends on) does not
    relink vmlinux for it. One that `make vmlinux` had not made (a file this config leaves
    out, compiled by name when vmlinux failed) is removed again: O= stays as make left it,
    and a later state does not take it for part of the config. Objects are the tree's
    make's output: a link planted as one is neither read through nor touched through."""
    before = {}
    for obj in objs:
        f = out / obj
        try:
            before[f] = (read_regular(f), f.lstat().st_mtime_ns)
        except OSError:
            pass
        f.unlink(missing_ok=True)
    yield
    for f in (out / obj for obj in objs):
        try:
            if f not in before:
                f.unlink(missing_ok=True)
            elif read_regular(f) == before[f][0]:
                os.utime(f, ns=(before[f][1], before[f][1]), follow_symlinks=False)
        except OSError:
            pass


def _key(bd: BuildDir, tree_id: str, objs: list[str]) -> str:
    h = hashlib.sha256(json.dumps([tree_id, bd.target.name, bd.config.key, bd.toolchain_id, bd.w1,
                                   objs] + (["sparse"] if bd.sparse else [])).encode())
    return h.hexdigest()[:32]


def state_cache(root: Path) -> JsonCache:
    return JsonCache(root / "build-cache")


def state_at(bd: BuildDir, wr: WorkRepo, commit: str, objs: list[str], tree: SharedWorktree,
             prev: CommitState | None = None) -> tuple[CommitState, bool]:
    """The commit's state, from the cache (True) or built in the directory (False), with
    `tree` (the directory's worktree) held at the commit meanwhile. A build that timed out
    or that the machine stopped (CommitState.unknown) is never cached."""
    tree_id = wr.git("rev-parse", f"{commit}^{{tree}}").stdout.strip()
    cache = state_cache(wr.root)
    key = _key(bd, tree_id, objs)
    hit = cache.get(key, _load_state)
    if hit is not None:
        return hit, True
    with tree.at(commit):
        cold = not (bd.out / SOURCE_STAMP).exists()  # O= never built from any commit
        if not bd.scratch:
            drop_stale(bd, commit)  # make on this kbuild would keep them: see stale.py
        st = build_state(bd, objs, frozenset(prev.not_built) if prev else frozenset(), cold)
    if not st.unknown:
        cache.put(key, _dump_state(st))
    return st, False


def _dump_state(s: CommitState) -> dict:
    return {"ok": s.ok, "errors": [dg.as_dict(d) for d in s.errors],
            "warnings": [dg.as_dict(d) for d in s.warnings], "not_built": list(s.not_built),
            "failure": s.failure, "compiles": s.compiles, "seconds": s.seconds,
            "checker": [dg.as_dict(d) for d in s.checker],
            "by_object": None if s.by_object is None else [[o, [dg.as_dict(d) for d in ds]] for o, ds in s.by_object],
            "loose": [dg.as_dict(d) for d in s.loose]}


def _load_state(x: dict) -> CommitState:
    per = x.get("by_object")
    return CommitState(x["ok"], tuple(map(dg.from_dict, x["errors"])), tuple(map(dg.from_dict, x["warnings"])),
                       tuple(x["not_built"]), x["failure"], x["compiles"], x["seconds"],
                       checker=tuple(map(dg.from_dict, x.get("checker", []))),
                       by_object=None if per is None else tuple((o, tuple(map(dg.from_dict, ds))) for o, ds in per),
                       loose=tuple(map(dg.from_dict, x.get("loose", []))))


def judge(before: CommitState, after: CommitState,
          last_built: CommitState | None = None) -> tuple[Status, list, list, list]:
    """A patch's cell from the states before and after it: (status, errors, inherited, new
    warnings). A parent that did not build printed fewer warnings than it has, so warnings
    are also held against the last state that built (the fix of a broken patch does not
    "introduce" the base's warnings)."""
    had = {d.identity for d in before.errors}
    errors = [d for d in after.errors if d.identity not in had]
    inherited = [d for d in after.errors if d.identity in had]
    known = list(before.warnings) + (list(last_built.warnings) if last_built else [])
    new_w = dg.new_by_identity(list(after.warnings), known)
    if not after.ok:
        return Status.FAIL, errors, inherited, new_w
    return (Status.WARN if new_w else Status.PASS), [], [], new_w
