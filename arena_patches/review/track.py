"""Review replies tracked: each problem a reviewer or a robot raised, and whether the next
version answered it (a changelog claim from that asker, or the reply's identifiers in the
patch's interdiff).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from arena_patches.core.model import ReplyKind, Reply, Series
from arena_patches.review.compare import Change, Comparison, identifiers


@dataclass(frozen=True)
class RobotReport:
    arch: str | None
    config: str | None
    compiler: str | None
    first_error: str | None


@dataclass(frozen=True)
class ReviewItem:
    reply: Reply
    issue: str
    addressed: bool | None  # None: the next version is not in the source
    evidence: str
    robot: RobotReport | None = None


_ROBOT = {"config": re.compile(r"^config: (\S+)", re.M), "compiler": re.compile(r"^compiler: (.+)$", re.M)}
_ROBOT_ERR = re.compile(r"^>>\s+(.+)$", re.M)
_QUESTION = re.compile(r"[^.?!]*\?")


def robot_report(body: str) -> RobotReport:
    cfg = _ROBOT["config"].search(body)
    comp = _ROBOT["compiler"].search(body)
    err = _ROBOT_ERR.search(body)
    config = cfg.group(1) if cfg else None
    return RobotReport(arch=config.split("-")[0] if config else None, config=config,
                       compiler=comp.group(1).strip() if comp else None,
                       first_error=err.group(1).strip() if err else None)


def issue_of(r: Reply) -> str:
    """The problem a reply raises, in a line."""
    if r.kind is ReplyKind.BUILD_ROBOT:
        rep = robot_report(r.body)
        return f"{rep.arch or '?'} {rep.config or ''}: {rep.first_error or 'build problem'}".strip()
    text = re.sub(r"\^{2,}\s*", "", r.excerpt).strip()  # the review bot's underline markers
    q = _QUESTION.search(text)
    first = q.group(0).strip() if q else re.split(r"(?<=[.!])\s", text, maxsplit=1)[0]
    return first[:300]


def _overlap(a: str, b: str) -> int:
    wa = {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]{2,}", a)}
    wb = {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]{2,}", b)}
    return len(wa & wb)


_ASKER_FOR_KIND = {ReplyKind.AI_REVIEW: {"ai"}, ReplyKind.BUILD_ROBOT: {"kernel test robot", "lkp"}}


def track(s: Series, comparisons: dict[tuple[int, int], Comparison]) -> list[ReviewItem]:
    """Each reply that raises something (not the author's own answers), and whether the
    next version answered it: a changelog claim for that patch from that asker, or the
    reply's identifiers in that patch's interdiff."""
    items = []
    order = [v.version for v in s.versions]
    for v in s.versions:
        nxt = next((n for n in order if n > v.version), None)
        for r in v.replies:
            if r.kind is ReplyKind.AUTHOR:
                continue
            issue = issue_of(r)
            robot = robot_report(r.body) if r.kind is ReplyKind.BUILD_ROBOT else None
            if nxt is None or (nxt != v.version + 1 and not any(
                    c.from_version == v.version for c in s.claims)):
                items.append(ReviewItem(r, issue, None, "the next version is not in the source", robot))
                continue
            comp = comparisons.get((v.version, nxt))
            claims = [c for c in s.claims if c.from_version == v.version
                      and (c.patch == r.patch or c.patch is None)]
            askers = _ASKER_FOR_KIND.get(r.kind, {r.sender.name.split()[0].lower()} if r.sender.name else set())
            by_asker = [c for c in claims if c.asked_by and c.asked_by in askers]
            words = identifiers(issue + " " + (robot.first_error or "" if robot else ""))
            pc = next((p for p in comp.patches if p.number == r.patch), None) if comp else None
            in_diff = sorted(w for w in words if pc and w in pc.interdiff)
            # a claim for the same patch that names what the review named answers it, even
            # when the next version's patch is not in the source (the merge message says so)
            naming = [c for c in claims if c.patch == r.patch and r.patch is not None
                      and any(w in c.text for w in words)]
            if by_asker:
                best = max(by_asker, key=lambda c: _overlap(c.text, issue + " " + r.excerpt))
                items.append(ReviewItem(r, issue, True, f"v{v.version}->v{nxt} changelog: "
                                        f"{best.text}", robot))
            elif in_diff:
                items.append(ReviewItem(r, issue, True, f"v{nxt} {r.patch}/{v.total} changes "
                                        + ", ".join(in_diff[:4]), robot))
            elif naming:
                best = max(naming, key=lambda c: _overlap(c.text, issue + " " + r.excerpt))
                named = sorted(w for w in words if w in best.text)
                items.append(ReviewItem(r, issue, True, f"v{v.version}->v{nxt} changelog for patch "
                                        f"{r.patch} names {', '.join(named[:3])}: {best.text}", robot))
            elif pc is not None and pc.change is Change.UNKNOWN:
                items.append(ReviewItem(r, issue, None, f"v{nxt} {r.patch} is not in the source", robot))
            else:
                items.append(ReviewItem(r, issue, False, "no changelog claim and no change names it",
                                        robot))
    return items
