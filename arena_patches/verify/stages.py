"""The stages' entry points: the spec, the tree, the series, the versions applied, the
build matrix and the boots, each from typed inputs to typed outputs. `verify`
(compose.py) is their composition; each command (runs.py) runs one of them alone."""
from __future__ import annotations

from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Callable

from arena_patches.boot import stage as boot_stage
from arena_patches.boot.stage import BootResult
from arena_patches.kbuild import kconfig, matrix
from arena_patches.kbuild import targets as targets_mod
from arena_patches.core.errors import bad_input
from arena_patches.core.model import Series
from arena_patches.core.runner import DEFAULT, Runner
from arena_patches.core.verdicts import BootState
from arena_patches.mail import series as series_mod
from arena_patches.mail import sources
from arena_patches.mail import spec as spec_mod
from arena_patches.mail.spec import SeriesSpec
from arena_patches.review import claims, specdraft
from arena_patches.tree import repo as tree_mod
from arena_patches.tree.apply import VersionResult, apply_version

Progress = Callable[[str], None]


def series_and_spec(o, wr: tree_mod.WorkRepo | None = None) -> tuple[SeriesSpec, Series]:
    """The spec and the series of typed inputs (verify/options.Inputs). Without --spec, the
    spec is the one under series/ whose Message-IDs the source holds; when none names
    them, the series is read from its mails alone (a spec drafted from them)."""
    spec = load_spec(o.spec)
    if spec is not None:
        return spec, load_series(spec, o.source, wr, series=getattr(o, "series", None))
    read = sources.read_unnamed(o.source)
    spec = spec_mod.matching({m.message_id for m in read[0]})
    if spec is None:
        spec = drafted(o, wr, read)
    return spec, load_series(spec, o.source, wr, read, getattr(o, "series", None))


def drafted(o, wr, read, name: str = "drafted") -> SeriesSpec:
    """The spec `spec draft` would write for these mails, read back: a run without a spec
    behaves exactly as one with its draft."""
    return spec_mod.from_dict(specdraft.draft_dict(draft_text(o, wr, read, name)),
                              "<no spec: drafted from the mails>")


def draft_text(o, wr, read, name: str) -> str:
    bare = spec_mod.from_dict({"series": {"title": ""}}, "<no spec>")
    s = load_series(bare, o.source, wr, read, getattr(o, "series", None))
    return specdraft.draft_text(s, name, claims.judge_all(s), str(o.source))


def spec_or_bare(name: str | None) -> SeriesSpec:
    """For a run on the tree alone: the named spec, else one that assumes nothing."""
    return load_spec(name) or spec_mod.from_dict({"series": {"title": ""}}, "<no spec>")


def load_series(spec: SeriesSpec, source: str | None, wr: tree_mod.WorkRepo | None = None,
                read: tuple | None = None, series: str | None = None) -> Series:
    msgs, problems = read or sources.read(source, spec)
    extra = [(body, name, spec.merged.version if spec.merged else None)
             for name, body in merge_files(source, spec.title)]
    if wr is not None:
        merged = spec.merged
        for sha, body in tree_mod.merge_messages(wr, spec.title, merged.merge if merged else None):
            extra.append((body, sha, merged.version if merged else None))
    return series_mod.build(msgs, spec, problems, extra, pick=series)


def merge_files(source: str | None, title: str) -> list[tuple[str, str]]:
    """Merge commit messages kept as text files next to the mails (`merged/<sha>.txt`, as
    `git log --format=%B` prints them): (name, message) of those that carry the series'
    cover letter. No tree needed."""
    if not source or source == "lore":
        return []
    root = Path(source)
    if not root.is_dir():
        return []
    out = []
    for f in sorted(root.rglob("*.txt")):
        try:
            text = f.read_text(errors="replace")
        except OSError:
            continue
        if text.startswith("Merge ") and " ".join(title.lower().split()) in " ".join(text.lower().split()):
            out.append((f"file:{f.relative_to(root)}", text))
    return out


def pick_versions(s: Series, which: str | None) -> list[int]:
    """`--version`: 'all', or one version by the name the reports show it under ("v3", "3",
    "v2#2" for a second posting tagged v2). Read by name, never as the internal number: where
    two postings carry one tag the numbers are renumbered, and "3" must not pick the v2#2."""
    have = [v.version for v in s.versions]
    if which in (None, "", "all"):
        return have
    want = str(which).strip().lower()
    want = want if want.startswith("v") else "v" + want
    for v in s.versions:
        if v.name.lower() == want:
            return [v.version]
    names = ", ".join(v.name for v in s.versions) or "none"
    raise bad_input(f"--version {which}", f"the source holds versions {names}",
                    "name one as the reports show it (e.g. v3, or v2#2 for a second posting of v2), or 'all'")


def apply_series(s: Series, wr: tree_mod.WorkRepo, versions: list[int],
                 base: str | None = None, progress: Progress | None = None) -> tuple[VersionResult, ...]:
    out = []
    for n in versions:
        v = s.version(n)
        if v is None:
            continue
        out.append(apply_version(wr, v, base, progress, others=list(s.versions)))
    return tuple(out)


def runner_for(sandbox: bool) -> Runner:
    """The runner of a run that builds or boots: the tree's code sandboxed, unless --no-sandbox."""
    return DEFAULT if sandbox else Runner(sandbox=False)


def open_tree(stack: ExitStack, tree: str | None, work_dir: str | None,
              runner: Runner = DEFAULT) -> tree_mod.WorkRepo | None:
    if not tree:
        return None
    user = tree_mod.open_user_tree(tree, runner)
    # a relative --work-dir is taken from where the user stands, once: a clone made with
    # it must not nest itself inside its own work dir
    return stack.enter_context(tree_mod.work_repo(user, Path(work_dir).resolve() if work_dir else None,
                                                  runner))


def load_spec(name: str | None) -> SeriesSpec | None:
    """The spec --spec names; None when it names none (an empty name is an input error)."""
    return None if name is None else spec_mod.load(name)


def build_tree(spec: SeriesSpec, wr: tree_mod.WorkRepo, commit: str, targets: str | None,
               toolchain: str | None, config: str | None, jobs: int, w1: bool,
               progress: Progress | None = None, executor=None):
    chosen = targets_mod.select(targets, spec.build.targets or targets_mod.ORDER)
    cfg = kconfig.resolve(config, spec.build.kconfig)
    return matrix.tree_matrix(wr, commit, chosen, toolchain, cfg, jobs, w1, progress, executor)


def build_series(spec: SeriesSpec, s: Series, wr: tree_mod.WorkRepo, applied, targets: str | None,
                 toolchain: str | None, config: str | None, jobs: int, w1: bool,
                 progress: Progress | None = None, executor=None, boots: tuple[str, ...] = (),
                 scratch: bool = False, sparse: bool = False):
    """`boots`: the targets the boot stage will boot; with the default config, their
    matrix build carries what the boot needs, and the boot uses it (one kernel for both)."""
    chosen = targets_mod.select(targets, spec.build.targets or targets_mod.ORDER)
    cfg = kconfig.resolve(config, spec.build.kconfig)
    if cfg == kconfig.resolve(None, spec.build.kconfig) and not w1:
        cfg = replace(cfg, boots=frozenset(t.name for t in chosen if t.name in boots
                                           and not boot_stage.unbootable(t, toolchain)))
    return matrix.build_matrix(wr, s, applied, chosen, toolchain, cfg, jobs, w1, progress, executor, scratch,
                               sparse)


def boot_defaults(spec: SeriesSpec) -> tuple[str, ...]:
    if not spec_mod.has_boot(spec):
        raise bad_input(spec.path, "the spec has no [boot]: nothing says what to boot or probe",
                        "add a [boot] table with targets and expect answers to the series' spec")
    return tuple(spec.raw.get("boot", {}).get("targets", ())) or ("x86_64",)


def boot_names(spec: SeriesSpec, targets: str | None) -> tuple[str, ...]:
    """The targets `boot` will boot (--boot-targets, else the spec's)."""
    return tuple(t.name for t in targets_mod.select(targets, boot_defaults(spec)))


def boot(spec: SeriesSpec, wr: tree_mod.WorkRepo, commit: str, state: BootState, targets: str | None,
         toolchain: str | None, jobs: int, version: int | None = None, patch: int | None = None,
         progress: Progress | None = None, executor=None) -> list[BootResult]:
    chosen = targets_mod.select(targets, boot_defaults(spec))
    return boot_stage.boot_targets(wr, spec, chosen, toolchain, commit, state, version, patch, jobs,
                                   progress, executor)
