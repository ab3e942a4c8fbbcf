"""Version against version, from the mails alone: which patch changed, with its
interdiff, and whether the changelog tells the truth about it.
"""
from __future__ import annotations

import difflib
import enum
import re
from dataclasses import dataclass

from arena_patches.core.model import Claim, Patch, Series, Version
from arena_patches.core.runner import DEFAULT, Runner
from arena_patches.review.claims import draft


class Change(str, enum.Enum):
    UNCHANGED = "unchanged"
    CHANGED = "changed"
    ADDED = "added"
    DROPPED = "dropped"
    UNKNOWN = "unknown"  # one side is missing from the source


class Flag(str, enum.Enum):
    OK = "ok"
    UNDOCUMENTED = "undocumented"  # changed, and no claim says so
    CLAIM_WITHOUT_CHANGE = "claim-without-change"
    NA = "n/a"


@dataclass(frozen=True)
class PatchComparison:
    number: int
    change: Change
    subject: str | None
    claims: tuple[Claim, ...]
    flag: Flag
    interdiff: str
    patch_ids: tuple[str | None, str | None]
    reason: str = ""  # why the flag: which claim explains it, or what the change touches


@dataclass(frozen=True)
class Comparison:
    from_version: int
    to_version: int
    patches: tuple[PatchComparison, ...]
    series_claims: tuple[Claim, ...]  # claims that name no patch
    from_label: str = ""  # "v2#2" where two postings share a tag
    to_label: str = ""


# ---------------------------------------------------------------- patch identity

def patch_id(p: Patch, runner: Runner = DEFAULT) -> str | None:
    """`git patch-id --stable`: the same change gives the same id whatever its line numbers."""
    r = runner.run(["git", "patch-id", "--stable"], input=p.diff.encode(), timeout=60)
    return r.stdout.split()[0] if r.returncode == 0 and r.stdout.strip() else None


def _normalized(diff: str) -> list[str]:
    """The diff without what moves for reasons of its own: index lines and hunk positions."""
    out = []
    for line in diff.splitlines():
        if line.startswith("index "):
            continue
        if line.startswith("@@"):
            line = "@@" + (line.split("@@", 2)[2] if line.count("@@") >= 2 else "")
        out.append(line)
    return out


def interdiff(a: Patch, b: Patch) -> str:
    """A diff of the two diffs, as `git range-diff` shows it, from the mails alone."""
    return "\n".join(difflib.unified_diff(_normalized(a.diff), _normalized(b.diff),
                                          f"v-old {a.number}/{a.total}", f"v-new {b.number}/{b.total}",
                                          lineterm="", n=2))


def _title(p: Patch) -> str:
    return " ".join(p.subject.lower().split())


def _similar(a: Patch, b: Patch) -> bool:
    """The same patch under a new title: it touches some of the same files, and alike."""
    if not set(a.paths) & set(b.paths):
        return False
    return difflib.SequenceMatcher(None, _normalized(a.diff), _normalized(b.diff)).ratio() >= 0.5


def _match(a: Version, b: Version) -> list[tuple[int, Patch | None, Patch | None]]:
    """Rows for the newer version's patch numbers, then for dropped patches: pairs matched
    by subject, else by number when the old patch's subject is gone and the diffs are alike
    (a retitled patch); a new subject with a new diff is an added patch."""
    if a.total == b.total == 1 and len(a.patches) == len(b.patches) == 1:
        return [(1, a.patches[0], b.patches[0])]  # a one-patch series: retitled or not, the same patch
    b_titles = {_title(p) for p in b.patches}
    by_title = {_title(p): p for p in a.patches}
    rows: dict[int, tuple[Patch | None, Patch | None]] = {}
    used = set()
    for pb in b.patches:
        pa = by_title.get(_title(pb))
        if pa is None:
            cand = a.patch(pb.number)
            ok = cand is not None and _title(cand) not in b_titles and _similar(cand, pb)
            pa = cand if ok else None
        if pa is not None:
            used.add(pa.number)
        rows[pb.number] = (pa, pb)
    for k in range(1, b.total + 1):
        if k not in rows:
            old = a.patch(k)
            rows[k] = (old if old is not None and old.number not in used else None, None)
            if old is not None:
                used.add(old.number)
    out = [(k, pa, pb) for k, (pa, pb) in sorted(rows.items())]
    out += [(pa.number, pa, None) for pa in a.patches  # dropped
            if pa.number not in used and _title(pa) not in b_titles]
    return out


# ---------------------------------------------------------------- claims against reality

_IDENT = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]{3,})(?:\(\))?")
_SERIES_WIDE = re.compile(r"\brebas", re.I)  # "Rebased on ...": explains any change
_STOP = {"patch", "patches", "this", "that", "with", "from", "into", "when", "make", "sure",
         "call", "fix", "use", "add", "the", "and", "for", "after", "before", "some", "required",
         "architectures", "setting", "mappings", "builds", "individually"}


def identifiers(text: str) -> set[str]:
    """Code-looking words of a claim or review: those with _ or () or CamelCase."""
    out = set()
    for m in _IDENT.finditer(text):
        w = m.group(1)
        if "_" in w or m.group(0).endswith("()") or (w[0].islower() and any(c.isupper() for c in w)):
            if w.lower() not in _STOP:
                out.add(w)
    return out


def _claim_patch(c: Claim, changed: dict[int, str]) -> int | None:
    """A claim that names no patch belongs to the changed patch whose interdiff has its
    identifiers (v6->v7 "Call flush_cache_vmap() ..." is about patch 1)."""
    hits = _claim_patches(c, changed)
    return hits[0] if len(hits) == 1 else None


def _claim_patches(c: Claim, changed: dict[int, str]) -> list[int]:
    words = identifiers(c.text)
    return [k for k, d in changed.items() if words and any(w in _added_removed(d) for w in words)]


def _added_removed(idiff: str) -> str:
    """The lines an interdiff adds or removes (not its context)."""
    return "\n".join(l for l in idiff.splitlines() if l[:1] in "+-" and not l.startswith(("+++", "---")))


_PLAIN = re.compile(r"\b[A-Za-z][A-Za-z0-9_-]*[-_][A-Za-z0-9_-]+\b|\b[A-Za-z]{6,}\b")
_PATCH_REF = re.compile(r"\bpatch(?:es)?\s+(\d+)", re.I)


def _body_lines(p: Patch, sign: str) -> list[str]:
    """The patch's added (sign "+") or removed ("-") code lines, in order."""
    return [l[1:].strip() for l in p.diff.splitlines()
            if l.startswith(sign) and not l.startswith(sign * 3)]


def compare(s: Series, a_num: int, b_num: int, runner: Runner = DEFAULT) -> Comparison:
    a, b = s.version(a_num), s.version(b_num)
    claims = claims_between(s, a_num, b_num)
    if a is None or b is None:
        return Comparison(a_num, b_num, (), tuple(c for c in claims if c.patch is None))
    rows = []
    for k, pa, pb in _match(a, b):
        if pa is None and pb is None:
            rows.append((k, Change.UNKNOWN, None, "", (None, None)))
            continue
        if pb is None:
            gap = k in b.missing
            rows.append((k, Change.UNKNOWN if gap else Change.DROPPED, pa.subject, "", (None, None)))
            continue
        if pa is None:
            known_gap = k <= a.total and k in a.missing
            rows.append((k, Change.UNKNOWN if known_gap else Change.ADDED, pb.subject, "", (None, None)))
            continue
        ia, ib = patch_id(pa, runner), patch_id(pb, runner)
        same = (ia is not None and ia == ib) or _normalized(pa.diff) == _normalized(pb.diff)
        # the diff is the same: a changed commit message is still a change worth showing
        msg_same = pa.commit_message.strip() == pb.commit_message.strip()
        change = Change.UNCHANGED if same and msg_same else Change.CHANGED
        idiff = "" if same else interdiff(pa, pb)
        if same and not msg_same:
            idiff = "\n".join(difflib.unified_diff(pa.commit_message.splitlines(),
                                                   pb.commit_message.splitlines(), "message (old)",
                                                   "message (new)", lineterm="", n=1))
        rows.append((k, change, pb.subject, idiff, (ia, ib)))
    changed = {k: d for k, ch, _, d, _ in rows if ch is Change.CHANGED}
    attributed: dict[int, list[Claim]] = {}
    series_wide = []
    for c in claims:
        k = c.patch if c.patch is not None else _claim_patch(c, changed)
        if k is None:
            series_wide.append(c)
        else:
            attributed.setdefault(k, []).append(c)
    rebased = any(_SERIES_WIDE.search(c.text) for c in series_wide)
    pairs = {k: (pa, pb) for k, pa, pb in _match(a, b)}
    out = []
    for k, change, subject, idiff, ids in rows:
        cl = tuple(attributed.get(k, ()))
        reason = ""
        if change is Change.CHANGED:
            flag, reason = _explain(k, cl, claims, changed, pairs.get(k, (None, None)), rebased)
        elif change is Change.UNCHANGED:
            flag = Flag.CLAIM_WITHOUT_CHANGE if cl else Flag.NA
        elif change is Change.ADDED:
            flag, reason = _explain_added(k, cl, claims)
        else:
            flag = Flag.NA
        if flag is not Flag.UNDOCUMENTED and change in (Change.CHANGED, Change.UNCHANGED):
            flag, reason = _trailers(pairs.get(k, (None, None)), claims, flag, reason)
        out.append(PatchComparison(k, change, subject, cl, flag, idiff, ids, reason))
    return Comparison(a_num, b_num, tuple(out), tuple(series_wide), a.name, b.name)


def _explain(k: int, cl: tuple, claims: list, changed: dict[int, str], pair, rebased: bool) -> tuple[Flag, str]:
    """Whether the changelog accounts for patch k's change, and how."""
    if cl:
        return Flag.OK, f"claimed for patch {k}: {cl[0].text}"
    pa, pb = pair
    if pa is not None and pb is not None and _body_lines(pa, "+") == _body_lines(pb, "+"):
        return Flag.OK, ("it adds the same lines: only its pre-image or context changed "
                         "(it follows an earlier patch's change)")
    named = [c for c in claims if c.patch != k and any(int(n) == k for n in _PATCH_REF.findall(c.text))]
    if named:
        return Flag.OK, f"the changelog names patch {k}: {named[0].text}"
    unnumbered = [c for c in claims if c.patch is None and k in _claim_patches(c, changed)]
    if unnumbered:
        return Flag.OK, f"a series-wide claim names what it changes: {unnumbered[0].text}"
    if rebased:
        return Flag.OK, "the changelog says the series was rebased"
    # a series-wide claim in plain words ("Fixed clock-names DT property restrictions")
    # whose words are in this patch's interdiff
    changed_text = changed.get(k, "").lower()  # its interdiff, the lines around the change too
    worded = [c for c in claims if c.patch is None and any(
        w.lower() in changed_text for w in _PLAIN.findall(c.text) if w.lower() not in _STOP)]
    if worded:
        return Flag.OK, f"a series-wide claim's words are in its change: {worded[0].text}"
    # a claim placed on another patch that names what this patch touches (its functions)
    touched = pb.diff if pb is not None else ""
    elsewhere = [c for c in claims if c.patch is not None and c.patch != k
                 and any(w in touched for w in identifiers(c.text))]
    if elsewhere:
        where = "; ".join(f"patch {c.patch}: \"{c.text}\"" for c in elsewhere[:3])
        return Flag.UNDOCUMENTED, (f"no claim for patch {k}; the changelog places claims about what "
                                   f"it changes on another patch ({where})")
    return Flag.UNDOCUMENTED, "no changelog claim accounts for it"


def claims_between(s: Series, a_num: int, b_num: int) -> list[Claim]:
    """The claims of every step from version a to version b (v2..v4: v2->v3 and v3->v4)."""
    order = [v.version for v in s.versions]
    pos = {n: i for i, n in enumerate(order)}
    if a_num not in pos or b_num not in pos:
        return [c for c in s.claims if c.from_version == a_num and c.to_version == b_num]
    return [c for c in s.claims if c.from_version in pos and c.to_version in pos
            and pos[a_num] <= pos[c.from_version] and pos[c.to_version] <= pos[b_num]]


def _explain_added(k: int, cl: tuple, claims: list) -> tuple[Flag, str]:
    if cl:
        return Flag.OK, f"claimed for patch {k}: {cl[0].text}"
    told = [c for c in claims if draft(c.text)[0] in ("patch-added", "patch-split")]
    if told:
        return Flag.OK, f"the changelog says a patch was added: {told[0].text}"
    return Flag.UNDOCUMENTED, "a new patch the changelog never names"


def _trailers(pair, claims: list, flag: Flag, reason: str) -> tuple[Flag, str]:
    """Trailers that appeared or went away are a change too; a claim of kind trailers
    accounts for them."""
    pa, pb = pair
    if pa is None or pb is None:
        return flag, reason
    came = [f"{k}: {v}" for k, v in pb.trailers if (k, v) not in pa.trailers]
    went = [f"{k}: {v}" for k, v in pa.trailers if (k, v) not in pb.trailers]
    if not (came or went) or any(draft(c.text)[0] == "trailers" for c in claims):
        return flag, reason
    said = "; ".join(([f"trailers appeared: {', '.join(came)}"] if came else [])
                     + ([f"trailers went away: {', '.join(went)}"] if went else []))
    return Flag.UNDOCUMENTED, said + " (no changelog claim names them)"


def consecutive(s: Series) -> list[tuple[int, int]]:
    vs = [v.version for v in s.versions]
    return list(zip(vs, vs[1:]))
