"""One finding type for every checker (checkpatch, sparse, kernel-doc, W=1, commit tags,
Coccinelle) and for the build's warnings: what was said, where, and an identity with no
line or column, so "new vs the parent" and "still there in v8" are set operations shared
by all of them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Hashable, Iterable, Protocol, TypeVar

from arena_patches.core.verdicts import Status


class HasIdentity(Protocol):
    @property
    def identity(self) -> Hashable: ...


T = TypeVar("T", bound=HasIdentity)


def new_by_identity(after: Iterable[T], before: Iterable[T]) -> list[T]:
    """What `after` says that `before` did not, each identity once, in `after`'s order."""
    seen_before = {d.identity for d in before}
    out, seen = [], set()
    for d in after:
        if d.identity not in seen_before and d.identity not in seen:
            seen.add(d.identity)
            out.append(d)
    return out


# "file.c:12:3", "line 12", "#12" inside a message: a message that names its own line
# would make the same finding a new one each time a patch moves code
_PATH_LINE = re.compile(r"(?<![\w.])([\w./-]+\.[chS]):\d+(?::\d+)?(?!\w)")
_LINE_WORD = re.compile(r"(\blines? |#)\d+\b")


def without_lines(message: str) -> str:
    """The message with the line numbers it names left out ("line N")."""
    return _LINE_WORD.sub(lambda m: f"{m.group(1)}N", _PATH_LINE.sub(r"\1", message)).strip()


@dataclass(frozen=True)
class Finding:
    """One thing a checker said. `line` says where, for a human; the identity leaves it out.
    `version`/`patch` are filled in by whoever ran the checker on that patch; `new` is
    False when the parent already had it; `first_seen`/`gone_in` ("v3 2/4") are where it
    appeared first and where it went away across the versions."""

    check: str
    status: Status  # warn or fail
    type: str  # the checker's own code: checkpatch's type, a -W flag, a sparse/cocci name
    file: str  # a path in the tree; "" for the commit message
    message: str
    line: int | None = None
    version: int | None = None
    patch: int | None = None
    new: bool = True
    first_seen: str | None = None
    gone_in: str | None = None

    @property
    def identity(self) -> tuple[str, str, str, str]:
        return (self.check, self.file, self.type, self.message)

    def at(self, version: int | None, patch: int | None, **kw) -> "Finding":
        return replace(self, version=version, patch=patch, **kw)

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        return f"{where or '(commit message)'}: {self.type}: {self.message}"
