"""Mails -> postings (one send of a version: its cover and patches) -> series (the postings
that are versions of one another), from the mails' own evidence: a cover's links to
earlier versions ("v1: https://…/<msgid>/", b4's "Link to v2: …"), b4's change-id,
a posting threaded under another, the same author with the same title once the
[PATCH vN k/n] tag is dropped. The subject's version number is one piece of it: two
postings that carry the same tag are two versions (labels v2 and v2#2).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from arena_patches.core.errors import UserError
from arena_patches.core.model import Claim, Message
from arena_patches.mail import changelog

_CHANGE_ID = re.compile(r"^change-id:\s*(\S+)\s*$", re.M)
_UNTHREADED_GAP = 3600.0  # patches of one send, unthreaded, go out within minutes
_SAME_BASE_GAP = 60 * 86400.0  # versions of one patch resent on the same base: weeks apart at most
_INDEX = re.compile(r"^diff --git a/(\S+) b/(\S+)\n(?:(?!diff --git).*\n)*?index ([0-9a-f]+)\.\.([0-9a-f]+)",
                    re.M)


def index_lines(diff: str) -> list[tuple[str, str, str, str]]:
    """(old path, new path, pre-image blob, post-image blob) of each file a diff (or a whole
    patch mail) changes, from its `index` line; a new file's pre-image is all zeros."""
    return _INDEX.findall(diff)


@dataclass(frozen=True)
class Posting:
    key: str  # the cover's Message-ID, else the first patch's
    tag: int  # the version number the subject carries (1 when it carries none)
    timestamp: float
    author: str
    title: str  # the cover's title, else the first patch's
    cover: str | None
    members: tuple[str, ...]  # the cover and the patches of this send
    patch_titles: frozenset[str]
    links: tuple[tuple[int, str], ...]  # (version, Message-ID) the cover cites
    change_id: str | None
    parents: tuple[str, ...]  # what the cover (or first patch) is threaded under
    resend: bool = False  # its subject says RESEND: a copy of an earlier posting
    bases: frozenset[tuple[str, str]] = frozenset()  # (file, pre-image blob) its patches' index lines name


@dataclass(frozen=True)
class Found:
    """One series found in a source: its postings by date, each with its label and the
    version number the model uses (the tag when every tag is distinct, else the rank)."""

    postings: tuple[Posting, ...]
    labels: tuple[str, ...]
    numbers: tuple[int, ...]

    @property
    def title(self) -> str:
        return self.postings[-1].title if self.postings else ""

    def number_of(self, msgid: str) -> int | None:
        for p, n in zip(self.postings, self.numbers):
            if msgid in p.members:
                return n
        return None

    def number_of_tag(self, tag: int, before: float | None = None) -> int | None:
        """The newest posting carrying this tag (sent before `before`, when given); a
        RESEND is a copy, so an original of the tag is preferred to it."""
        cands = [(not p.resend, p.timestamp, n) for p, n in zip(self.postings, self.numbers)
                 if p.tag == tag and (before is None or p.timestamp <= before)]
        return max(cands)[2] if cands else None


def _norm(t: str) -> str:
    return " ".join(t.lower().split())


def is_top(m: Message) -> bool:
    return not m.is_reply and (m.is_patch_tag or m.has_diff)


def _is_cover(m: Message) -> bool:
    return m.is_patch_tag and not m.counters_inferred and m.counter == 0


def _chain(m: Message) -> list[str]:
    return [x for x in [m.in_reply_to, *reversed(m.references)] if x]


def postings(msgs: list[Message], tag_of=lambda m: m.revision) -> list[Posting]:
    """Group the top-level mails (covers and patches) into sends."""
    # covers first: git send-email may date a patch a second before its cover
    tops = sorted((m for m in msgs if is_top(m)), key=lambda m: (not _is_cover(m), m.timestamp, m.counter))
    by_id = {m.message_id: m for m in tops}
    owner: dict[str, str] = {}
    groups: dict[str, list[Message]] = {}
    for m in tops:
        key = None
        if not _is_cover(m):
            key = next((owner[c] for c in _chain(m) if c in owner and tag_of(by_id[c]) == tag_of(m)), None)
            if key is None and not m.counters_inferred:
                key = next((k for k, ms in groups.items() if _unthreaded_peer(ms, m, tag_of)), None)
        key = key or m.message_id
        owner[m.message_id] = key
        groups.setdefault(key, []).append(m)
    return [_posting(k, ms, tag_of) for k, ms in groups.items()]


def _unthreaded_peer(ms: list[Message], m: Message, tag_of) -> bool:
    first = ms[0]
    return (not _is_cover(first) and first.sender.email.lower() == m.sender.email.lower()
            and tag_of(first) == tag_of(m) and first.expected == m.expected and m.expected > 1
            and abs(m.timestamp - first.timestamp) <= _UNTHREADED_GAP
            and m.counter not in {x.counter for x in ms})


def _posting(key: str, ms: list[Message], tag_of) -> Posting:
    head = ms[0]
    cover = head if _is_cover(head) else None
    body = cover.body if cover else ""
    texts = [(body, cover.message_id)] if cover else []
    texts += [(changelog.notes(m.body), m.message_id) for m in ms if not _is_cover(m)]
    links = tuple(dict.fromkeys((l.version, l.message_id) for t, i in texts for l in changelog.links(t, i)))
    cid = _CHANGE_ID.search(body)
    patches = [m for m in ms if not _is_cover(m)]
    first = min(patches, key=lambda m: m.counter) if patches else head
    return Posting(key=key, tag=tag_of(head), timestamp=min(m.timestamp for m in ms),
                   author=head.sender.email.lower(), title=(cover or first).title,
                   cover=cover.message_id if cover else None, members=tuple(m.message_id for m in ms),
                   patch_titles=frozenset(_norm(m.title) for m in patches), links=links,
                   change_id=cid.group(1) if cid else None, parents=tuple(_chain(head)),
                   resend=any(m.resend for m in ms),
                   # blobs abbreviated to 7 digits: one git prints 9 of them, another 12
                   bases=frozenset((f, pre[:7]) for m in patches for f, _b, pre, _post in index_lines(m.body)
                                   if set(pre) != {"0"}))


def group(ps: list[Posting]) -> list[Found]:
    """Postings that are versions of one another, joined by any piece of evidence."""
    parent = {p.key: p.key for p in ps}

    def find(k: str) -> str:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    def join(a: str, b: str) -> None:
        parent[find(a)] = find(b)

    # a send whose cover the source lacks is still known by the cover its patches reply to
    member_of = {x: p.key for p in ps if not p.cover for x in p.parents}
    member_of.update({m: p.key for p in ps for m in p.members})
    for i, p in enumerate(ps):
        for _v, msgid in p.links:
            if msgid in member_of:
                join(p.key, member_of[msgid])
        for msgid in p.parents:
            if msgid in member_of:
                join(p.key, member_of[msgid])
        for q in ps[i + 1:]:
            if p.change_id and p.change_id == q.change_id:
                join(p.key, q.key)
            elif p.author == q.author and (_norm(p.title) == _norm(q.title)
                                           or p.patch_titles & q.patch_titles):
                join(p.key, q.key)
            elif p.author == q.author and p.tag != q.tag and p.bases and p.bases == q.bases \
                    and abs(p.timestamp - q.timestamp) <= _SAME_BASE_GAP:
                # retitled versions with no link and no thread (xt_HL v1-v3): the same author
                # changing the same files from the same blobs under another version tag
                join(p.key, q.key)
    out: dict[str, list[Posting]] = {}
    for p in ps:
        out.setdefault(find(p.key), []).append(p)
    return sorted((_found(v) for v in out.values()), key=lambda f: f.postings[0].timestamp)


def _found(ps: list[Posting]) -> Found:
    ps = sorted(ps, key=lambda p: (p.timestamp, p.tag))
    seen: dict[int, int] = {}
    labels = []
    for p in ps:
        seen[p.tag] = seen.get(p.tag, 0) + 1
        labels.append(f"v{p.tag}" + (f"#{seen[p.tag]}" if seen[p.tag] > 1 else ""))
    tags = [p.tag for p in ps]
    numbers = tags if len(set(tags)) == len(tags) else list(range(1, len(ps) + 1))
    return Found(tuple(ps), tuple(labels), tuple(numbers))


def choose(found: list[Found], pick: str | None, spec_ids: set[str]) -> tuple[Found, list[Found]]:
    """The series asked for (by --series, or by the spec's Message-IDs), and the others."""
    if not found:  # no patch mail at all: the stages that need a version say so, naming their input
        return Found((), (), ()), []
    if spec_ids:
        hit = [f for f in found if any(spec_ids & set(p.members) or (p.cover and p.cover in spec_ids)
                                       for p in f.postings)]
        if hit:
            return _merged(hit), [f for f in found if f not in hit]
    if pick:
        words = _norm(pick).split()
        hit = [f for f in found if any(pick.strip("<>") in p.members for p in f.postings)
               or all(w in _norm(" ".join(p.title for p in f.postings)) for w in words)]
        if len(hit) != 1:
            raise UserError(f"--series {pick}: {'no' if not hit else len(hit)} series match "
                            f"(the source holds: {_names(found)})",
                            "name it by the Message-ID of one of its mails (shown after each title)")
        return hit[0], [f for f in found if f is not hit[0]]
    if len(found) > 1:
        raise UserError(f"the source holds {len(found)} unrelated series: {_names(found)}",
                        "name the one to read with --series WORDS-OF-ITS-TITLE, or with the Message-ID "
                        "shown after it (series whose titles are alike)")
    return found[0], []


def _merged(fs: list[Found]) -> Found:
    return fs[0] if len(fs) == 1 else _found([p for f in fs for p in f.postings])


def _names(found: list[Found]) -> str:
    return "; ".join(f"\"{f.title}\" ({', '.join(f.labels)}) <{f.postings[-1].key}>" for f in found)


def remap(claims: list[Claim], f: Found, posting_number: int) -> list[Claim]:
    """A changelog's "vA->vB" in the posting numbered `posting_number`, to the postings it
    means: B is this posting when it carries tag B, A the posting its cover links as vA,
    else the newest posting tagged A sent before it."""
    if list(f.numbers) == [p.tag for p in f.postings]:
        return claims  # every tag distinct: the tag is the number
    here = f.postings[f.numbers.index(posting_number)]
    member_of = {m: n for p, n in zip(f.postings, f.numbers) for m in p.members}
    out = []
    for c in claims:
        to = posting_number if c.to_version == here.tag else f.number_of_tag(c.to_version, here.timestamp)
        linked = next((member_of[m] for v, m in here.links if v == c.from_version and m in member_of), None)
        to_post = f.postings[f.numbers.index(to)] if to is not None else here
        frm = linked or f.number_of_tag(c.from_version, to_post.timestamp - 1e-3)
        if to is None or frm is None:
            continue  # a step between postings the source lacks
        out.append(Claim(frm, to, c.patch, c.text, c.asked_by, c.sources))
    return out


def threads_of(pool: list[Message], found: Found) -> set[str]:
    """The chosen series' sends, and every mail threaded under them or titled as one of
    their patches (a reply to a patch the source lacks)."""
    mine = {m for p in found.postings for m in p.members} | {p.cover for p in found.postings if p.cover}
    titles = {t for p in found.postings for t in p.patch_titles} | {" ".join(p.title.lower().split())
                                                                    for p in found.postings}
    roots = {x for p in found.postings for x in p.parents} | mine
    for m in sorted(pool, key=lambda m: m.timestamp):
        if m.message_id in mine or is_top(m):
            continue
        chain = {*m.references, *([m.in_reply_to] if m.in_reply_to else [])}
        if chain & (mine | roots) or " ".join(m.title.lower().split()) in titles:
            mine.add(m.message_id)
    return mine


def why_out(m: Message, others: list[Found]) -> str:
    f = next((f for f in others if any(m.message_id in p.members for p in f.postings)), None)
    if f is not None:
        return f"another series: \"{f.title}\" ({', '.join(f.labels)})"
    return "threaded under no mail of this series"


def resends_once(claim_lists: list[list[Claim]], found: Found) -> list[list[Claim]]:
    """Later postings repeat changelogs (a resend under the same tag, a v3 cover carrying
    v2's list, per-patch notes left stale): a bullet already made against the same version
    by an earlier posting is that claim, not a new one about a later step."""
    tag = dict(zip(found.numbers, (p.tag for p in found.postings)))
    seen: dict[tuple, int] = {}
    out = []
    for claims in claim_lists:
        keep = []
        for c in claims:
            k = (tag.get(c.from_version), " ".join(re.sub(r"[\"'`]", "", c.text.lower()).split()))
            if seen.setdefault(k, c.to_version) != c.to_version:
                continue
            keep.append(c)
        out.append(keep)
    return out
