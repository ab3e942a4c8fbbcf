"""Messages -> Series: versions (by subject tag, then threading), patches k/n, gaps,
resends, covers, replies and the changelog claims of every cover.

Nothing here depends on how files were laid out: the v3 resend (patches 2-4 sent
again with other Message-IDs, threaded under patch 2) is found by subject tag and
References, and a reply to a patch the archive lacks is still filed under that patch.
"""
from __future__ import annotations

import email.utils
import fnmatch
import re
from collections import defaultdict
from dataclasses import replace
from typing import Iterable

import unidiff
from liblore import utils as lu

from arena_patches.mail import changelog, postings
from arena_patches.core.paths import unquote
from arena_patches.core.model import (
    Claim,
    Cover,
    FileStat,
    Message,
    Patch,
    Person,
    Problem,
    Reply,
    ReplyKind,
    Series,
    SeriesInfo,
    Version,
    VersionLink,
)
from arena_patches.mail.spec import SeriesSpec

_BASE_COMMIT = re.compile(r"^base-commit:\s*([0-9a-f]{7,40})\s*$", re.M)
_ATTRIBUTION = re.compile(r"^(On .*wrote:|.*<[^>]+> (wrote|writes):)\s*$")


def _norm_title(t: str) -> str:
    return " ".join(t.lower().split())


def _is_cover(m: Message) -> bool:
    return not m.is_reply and m.is_patch_tag and not m.counters_inferred and m.counter == 0


def _is_patch(m: Message) -> bool:
    return not m.is_reply and m.has_diff and (m.counter > 0 or m.counters_inferred)


def _root(m: Message) -> str:
    return m.references[0] if m.references else (m.in_reply_to or m.message_id)


def parse_patch(m: Message) -> tuple[Patch, list[Problem]]:
    """The patch mail's commit message, trailers, diff, files, diffstat and base blobs."""
    problems: list[Problem] = []
    body = m.body.replace("\r", "")
    parts = lu.split_body_parts(body)
    start = parts.basement.find("diff --git ")
    if start < 0:
        start = body.find("\ndiff --git ")
        diff = body[start + 1:] if start >= 0 else parts.basement
    else:
        diff = parts.basement[start:]
    # The signature ("-- \n2.47.3") is not part of the diff.
    sig = diff.rfind("\n-- \n")
    if sig >= 0:
        diff = diff[:sig + 1]
    if diff and not diff.endswith("\n"):
        diff += "\n"  # split_body_parts strips the newline before the signature
    # ... and the blank line that ends a binary hunk (git apply: "corrupt binary patch")
    if "\nGIT binary patch\n" in diff[diff.rfind("diff --git "):] and not diff.endswith("\n\n"):
        diff += "\n"
    files: list[FileStat] = []
    try:
        for pf in unidiff.PatchSet(diff):
            status = ("added" if pf.is_added_file else "removed" if pf.is_removed_file
                      else "renamed" if pf.is_rename else "modified")
            files.append(FileStat(unquote(pf.path), pf.added, pf.removed, status))
    except unidiff.UnidiffParseError as e:
        problems.append(Problem(m.origin, f"patch {m.counter}/{m.expected}: the diff does not "
                                          f"parse ({e}); truncated mail?"))
        files = [FileStat(b, 0, 0, "unknown") for _, b in re.findall(r"^diff --git a/(\S+) b/(\S+)", diff, re.M)]
    # An in-body From: names the real author and overrides the header, as git am does.
    inbody = next((v for k, v in parts.githeaders if k.lower() == "from"), None)
    who = m.sender
    if inbody:
        name, addr = email.utils.parseaddr(lu.clean_header(inbody))
        if addr:
            who = Person(name, addr)
    message = parts.message.strip()
    trailers = tuple(parts.trailers)
    index = postings.index_lines(diff)
    blobs = tuple((a, pre) for a, _b, pre, _post in index if set(pre) != {"0"})
    return Patch(
        number=m.counter, total=m.expected, message_id=m.message_id, subject=m.title,
        author=who, date=m.date, timestamp=m.timestamp, commit_message=message,
        trailers=trailers, diff=diff, files=tuple(files), base_blobs=blobs,
        origin=m.origin, post_blobs=tuple((b, post) for _a, b, _pre, post in index
                                          if set(post) != {"0"}), notes=changelog.notes(body)), problems


class _Classifier:
    def __init__(self, spec: SeriesSpec, authors: Iterable[Person]):
        self.spec = spec
        self.emails = {a.email.lower() for a in authors if a.email}
        self.names = {a.name.lower() for a in authors if a.name}
        if spec.author:
            name, addr = email.utils.parseaddr(spec.author)
            self.emails.add(addr.lower())
            self.names.add(name.lower())

    def kind(self, p: Person) -> ReplyKind:
        addr = p.email.lower()
        r = self.spec.reviews
        if any(fnmatch.fnmatch(addr, pat.lower()) for pat in r.ai_review):
            return ReplyKind.AI_REVIEW
        if any(fnmatch.fnmatch(addr, pat.lower()) for pat in r.build_robot) or \
                "test robot" in p.name.lower():
            return ReplyKind.BUILD_ROBOT
        if addr in self.emails or (p.name and p.name.lower() in self.names):
            return ReplyKind.AUTHOR
        return ReplyKind.MAINTAINER


def _excerpt(body: str, limit: int = 400) -> str:
    """The reply's own words: quoted lines, attributions and footers dropped."""
    own = []
    for line in body.replace("\r", "").split("\n-- \n")[0].splitlines():
        s = line.strip()
        # an attribution is a short line; a long one is not tried (the pattern backtracks
        # quadratically on a 1 MB line of "<")
        if s.startswith(">") or (len(s) <= 400 and _ATTRIBUTION.match(s)) or s in ("[ ... ]", "[...]"):
            continue
        if s == "---" and own:
            break  # the review bot's footer
        own.append(s)
    text = " ".join(" ".join(own).split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _same_title(a: str, b: str) -> bool:
    """Equal titles, or one cut short (robots truncate long subjects)."""
    a, b = _norm_title(a), _norm_title(b)
    return a == b or (min(len(a), len(b)) >= 20 and (a.startswith(b) or b.startswith(a)))


def _member_filter(msgs: list[Message], spec: SeriesSpec) -> tuple[set[str], list[Problem]]:
    """Which messages belong to this series: everything threaded (transitively) under a
    Message-ID the spec names, plus tagged mails whose title is a member's title (a
    reply to a patch the source lacks, or an unthreaded resend), and their threads."""
    ids = set(spec.all_message_ids())
    related = spec.related_ids()
    if not ids:
        return {m.message_id for m in msgs}, []
    members: set[str] = set()
    # who waits on which Message-ID: a message joins when any id of its chain is known;
    # a walk from the known ids (linear in the chains' size, 20,000 mails threaded by
    # parent alone included) rather than passes over every message until none joins
    waiting: dict[str, list[str]] = defaultdict(list)
    for m in msgs:
        chain = {m.message_id, *m.references, *([m.in_reply_to] if m.in_reply_to else [])}
        if m.message_id not in related and not (chain & related and not chain & ids):
            for x in chain:
                waiting[x].append(m.message_id)

    def grow(known: set[str]) -> None:
        todo = list(known)
        while todo:
            for joiner in waiting.get(todo.pop(), ()):
                if joiner not in members:
                    members.add(joiner)
                    todo.append(joiner)

    grow(set(ids))
    if not members:
        return {m.message_id for m in msgs}, [Problem(
            "source", f"none of the Message-IDs in {spec.path} is in the source; "
                      "taking every patch it holds as this series")]
    titles = {m.title for m in msgs if m.message_id in members and not m.is_reply}
    by_title = {m.message_id for m in msgs
                if m.message_id not in members and m.message_id not in related
                and m.is_patch_tag and not m.counters_inferred
                and any(_same_title(m.title, t) for t in titles)}
    if by_title:
        members |= by_title
        grow(set(members))
    return members, []


def build(msgs: list[Message], spec: SeriesSpec, problems: Iterable[Problem] = (),
          extra_changelogs: Iterable[tuple[str, str, int | None]] = (), pick: str | None = None) -> Series:
    """extra_changelogs: (text, source id, version) of texts that carry a cover letter,
    such as the merge commit of the series in a tree."""
    problems = list(problems)
    members, probs = _member_filter(msgs, spec)
    problems += probs
    pool = [m for m in msgs if m.message_id in members]
    found, others_found = postings.choose(postings.group(postings.postings(pool, _tag_of(spec))), pick,
                                          set(spec.all_message_ids()))
    mine = postings.threads_of(pool, found)
    members -= {m.message_id for m in pool if m.message_id not in mine}
    # what the spec's Message-IDs left aside is listed too, with the series it belongs to
    outside = others_found + [f for f in postings.group(postings.postings(
        [m for m in msgs if m.message_id not in members], _tag_of(spec))) if f not in others_found]
    left_out = tuple((m.message_id, postings.why_out(m, outside)) for m in msgs if m.message_id not in mine)
    patches, covers, roots, others = _sort([m for m in pool if m.message_id in mine], spec, problems, found)
    built, patch_index, authors = _choose(patches, covers, roots, spec, problems, found)
    replies = _replies(others, patch_index, _Classifier(spec, authors), problems, found)
    claim_lists: list[list[Claim]] = []
    links: list[VersionLink] = []
    versions = _versions(built, replies, claim_lists, links, found)
    problems += [Problem(v.cover.origin, f"{v.name}: a cover letter without patches (the source holds "
                                         f"none of its {v.total})") for v in versions
                 if v.cover and not v.patches and v.total]
    claim_lists = postings.resends_once(claim_lists, found)
    for text, source, v in extra_changelogs:
        claim_lists.append(changelog.parse(text, source, v))
        links += changelog.links(text, source)
    info = SeriesInfo(title=spec.title or _title_of(versions), list=spec.list, base_tree=spec.base_tree)
    ignored = tuple(sorted(m.message_id for m in msgs if m.message_id not in members))
    return Series(info=info, versions=tuple(versions), claims=tuple(changelog.merge(claim_lists)),
                  links=tuple(dict.fromkeys(links)), problems=tuple(problems), ignored=ignored,
                  left_out=left_out)


def _tag_of(spec: SeriesSpec):
    def tag(m: Message) -> int:
        if not m.revision_inferred:
            return m.revision
        return spec.version_of_msgid(_root(m)) or spec.version_of_msgid(m.message_id) or 1
    return tag


def _title_of(versions: list[Version]) -> str:
    """A series no spec names is called by its newest cover's title, else its first patch's."""
    for v in reversed(versions):
        if v.cover:
            return v.cover.subject
    return next((v.patches[0].subject for v in reversed(versions) if v.patches), "")


def _sort(msgs: list[Message], spec: SeriesSpec, problems: list[Problem], found: postings.Found):
    """The series' messages by version: patches by number (resends together), cover
    letters, the threads' roots, and everything else (replies)."""
    patches: dict[int, dict[int, list[Message]]] = defaultdict(lambda: defaultdict(list))
    covers: dict[int, list[Message]] = defaultdict(list)
    roots: dict[int, set[str]] = defaultdict(set)
    others: list[Message] = []
    for m in msgs:
        version = found.number_of(m.message_id) or _tag_of(spec)(m)
        if _is_cover(m):
            covers[version].append(m)
            if m.has_diff:
                problems.append(Problem(m.origin, f"{m.counter}/{m.expected} carries a diff: read as the "
                                                  "cover letter, its diff is not applied"))
        elif _is_patch(m):
            if not m.counters_inferred and m.expected and m.counter > m.expected:
                problems.append(Problem(m.origin, f"patch {m.counter}/{m.expected}: numbered above the "
                                                  "series' count"))
            patches[version][m.counter if not m.counters_inferred else 1].append(m)
            roots[version].add(_root(m))
        else:
            others.append(m)
    return patches, covers, roots, others


def _choose(patches, covers, roots, spec: SeriesSpec, problems: list[Problem], found: postings.Found):
    """Per version: the newest cover letter, the newest send of each patch (the others are
    its resends), the count, the cover's Message-ID; and where each message belongs."""
    patch_index: dict[str, tuple[int, int | None]] = {}
    authors: list[Person] = []
    built: dict[int, tuple] = {}
    named = {vs.version for vs in spec.versions} if list(found.numbers) == [p.tag for p in found.postings] else set()
    for v in sorted(set(patches) | set(covers) | named):
        cover_msg = max(covers.get(v, []), key=lambda m: m.timestamp, default=None)
        chosen: list[Patch] = []
        for k, cands in sorted(patches.get(v, {}).items()):
            cands = sorted(cands, key=lambda m: m.timestamp)
            patch, probs = parse_patch(cands[-1])
            problems += probs
            if len(cands) > 1:
                patch = replace(patch, resent_ids=tuple(c.message_id for c in cands[:-1]))
            chosen.append(patch)
            authors.append(patch.author)
            for c in cands:
                patch_index[c.message_id] = (v, k)
        total = max([p.total for p in chosen] + ([cover_msg.expected] if cover_msg else []), default=0)
        spec_v = next((x for x in spec.versions if x.version == v and v in named), None)
        cover_id = cover_msg.message_id if cover_msg else (spec_v.cover if spec_v else None)
        if cover_id is None and len(roots.get(v, ())) == 1:
            only = next(iter(roots[v]))
            cover_id = None if only in patch_index else only
        if cover_id:
            patch_index.setdefault(cover_id, (v, None))
        built[v] = (cover_msg, cover_id, chosen, total)
    return built, patch_index, authors


def _replies(others: list[Message], patch_index: dict, classify: "_Classifier",
             problems: list[Problem], found: postings.Found) -> dict[int, list[Reply]]:
    replies: dict[int, list[Reply]] = defaultdict(list)
    for m in sorted(others, key=lambda m: m.timestamp):
        where = _reply_target(m, patch_index, found)
        if where is None:
            problems.append(Problem(m.origin, f"reply {m.message_id} matches no version of the series"))
            continue
        v, k = where
        patch_index.setdefault(m.message_id, where)  # a reply to this reply lands here too
        replies[v].append(Reply(
            message_id=m.message_id, sender=m.sender, date=m.date, timestamp=m.timestamp,
            kind=classify.kind(m.sender), version=v, patch=k, in_reply_to=m.in_reply_to,
            subject=m.subject, excerpt=_excerpt(m.body), body=m.body, origin=m.origin))
    return replies


def _versions(built: dict, replies: dict, claim_lists: list, links: list, found: postings.Found) -> list[Version]:
    """The versions as the model holds them; their cover letters' claims and links are
    gathered on the way."""
    versions: list[Version] = []
    for v, (cover_msg, cover_id, chosen, total) in sorted(built.items()):
        cover = None
        base = None
        if cover_msg:
            cover = Cover(cover_msg.message_id, cover_msg.title, cover_msg.sender,
                          cover_msg.date, cover_msg.body, cover_msg.origin)
            tag = cover_msg.revision if not cover_msg.revision_inferred else v
            claim_lists.append(postings.remap(changelog.parse(cover_msg.body, cover_msg.message_id, tag),
                                              found, v))
            links += changelog.links(cover_msg.body, cover_msg.message_id)
            base = _base_commit(cover_msg.body)
        for p in chosen:
            tag = _naming(found, v, cover_msg, chosen)["tag"]
            mine = postings.remap(changelog.parse(p.notes, p.message_id, tag), found, v)
            claim_lists.append([c for c in (_own_patch(c, p, v, built) for c in mine) if c])
            links += changelog.links(p.notes, p.message_id)
        base = base or next((b for p in chosen if (b := _base_commit(p.diff))), None)
        present = {p.number for p in chosen}
        if not chosen and not cover_msg and not replies.get(v):
            continue  # a version the spec names but the source holds nothing of
        versions.append(Version(
            version=v, total=total, cover=cover, cover_message_id=cover_id,
            patches=tuple(chosen), missing=tuple(k for k in range(1, total + 1) if k not in present),
            replies=tuple(sorted(replies.get(v, []), key=lambda r: (r.patch or 0, r.timestamp))),
            base_commit=base, **_naming(found, v, cover_msg, chosen)))
    return versions


def _own_patch(c: Claim, p: Patch, v: int, built: dict) -> Claim | None:
    """A patch's note is about that patch; an earlier step it repeats is about the patch of
    the same title in that step's version (None when it had none)."""
    if c.patch is not None:
        return c
    if c.to_version == v:
        return replace(c, patch=p.number)
    then = built.get(c.to_version)
    same = [q.number for q in (then[2] if then else ()) if _same_title(q.subject, p.subject)]
    if not same and then and then[3] == 1 and built[v][3] == 1 and then[2]:
        same = [then[2][0].number]  # a one-patch series: its one patch, retitled or not
    return replace(c, patch=same[0]) if same else None


def _naming(found: postings.Found, v: int, cover_msg, chosen: list[Patch]) -> dict:
    i = found.numbers.index(v) if v in found.numbers else None
    date = cover_msg.date if cover_msg else (min(chosen, key=lambda p: p.timestamp).date if chosen else "")
    if i is None:
        return {"tag": v, "label": f"v{v}", "date": date}
    return {"tag": found.postings[i].tag, "label": found.labels[i], "date": date}


def _base_commit(text: str) -> str | None:
    m = _BASE_COMMIT.search(text)
    return m.group(1) if m else None


def _reply_target(m: Message, patch_index: dict[str, tuple[int, int | None]], found: postings.Found
                  ) -> tuple[int, int | None] | None:
    """The subject tag of a reply names its patch even when the patch mail is missing
    (v1 3/4, v8 4/4); threading names the version when the tag has no vN, and the whole
    target when the reply has no k/n tag (the nearest known ancestor decides)."""
    chain = [x for x in [m.in_reply_to, *reversed(m.references)] if x]
    known = next((patch_index[c] for c in chain if c in patch_index), None)
    if m.counters_inferred:
        return known
    version = m.revision if (not m.revision_inferred or known is None) else known[0]
    if list(found.numbers) != [p.tag for p in found.postings]:  # tags repeat: threading decides
        version = known[0] if known is not None else found.number_of_tag(m.revision, m.timestamp)
        if version is None:
            return None
    return (version, m.counter or None)
