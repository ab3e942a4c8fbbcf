"""Series specs: one TOML file per series (series/<name>/spec.toml at the top of the
checkout, shipped in the wheel as arena_patches/_series/<name>/spec.toml), read into
frozen records.

Only `[series] title` is required, so any series can be described; everything else
(versions and Message-IDs, merge facts, reviewer classes, and the sections later
stages read) is optional. Unknown sections are kept raw for the stages that own them.
"""
from __future__ import annotations

import email.utils
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arena_patches.core.errors import bad_input

# arena_patches/_series is a link to the checkout's series/ and, in a wheel, the copy of it
SERIES_DIR = Path(__file__).resolve().parent.parent / "_series"
DEFAULT_SPEC = "arena-kfuncs"  # what library callers get from load(); the CLI chooses by Message-ID


@dataclass(frozen=True)
class VersionSpec:
    version: int
    cover: str | None
    patches: tuple[str, ...] = ()
    related: tuple[str, ...] = ()

    @property
    def message_ids(self) -> tuple[str, ...]:
        return ((self.cover,) if self.cover else ()) + self.patches


@dataclass(frozen=True)
class MergedSpec:
    version: int | None
    merge: str | None
    commits: tuple[str, ...]
    tree: str | None


@dataclass(frozen=True)
class ReviewSpec:
    ai_review: tuple[str, ...] = ("bot+*-ci@kernel.org",)
    build_robot: tuple[str, ...] = ("lkp@intel.com",)
    maintainers: tuple[str, ...] = ()


@dataclass(frozen=True)
class BuildSpec:
    kconfig: tuple[str, ...] = ()  # options the series needs on top of the base config
    targets: tuple[str, ...] = ()  # default targets (all of them when empty)


@dataclass(frozen=True)
class SeriesSpec:
    id: str
    title: str
    list: str | None
    base_tree: str | None
    author: str | None
    versions: tuple[VersionSpec, ...]
    merged: MergedSpec | None
    reviews: ReviewSpec
    build: BuildSpec
    path: str
    raw: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def author_email(self) -> str | None:
        return email.utils.parseaddr(self.author)[1] or None if self.author else None

    def version_of_msgid(self, msgid: str) -> int | None:
        for v in self.versions:
            if msgid in v.message_ids:
                return v.version
        return None

    def all_message_ids(self) -> list[str]:
        return [m for v in self.versions for m in v.message_ids]

    def related_ids(self) -> set[str]:
        return {m for v in self.versions for m in v.related}


def _dirs() -> list[Path]:
    """Where named series live: ./series (a maintainer's own, drafted there) before the shipped."""
    local = Path.cwd() / "series"
    return [local, SERIES_DIR] if local.is_dir() and local.resolve() != SERIES_DIR.resolve() else [SERIES_DIR]


def shipped() -> list[str]:
    """The names of the series under series/."""
    return sorted({p.parent.name for d in _dirs() for p in d.glob("*/spec.toml")})


def path_of(name: str) -> Path:
    found = [d / name / "spec.toml" for d in _dirs() if (d / name / "spec.toml").is_file()]
    return found[0] if found else SERIES_DIR / name / "spec.toml"


def resolve(spec: str | None) -> Path:
    """A spec argument is a TOML file, a directory holding spec.toml, or the name of a
    series under series/."""
    if spec is not None and not spec.strip():
        raise bad_input("--spec ''", "an empty spec name", f"series shipped: {', '.join(shipped())}; "
                        "leave --spec out to choose the spec by the mails' Message-IDs")
    name = spec or DEFAULT_SPEC
    p = Path(name)
    if p.is_dir() and (p / "spec.toml").is_file():
        return p / "spec.toml"
    if p.suffix == ".toml" or p.exists() or "/" in name:
        return p
    return path_of(name)


def load(spec: str | None = None) -> SeriesSpec:
    path = resolve(spec)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise bad_input(str(path), "no such series spec", f"series shipped: {', '.join(shipped())}")
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise bad_input(str(path), f"not a valid TOML series spec ({e})")
    except RecursionError:  # tomllib recurses per level: the interpreter's depth is the bound
        raise bad_input(str(path), "not a usable series spec: nested too deep") from None
    except ValueError as e:  # a 5,000-digit integer
        raise bad_input(str(path), f"not a usable series spec ({str(e)[:120]})") from None
    except OSError as e:  # a directory, unreadable, ...
        raise bad_input(str(path), f"cannot be read as a series spec ({e.strerror or e})")
    return from_dict(data, str(path))


def matching(msgids: set[str]) -> SeriesSpec | None:
    """The shipped spec that names the most of these Message-IDs; None when none names any."""
    best, hits = None, 0
    for name in shipped():
        spec = load(str(path_of(name)))
        n = len(msgids & set(spec.all_message_ids()))
        if n > hits:
            best, hits = spec, n
    return best


def has_boot(spec: SeriesSpec) -> bool:
    """A boot probe is something a spec names: without [boot], nothing is booted."""
    return isinstance(spec.raw.get("boot"), dict) and bool(spec.raw["boot"])


def _strs(value: Any, what: str, path: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(x, str) for x in value):
        return tuple(value)
    raise bad_input(f"{path}: {what}", "must be a string or a list of strings")


def _msgid(s: str) -> str:
    return s.strip().strip("<>")


# what each top-level key must be; a stage that owns a section reads its inside
_SHAPES: dict[str, tuple[type, str]] = {
    "series": (dict, "a [series] table"), "versions": (list, "a list of [[versions]] tables"),
    "merged": (dict, "a [merged] table"), "reviews": (dict, "a [reviews] table"),
    "build": (dict, "a [build] table"), "boot": (dict, "a [boot] table"),
    "expect": (dict, "an [expect] table"), "invariants": (list, "a list of [[invariants]] tables")}
_SERIES_STRINGS = ("title", "id", "list", "base_tree", "author")


def _nul_in(value: Any, where: str) -> str | None:
    """The key of the first string holding a NUL, which no git argument or file name can
    carry (the title is one: git log --grep)."""
    if isinstance(value, str):
        return where if "\x00" in value else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for k, v in items:
        if (found := _nul_in(v, f"{where}.{k}" if where else str(k))):
            return found
    return None


def _check_shapes(data: dict[str, Any], path: str) -> None:
    if (key := _nul_in(data, "")):
        raise bad_input(f"{path}: {key}", "holds a NUL character")
    for key, (kind, what) in _SHAPES.items():
        if key in data and not isinstance(data[key], kind):
            raise bad_input(f"{path}: {key}", f"must be {what}, not {type(data[key]).__name__} "
                            f"{str(data[key])[:40]!r}")
        if kind is list and key in data and not all(isinstance(x, dict) for x in data[key]):
            raise bad_input(f"{path}: {key}", f"must be {what}")
    for key in _SERIES_STRINGS:
        v = data.get("series", {}).get(key)
        if v is not None and not isinstance(v, str):
            raise bad_input(f"{path}: series.{key}", f"must be a string, not {type(v).__name__}")
    boot = data.get("boot", {})
    if "targets" in boot:
        _strs(boot["targets"], "boot.targets", path)


def from_dict(data: dict[str, Any], path: str = "<spec>") -> SeriesSpec:
    s = data.get("series")
    if not isinstance(s, dict) or not isinstance(s.get("title"), str):
        raise bad_input(path, "the spec needs a [series] table with a title")
    _check_shapes(data, path)
    versions = []
    for i, v in enumerate(data.get("versions", [])):
        if not isinstance(v, dict) or not isinstance(v.get("version"), int):
            raise bad_input(path, f"[[versions]] entry {i + 1} needs an integer 'version'")
        versions.append(VersionSpec(
            version=v["version"],
            cover=_msgid(v["cover"]) if isinstance(v.get("cover"), str) else None,
            patches=tuple(_msgid(m) for m in _strs(v.get("patches"), "patches", path)),
            related=tuple(_msgid(m) for m in _strs(v.get("related"), "related", path))))
    m = data.get("merged")
    merged = None
    if isinstance(m, dict):
        merged = MergedSpec(version=m.get("version"), merge=m.get("merge"),
                            commits=_strs(m.get("commits"), "merged.commits", path),
                            tree=m.get("tree"))
    r = data.get("reviews", {})
    defaults = ReviewSpec()
    reviews = ReviewSpec(
        ai_review=_strs(r.get("ai_review"), "reviews.ai_review", path) or defaults.ai_review,
        build_robot=_strs(r.get("build_robot"), "reviews.build_robot", path) or defaults.build_robot,
        maintainers=_strs(r.get("maintainers"), "reviews.maintainers", path))
    b = data.get("build", {})
    build = BuildSpec(kconfig=_strs(b.get("kconfig"), "build.kconfig", path),
                      targets=_strs(b.get("targets"), "build.targets", path))
    return SeriesSpec(
        id=str(s.get("id") or Path(path).stem), title=s["title"], list=s.get("list"),
        base_tree=s.get("base_tree"), author=s.get("author"),
        versions=tuple(sorted(versions, key=lambda v: v.version)), merged=merged,
        reviews=reviews, build=build, path=path, raw=data)
