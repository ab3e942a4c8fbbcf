"""Every changelog claim judged on the mails, with no tree: a kind drafted from its text
(one reader and one judge per kind, registered with @kind like the invariants' rule
kinds), judged against the interdiff of its version and the one before and against the
version's own patches. `unjudged` says why; it is never a finding and never a pass.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from arena_patches.core.model import Claim, Series
from arena_patches.core.verdicts import ClaimVerdict, Status
from arena_patches.review.claims.scope import Scope, scope_of


@dataclass(frozen=True)
class Judged:
    claim: Claim
    version: str  # the label of the version whose changelog makes the claim
    against: str  # the label of the version it is written against
    kind: str
    verdict: ClaimVerdict
    evidence: str  # the line that decides, or why it was not judged
    args: tuple[str, ...] = ()  # what the reader took from the text (rename: A, B)


@dataclass(frozen=True)
class Kind:
    name: str
    read: Callable[[str], tuple[str, ...] | None]  # the claim's text -> its arguments, or None
    judge: Callable[[Scope, tuple[str, ...]], tuple[ClaimVerdict, str]]


KINDS: list[Kind] = []  # in the order they are tried: the first whose reader takes the text wins


def kind(name: str, pattern: str | None = None, read: Callable[[str], tuple[str, ...] | None] | None = None):
    """Register a judge; its reader is `read`, or a case-insensitive regex whose groups are
    the arguments."""
    rx = re.compile(pattern, re.I) if pattern else None

    def by_regex(text: str) -> tuple[str, ...] | None:
        m = rx.search(text) if rx else None
        return tuple(g or "" for g in m.groups()) if m else None

    def register(judge):
        KINDS.append(Kind(name, read or by_regex, judge))
        return judge
    return register


OTHER = "other"


def draft(text: str) -> tuple[str, tuple[str, ...]]:
    """The kind a claim's text reads as, and its arguments; "other" when no kind fits."""
    from arena_patches.review.claims import kinds  # noqa: F401  (registers the kinds)
    for k in KINDS:
        args = k.read(text)
        if args is not None:
            return k.name, args
    return OTHER, ()


def judge_claim(s: Series, c: Claim) -> Judged:
    name, args = draft(c.text)
    a, b = s.version(c.from_version), s.version(c.to_version)
    labels = (a.name if a else f"v{c.from_version}", b.name if b else f"v{c.to_version}")
    if name == OTHER:
        return Judged(c, labels[1], labels[0], name, ClaimVerdict.UNJUDGED,
                      "no claim kind fits its words: not judged", args)
    sc, why = scope_of(s, c)
    if sc is None:
        return Judged(c, labels[1], labels[0], name, ClaimVerdict.UNJUDGED, why, args)
    k = next(k for k in KINDS if k.name == name)
    verdict, evidence = k.judge(sc, args)
    return Judged(c, labels[1], labels[0], name, verdict, evidence, args)


def judge_all(s: Series) -> list[Judged]:
    return [judge_claim(s, c) for c in s.claims]


def counts(judged: list[Judged]) -> dict[ClaimVerdict, int]:
    return {v: sum(1 for j in judged if j.verdict is v) for v in ClaimVerdict}


def between(s: Series, judged: list[Judged], a_num: int, b_num: int) -> list[Judged]:
    """The judged claims of every step from version a to version b."""
    order = [v.version for v in s.versions]
    lo, hi = order.index(a_num), order.index(b_num)
    return [j for j in judged if j.claim.from_version in order and j.claim.to_version in order
            and lo <= order.index(j.claim.from_version) and order.index(j.claim.to_version) <= hi]


def summary(judged: list[Judged], undocumented: int) -> tuple[Status, str]:
    """What the claims and the changes nobody claimed say together. A contradicted claim
    is a finding; undocumented changes warn; claims none of which could be judged (and
    nothing else to say) are not a pass."""
    n = counts(judged)
    h, c, u = n[ClaimVerdict.HOLDS], n[ClaimVerdict.CONTRADICTED], n[ClaimVerdict.UNJUDGED]
    text = f"{len(judged)} claims: {h} hold, {c} contradicted, {u} unjudged; {undocumented} undocumented changes"
    if c:
        return Status.FAIL, text
    if undocumented:
        return Status.WARN, text
    if judged and not h:
        return Status.SKIP, text + " (no claim could be judged: not a pass)"
    return Status.PASS, text
