"""The verdict policy, in one place: every closed set of words a stage answers with, the
meaning on each word (`is_finding`, its `status`, the word a report shows), and the one
exit code every command derives from them.

Each enum's values are the words of the JSON documents, which never change; the enums
only give them their meaning. A stage's outcome is mapped onto `Status` by its `status`
property, and `exit_code` reads nothing but `Status`.
"""
from __future__ import annotations

import enum
from typing import Iterable


class Status(str, enum.Enum):
    """The closed set of verdict words used everywhere (JSON, JUnit, HTML)."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"

    @property
    def is_finding(self) -> bool:
        return self is Status.FAIL

    @property
    def is_trouble(self) -> bool:
        """Something to show: a finding, or a stage or cell that could not run."""
        return self in (Status.FAIL, Status.ERROR)

    @property
    def style(self) -> str:
        """The colour a terminal or HTML report gives the word."""
        return _STYLE[self]


_STYLE = {Status.PASS: "green", Status.WARN: "yellow", Status.FAIL: "red", Status.SKIP: "dim",
          Status.ERROR: "magenta"}


def overall(statuses: Iterable[Status]) -> Status:
    """What a run says as a whole: fail if anything failed, error if something could not
    run, skip if nothing was judged at all (the gate cannot say good), else pass (warn
    counts as judged and good enough to merge, as the report shows it)."""
    seen = set(statuses)
    if Status.FAIL in seen:
        return Status.FAIL
    if Status.ERROR in seen:
        return Status.ERROR
    if not seen & {Status.PASS, Status.WARN}:
        return Status.SKIP
    return Status.PASS


EXIT_OK, EXIT_FINDINGS, EXIT_INPUT, EXIT_INFRA = 0, 1, 2, 3
EXIT_FOR = {Status.PASS: EXIT_OK, Status.FAIL: EXIT_FINDINGS, Status.ERROR: EXIT_INFRA,
            Status.SKIP: EXIT_INFRA}


def exit_code(outcomes: Iterable) -> int:
    """The one exit policy: 0 all judged good, 1 findings, 3 a stage could not run or
    nothing was judged (2 is for input errors, raised before any judging). `outcomes`
    are `Status` words or any verdict of this module (each knows its `status`)."""
    return EXIT_FOR[overall([o if isinstance(o, Status) else o.status for o in outcomes])]


class ApplyStatus(str, enum.Enum):
    APPLIED = "applied"
    APPLIED_3WAY = "applied-3way"
    CONFLICT = "conflict"
    SKIPPED = "skipped"
    BASE_MISSING = "base-missing"
    REFUSED = "refused"  # the patch writes outside the tree (../, absolute paths)
    PARTIAL = "partial"  # some files applied, others left out (named, with why)
    SUBSTITUTED = "substituted"  # missing from the source; another version's patch k stands in

    @property
    def is_finding(self) -> bool:
        """A finding about the patch (it does not apply where it should)."""
        return self in (ApplyStatus.CONFLICT, ApplyStatus.BASE_MISSING, ApplyStatus.REFUSED)

    @property
    def is_notable(self) -> bool:
        """Worth a line in a report: a finding, or an application with a caveat."""
        return self.is_finding or self in (ApplyStatus.PARTIAL, ApplyStatus.SUBSTITUTED)

    @property
    def style(self) -> str:
        return _APPLY_STYLE[self]

    @property
    def status(self) -> Status:
        """As JUnit has always shown it: a patch that did not go in whole (skipped, partial)
        is not judged; 3-way and a substitute are applied."""
        if self.is_finding:
            return Status.FAIL
        return Status.SKIP if self in (ApplyStatus.SKIPPED, ApplyStatus.PARTIAL) else Status.PASS


_APPLY_STYLE = {ApplyStatus.APPLIED: "green", ApplyStatus.APPLIED_3WAY: "yellow", ApplyStatus.CONFLICT: "red",
                ApplyStatus.SKIPPED: "dim", ApplyStatus.BASE_MISSING: "magenta", ApplyStatus.REFUSED: "red",
                ApplyStatus.PARTIAL: "yellow", ApplyStatus.SUBSTITUTED: "cyan"}


class InvariantVerdict(str, enum.Enum):
    """An invariant across the versions, against the version whose changelog claims it."""

    AS_CLAIMED = "as-claimed"
    EARLIER = "earlier"
    LATER = "later"  # holds, but only from a version after the claimed one
    NEVER = "never"  # the newest judged version does not hold it
    REGRESSED = "regressed"  # held at the claimed version, the newest fails
    NOT_JUDGED = "n/a"

    @property
    def is_finding(self) -> bool:
        return self in (InvariantVerdict.LATER, InvariantVerdict.NEVER, InvariantVerdict.REGRESSED)

    @property
    def status(self) -> Status:
        if self.is_finding:
            return Status.FAIL
        return Status.SKIP if self is InvariantVerdict.NOT_JUDGED else Status.PASS


class ClaimVerdict(str, enum.Enum):
    """A changelog claim judged on the mails: `unjudged` is neither a finding nor a pass."""

    HOLDS = "holds"
    CONTRADICTED = "contradicted"
    UNJUDGED = "unjudged"

    @property
    def is_finding(self) -> bool:
        return self is ClaimVerdict.CONTRADICTED

    @property
    def status(self) -> "Status":
        return {ClaimVerdict.HOLDS: Status.PASS, ClaimVerdict.CONTRADICTED: Status.FAIL}.get(self, Status.SKIP)


class BackportStatus(str, enum.Enum):
    APPLIED = "applied"
    CONFLICT = "conflict"
    SKIPPED = "skipped"  # missing from the source, or an earlier patch did not apply

    @property
    def is_finding(self) -> bool:
        """What stands in the way of the backport: every patch that did not go in."""
        return self is not BackportStatus.APPLIED

    @property
    def status(self) -> Status:
        return Status.FAIL if self.is_finding else Status.PASS

    @property
    def style(self) -> str:
        return {BackportStatus.APPLIED: "green", BackportStatus.CONFLICT: "red"}.get(self, "dim")


class HunkStatus(str, enum.Enum):
    APPLIED = "applied"
    FAILED = "failed"


class HunkClass(str, enum.Enum):
    """Why a hunk does not go onto the stable tree."""

    CONTEXT_DRIFT = "context-drift"  # its own pre-image is there; the lines around moved
    FUNCTION_ABSENT = "function-absent"  # the function it edits is not in this tree
    FILE_ABSENT = "file-absent"
    PREIMAGE_ABSENT = "preimage-absent"
    REFUSED = "refused"  # its path leaves the tree


class BootState(str, enum.Enum):
    """Which expectations a boot is held against: the tree without the series, or with it."""

    BEFORE = "before"
    AFTER = "after"


class ProbeAnswer(str, enum.Enum):
    """The words the arena probe (boot/probe.c) answers with. The guest is untrusted:
    a word outside this set is kept as the guest printed it (and matches no expectation)."""

    OK = "ok"
    UNSUPPORTED = "unsupported"
    ERROR = "error"
    REJECTED = "rejected"
    ACCEPTED = "accepted"
    FAILED = "failed"
    SKIPPED = "skipped"

    @classmethod
    def read(cls, word: str) -> "ProbeAnswer | str":
        try:
            return cls(word)
        except ValueError:
            return word


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"
