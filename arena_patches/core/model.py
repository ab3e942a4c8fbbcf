"""The series model: typed, frozen records that every stage passes along.

Stages exchange these dataclasses, never dicts of strings; JSON is made from them in
one place (report/jsonout.py) so the documented field names stay stable.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field


class ReplyKind(str, enum.Enum):
    AI_REVIEW = "ai-review"
    BUILD_ROBOT = "build-robot"
    MAINTAINER = "maintainer"
    AUTHOR = "author"


@dataclass(frozen=True)
class Person:
    name: str
    email: str

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


@dataclass(frozen=True)
class Message:
    """One mail as read from a source, decoded; `origin` names the file it came from."""

    message_id: str
    subject: str
    sender: Person
    date: str  # RFC 2822 as sent
    timestamp: float  # seconds since the epoch, 0.0 when the date is unreadable
    in_reply_to: str | None
    references: tuple[str, ...]
    body: str
    origin: str
    # Parsed from the subject by b4's rules.
    is_reply: bool
    is_patch_tag: bool
    revision: int
    revision_inferred: bool
    counter: int
    expected: int
    counters_inferred: bool
    resend: bool
    title: str  # the subject without [..] prefixes and reply markers
    has_diff: bool


@dataclass(frozen=True)
class FileStat:
    path: str
    added: int
    removed: int
    status: str  # added | removed | modified | renamed


@dataclass(frozen=True)
class Patch:
    number: int
    total: int
    message_id: str
    subject: str  # the title, without the [PATCH ...] tag
    author: Person
    date: str
    timestamp: float
    commit_message: str  # what git am would record as the body
    trailers: tuple[tuple[str, str], ...]
    diff: str  # the unified diff as sent
    files: tuple[FileStat, ...]
    base_blobs: tuple[tuple[str, str], ...]  # (path, abbreviated pre-image blob id)
    origin: str
    resent_ids: tuple[str, ...] = ()  # other messages that carried the same k/n
    post_blobs: tuple[tuple[str, str], ...] = ()  # (path, abbreviated post-image blob id)
    notes: str = ""  # what the author wrote below the "---" (a per-patch changelog), no diffstat

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(f.path for f in self.files)


@dataclass(frozen=True)
class Cover:
    message_id: str
    subject: str
    author: Person
    date: str
    body: str
    origin: str


@dataclass(frozen=True)
class Reply:
    message_id: str
    sender: Person
    date: str
    timestamp: float
    kind: ReplyKind
    version: int
    patch: int | None  # None: the cover letter (0/n) or the series as a whole
    in_reply_to: str | None
    subject: str
    excerpt: str  # the reply's own (unquoted) words, shortened
    body: str
    origin: str


@dataclass(frozen=True)
class Claim:
    """One line of a cover letter's changelog: "Changes in vA->vB", patch k, text, asker."""

    from_version: int
    to_version: int
    patch: int | None  # None: series-wide or no patch named
    text: str
    asked_by: str | None  # lower-case name as written ("ai", "alexei", "kernel test robot")
    sources: tuple[str, ...]  # Message-IDs or commit ids of the texts that carry this claim


@dataclass(frozen=True)
class VersionLink:
    """A cover letter's pointer to an earlier version ("v2: https://lore.../<msgid>/")."""

    version: int
    message_id: str
    cited_in: str


@dataclass(frozen=True)
class Version:
    version: int
    total: int
    cover: Cover | None
    cover_message_id: str | None  # known even when the cover itself is absent
    patches: tuple[Patch, ...]
    missing: tuple[int, ...]
    replies: tuple[Reply, ...]
    base_commit: str | None
    rfc: bool = False
    tag: int | None = None  # the version number its subject carries (None: as `version`)
    label: str = ""  # unique: "v2", and "v2#2" for a second posting tagged v2
    date: str = ""  # when it was sent (its cover's Date, else its first patch's)

    @property
    def name(self) -> str:
        return self.label or f"v{self.version}"

    def patch(self, number: int) -> Patch | None:
        for p in self.patches:
            if p.number == number:
                return p
        return None


@dataclass(frozen=True)
class Problem:
    """Something in the input that could not be read as mail or as a patch, kept for the report."""

    origin: str
    message: str


@dataclass(frozen=True)
class SeriesInfo:
    title: str
    list: str | None
    base_tree: str | None


@dataclass(frozen=True)
class Series:
    info: SeriesInfo
    versions: tuple[Version, ...]
    claims: tuple[Claim, ...]
    links: tuple[VersionLink, ...] = ()
    problems: tuple[Problem, ...] = ()
    ignored: tuple[str, ...] = ()  # Message-IDs read but not part of this series
    left_out: tuple[tuple[str, str], ...] = ()  # (Message-ID, why) of mails of other series

    def version(self, number: int) -> Version | None:
        for v in self.versions:
            if v.version == number:
                return v
        return None


@dataclass(frozen=True)
class RunRecord:
    """What one subprocess did: enough to show it, judge it and reproduce it."""

    argv: tuple[str, ...]
    cwd: str | None
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False
    env_overrides: tuple[tuple[str, str], ...] = field(default=())


@dataclass(frozen=True)
class Timing:
    """Where a run's time went: one stage (target None) or one target within a stage.
    `builds` counts the builds (and boots) that ran, `cache_hits` the answers a cache gave
    instead; ccache's counts are None where no compiler ran under it."""

    stage: str
    target: str | None
    seconds: float
    builds: int = 0
    cache_hits: int = 0
    ccache_hits: int | None = None
    ccache_misses: int | None = None
