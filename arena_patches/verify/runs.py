"""Each command's run: one stage alone, from typed options (options.py) to a typed result
that the CLI renders and whose `outcomes` give the exit code (core.verdicts.exit_code).
Nothing here parses arguments, prints, or exits."""
from __future__ import annotations

import re
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable

from arena_patches.checks import registry as checks_registry, run as checks_run
from arena_patches.checks.registry import CheckResult
from arena_patches.kbuild.matrix import BuildCell, BuildStats
from arena_patches.core.errors import UserError, bad_input
from arena_patches.core.model import Series
from arena_patches.core.verdicts import BootState, Status
from arena_patches.invariants import evaluate, rules
from arena_patches.mail import sources, spec as spec_mod
from arena_patches.review import claims as claims_mod, compare as versions, track
from arena_patches.tree import backport as backport_mod
from arena_patches.tree import debian, repo as tree_mod, tarball
from arena_patches.tree.apply import VersionResult
from arena_patches.verify import stages
from arena_patches.verify.options import BackportOptions, BootOptions, BuildOptions, ChecksOptions, ImportOptions, Inputs
from arena_patches.verify.stages import Progress


def series(o: Inputs) -> Series:
    with ExitStack() as stack:
        wr = stages.open_tree(stack, o.tree, o.work_dir)
        return stages.series_and_spec(o, wr)[1]


def apply(o: Inputs, progress: Progress | None = None) -> tuple[VersionResult, ...]:
    with ExitStack() as stack:
        wr = stages.open_tree(stack, o.tree, o.work_dir)
        s = stages.series_and_spec(o, wr)[1]
        return stages.apply_series(s, wr, stages.pick_versions(s, o.version), o.base, progress)


def apply_outcomes(results: Iterable[VersionResult]) -> list:
    return [p.status for r in results for p in r.patches]


@dataclass(frozen=True)
class BuildRun:
    cells: tuple[BuildCell, ...]
    stats: BuildStats

    @property
    def outcomes(self) -> list[Status]:
        return [c.status for c in self.cells]


def build(o: Inputs, b: BuildOptions, progress: Progress | None = None) -> BuildRun:
    """Without a source or a version: the tree as it is; else each version's patches."""
    with ExitStack() as stack:
        wr = stages.open_tree(stack, o.tree, o.work_dir, stages.runner_for(b.sandbox))
        if o.source is None and o.version is None:
            spec = stages.spec_or_bare(o.spec)
            cells, stats = stages.build_tree(spec, wr, wr.resolve("HEAD"), b.targets, b.toolchain,
                                             b.config, b.jobs, b.w1, progress, b.executor)
        else:
            spec, s = stages.series_and_spec(replace(o, source=o.source or "lore"), wr)
            applied = stages.apply_series(s, wr, stages.pick_versions(s, o.version or "all"), o.base, progress)
            cells, stats = stages.build_series(spec, s, wr, applied, b.targets, b.toolchain, b.config,
                                               b.jobs, b.w1, progress, b.executor, scratch=b.scratch)
    return BuildRun(tuple(cells), stats)


def boot(o: Inputs, b: BootOptions, progress: Progress | None = None) -> list:
    """The last applied patch of a version (with a source or a version), else the tree as it is."""
    with ExitStack() as stack:
        wr = stages.open_tree(stack, o.tree, o.work_dir, stages.runner_for(b.sandbox))
        version = patch = None
        spec = stages.spec_or_bare(o.spec)
        if o.source or o.version:
            spec, s = stages.series_and_spec(replace(o, source=o.source or "lore"), wr)
            if not s.versions and not o.version:
                raise bad_input(f"--source {o.source}", "holds no version of the series: nothing to boot")
            (n,) = stages.pick_versions(s, o.version or s.versions[-1].name)
            stages.boot_defaults(spec)  # no [boot]: said before any patch is applied
            v = s.version(n)
            if not v.patches:
                raise bad_input(f"--source {o.source}", f"{v.name} holds no patch (a cover letter alone): "
                                                        "nothing to boot")
            (r,) = stages.apply_series(s, wr, [n], o.base, progress)
            if r.head is None:
                first = min(p.number for p in v.patches)
                raise UserError(f"{v.name}: patch {first} does not apply, nothing to boot")
            commit, version = r.head, n
            patch = max(p.number for p in r.patches if p.commit)
            state = BootState(b.state or "after")
        else:
            commit, state = wr.resolve("HEAD"), BootState(b.state or "before")
        return stages.boot(spec, wr, commit, state, b.targets, b.toolchain, b.jobs, version, patch,
                           progress, b.executor)


@dataclass(frozen=True)
class DiffRun:
    comparisons: tuple
    reviews: tuple
    claims: tuple = ()  # review.claims.Judged of every step the comparisons span
    status: Status = Status.PASS
    summary: str = ""

    @property
    def outcomes(self) -> list[Status]:
        return [self.status]


def diff(o: Inputs, from_version: int | None = None, to_version: int | None = None) -> DiffRun:
    """Each consecutive pair (or the one asked for); reviews tracked over every pair."""
    s = stages.series_and_spec(o)[1]
    have = [v.version for v in s.versions]
    pairs = versions.consecutive(s)
    if from_version is not None or to_version is not None:
        a = from_version if from_version is not None else max(
            (n for n in have if n < to_version), default=None)
        b = to_version if to_version is not None else min((n for n in have if n > a), default=None)
        for n, what in ((a, "--from"), (b, "--to")):
            if n not in have:
                raise bad_input(f"{what} {n}", f"the source holds versions {have}")
        pairs = [(a, b)]
    all_pairs = {(a, b): versions.compare(s, a, b) for a, b in versions.consecutive(s)}
    comps = [all_pairs.get((a, b)) or versions.compare(s, a, b) for a, b in pairs]
    everything = claims_mod.judge_all(s)
    judged = [j for a, b in pairs for j in claims_mod.between(s, everything, a, b)]
    undoc = sum(1 for c in comps for p in c.patches if p.flag is versions.Flag.UNDOCUMENTED)
    status, text = claims_mod.summary(judged, undoc)
    if not comps:
        status, text = Status.SKIP, f"the source holds {len(have)} version(s): nothing to compare"
    return DiffRun(tuple(comps), tuple(track.track(s, all_pairs)), tuple(judged), status, text)


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def spec_draft(o: Inputs, name: str, out: str | None = None) -> Path:
    """Write the drafted spec of the series in the mails to series/NAME/spec.toml (or out)."""
    if not _NAME.match(name or ""):
        raise bad_input(f"--name {name!r}", "a series name is letters, digits, '.', '_' or '-'")
    if o.source in (None, "", "lore") and not o.spec:
        raise bad_input("--source", "spec draft reads the series from mails: pass --source PATH")
    path = Path(out) if out else Path("series") / name / "spec.toml"
    if path.exists():
        raise bad_input(str(path), "exists: a draft never overwrites a spec", "pass --out PATH")
    with ExitStack() as stack:
        wr = stages.open_tree(stack, o.tree, o.work_dir)
        text = stages.draft_text(o, wr, sources.read_unnamed(o.source), name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@dataclass(frozen=True)
class CheckRun:
    results: tuple
    judged: str | None = None  # the commit judged when the tree was taken as it is

    @property
    def outcomes(self) -> list[Status]:
        return [r.status for r in self.results]


def check(o: Inputs, files: str | None = None, progress: Progress | None = None) -> CheckRun:
    """The spec's invariants on loose files, on the tree as it is, or on each applied patch."""
    if files and not Path(files).is_dir():
        raise bad_input(f"--files {files}", "not a directory")
    read = None
    if o.spec is None and o.source and not files:  # the spec is the one the mails' Message-IDs name
        read = sources.read_unnamed(o.source)
        spec = spec_mod.matching({m.message_id for m in read[0]}) or stages.spec_or_bare(None)
    else:
        spec = stages.spec_or_bare(o.spec)
    rs = rules.from_spec(spec.raw, spec.path)
    if not rs:
        raise UserError(f"{spec.path}: the spec has no [[invariants]]",
                        None if o.spec else "check holds code against a spec's invariants: "
                        "pass --spec NAME (one under series/) or a spec file")
    if files:
        root = Path(files)
        return CheckRun(tuple(evaluate.over_texts(rs, evaluate.files_reader(root))))
    if not o.tree:
        raise UserError("check needs --tree T (with --source for the series' versions) or --files DIR")
    with ExitStack() as stack:
        wr = stages.open_tree(stack, o.tree, o.work_dir)
        if o.source or o.version:
            s = stages.load_series(spec, o.source or "lore", wr, read, series=o.series)
            applied = stages.apply_series(s, wr, stages.pick_versions(s, o.version), o.base, progress)
            return CheckRun(tuple(evaluate.over_versions(wr, rs, applied)))
        judged = wr.resolve("HEAD")
        return CheckRun(tuple(evaluate.over_texts(rs, evaluate.commit_reader(wr, judged))), judged)


@dataclass(frozen=True)
class ChecksRun:
    results: tuple[CheckResult, ...]

    @property
    def outcomes(self) -> list[Status]:
        return [r.status for r in self.results]


def checks(o: Inputs, c: ChecksOptions, progress: Progress | None = None) -> ChecksRun:
    """The registry's checks on each patch: applied first when there is a tree (checks
    that read only the mail run without one)."""
    chosen = checks_registry.select(c.names, not c.enabled)
    with ExitStack() as stack:
        wr = stages.open_tree(stack, o.tree, o.work_dir)
        _, s = stages.series_and_spec(o, wr)
        picked = stages.pick_versions(s, o.version)
        applied = stages.apply_series(s, wr, picked, o.base, progress) if wr and chosen else ()
        ctxs = checks_run.contexts(s, picked, applied, wr,
                                   None if wr or not o.work_dir else Path(o.work_dir).resolve() / "checks",
                                   head=wr.resolve("HEAD") if wr else None)
        return ChecksRun(tuple(checks_run.run(chosen, ctxs, progress)))


@dataclass(frozen=True)
class BackportRun:
    to: str
    target: str  # the stable commit the version was carried onto
    version: int
    patches: tuple
    build: BuildRun | None = None
    build_asked: bool = False

    @property
    def outcomes(self) -> list:
        return [p.status for p in self.patches] + (self.build.outcomes if self.build else [])


def backport(o: Inputs, b: BackportOptions, progress: Progress | None = None) -> BackportRun:
    with ExitStack() as stack:
        wr = stages.open_tree(stack, b.to, o.work_dir, stages.runner_for(b.sandbox))
        spec, s = stages.series_and_spec(o)
        if not s.versions:
            raise bad_input(f"--source {o.source}", "holds no version of the series: nothing to carry")
        (n,) = stages.pick_versions(s, o.version or s.versions[-1].name)
        upstream = tree_mod.open_user_tree(b.upstream).path if b.upstream else None
        target, patches = backport_mod.backport(wr, s.version(n), upstream, None, progress)
        built = None
        if b.build and not any(p.status.is_finding for p in patches):
            applied = (backport_mod.as_applied(s.version(n), target, patches),)
            cells, stats = stages.build_series(spec, s, wr, applied, b.targets, None, None, b.jobs, False,
                                               progress)
            built = BuildRun(tuple(cells), stats)
    return BackportRun(str(b.to), target, n, tuple(patches), built, b.build)


@dataclass(frozen=True)
class Imported:
    commit: str
    created: bool
    tarball: str
    left_out: tuple[str, ...]
    package: debian.Fetched | None = None


def import_tree(o: ImportOptions, progress: Progress | None = None) -> Imported:
    fetched = None
    path = o.tarball
    if debian.is_debian_ref(path):
        if progress:
            progress(f"fetching {path} from Debian {o.suite}")
        fetched = debian.fetch(path, suite=o.suite, mirror=o.mirror)
        path = fetched.tarball
    sha, created, left_out = tarball.import_tarball(
        path, o.dest, o.checkout, progress=(lambda n: progress(f"importing: {n} files")) if progress else None)
    return Imported(sha, created, str(path), tuple(left_out), fetched)
