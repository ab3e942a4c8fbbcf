"""Cover letters (and merge commit messages) -> changelog claims.

Recognised block headers, as kernel authors write them:
    Changes in v6->v7:      Changes v2 -> v3:     v2 -> v3:     Changes since v2:
    Changes in v3:          v3:  (followed by bullets, not by a link)
Inside a block, "Patch 2:" / "Patch 2/3:" / "[PATCH 2/4]" lines set the patch the
following bullets are about; a bullet that names no patch header but says "patch N"
in its text is about patch N; otherwise the claim is series-wide (patch None).
A trailing "(Name)" on a bullet records who asked for the change.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from arena_patches.core.model import Claim, VersionLink

# numbers are read to 9 digits at most: a 5,000-digit "v99…9" is not a version header
# (int() would refuse it), it is prose
_N = r"(?<!\d)\d{1,9}(?!\d)"
_V = rf"[vV]?({_N})"
_ARROW = r"\s*(?:->|-->|→|=>|\.\.|to|-)\s*"
_HDR_RANGE = re.compile(
    rf"^\s*(?:changes\s+(?:in|from|since|between)?\s*|changelog\s*:?\s*)?{_V}{_ARROW}{_V}\s*:?\s*$", re.I)
_HDR_SINCE = re.compile(rf"^\s*changes\s+(?:since|from)\s+{_V}\s*:?\s*$", re.I)
_HDR_IN = re.compile(rf"^\s*changes\s+(?:in|for)\s+{_V}\s*:?\s*$", re.I)
_HDR_BARE = re.compile(rf"^\s*[vV]({_N})\s*:\s*$")
_LINK = re.compile(rf"^\s*[vV]({_N})\s*:\s*(?:https?://\S+?/)([^/\s]+@[^/\s]+?)/?\s*$")
# "[PATCH 2/4]:" names patch 2 of 4; "Patch 2/3:" (no brackets) names patches 2 and 3.
_PATCH_HDR_TAG = re.compile(rf"^\s*\[PATCH[^\]]*?\s({_N})/\d+\]\s*:?\s*$", re.I)
_PATCH_HDR = re.compile(
    rf"^\s*patch(?:es)?\s*\#?({_N}(?:\s*(?:/|,|and|&)\s*{_N})*)\s*:\s*$", re.I)
_BULLET = re.compile(r"^(\s*)(?:[-*•+]|\d+[.)])\s+(.*)$")
_PATCH_IN_TEXT = re.compile(rf"\bpatch(?:es)?\s+#?({_N})(?:\s*(?:/|and|&|,)\s*({_N}))?", re.I)
_ASKER = re.compile(r"\(([^()]{1,40})\)\s*\.?\s*$")
_NAME_LIKE = re.compile(r"^[A-Za-z][A-Za-z .'\-]*$")


@dataclass
class _Open:
    from_v: int
    to_v: int
    patches: tuple[int, ...] = ()


def _patch_list(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(_N, text))


def _asker(text: str) -> tuple[str, str | None]:
    """Split a trailing "(Alexei)" off a bullet; code such as "(free_pages)" is not a name."""
    m = _ASKER.search(text)
    if not m:
        return text, None
    who = " ".join(m.group(1).split())
    if not _NAME_LIKE.match(who) or len(who.split()) > 4:
        return text, None
    return text[:m.start()].rstrip(), who.lower()


def _patches_named(text: str) -> tuple[int, ...]:
    m = _PATCH_IN_TEXT.search(text)
    if not m:
        return ()
    return tuple(int(g) for g in m.groups() if g)


def _header(line: str, this_version: int | None) -> _Open | None:
    if _LINK.match(line):
        return None
    m = _HDR_RANGE.match(line)
    if m and re.search(r"[vV]\d|changes|changelog", line, re.I):
        a, b = int(m.group(1)), int(m.group(2))
        if a < b:
            return _Open(a, b)
    m = _HDR_SINCE.match(line)
    if m and this_version:
        return _Open(int(m.group(1)), this_version)
    m = _HDR_IN.match(line) or _HDR_BARE.match(line)
    if m and int(m.group(1)) > 1:
        return _Open(int(m.group(1)) - 1, int(m.group(1)))
    return None


def links(text: str, cited_in: str) -> list[VersionLink]:
    out = []
    for line in text.splitlines():
        m = _LINK.match(line)
        if m:
            out.append(VersionLink(int(m.group(1)), m.group(2), cited_in))
    return out


def parse(text: str, source: str, this_version: int | None = None) -> list[Claim]:
    """Every claim in one cover letter or merge message, in order of appearance."""
    claims: list[Claim] = []
    block: _Open | None = None
    bullet: list[str] = []
    bullet_patches: tuple[int, ...] = ()
    blank_seen = False

    def flush() -> None:
        nonlocal bullet
        if block and bullet:
            text_, who = _asker(" ".join(" ".join(bullet).split()))
            named = bullet_patches or _patches_named(text_)
            for p in named or (None,):
                claims.append(Claim(block.from_v, block.to_v, p, text_, who, (source,)))
        bullet = []

    for line in text.splitlines():
        if line.startswith(">"):
            continue
        hdr = _header(line, this_version)
        if hdr:
            flush()
            block, blank_seen = hdr, False
            continue
        if block is None:
            continue
        if not line.strip():
            flush()
            blank_seen = True
            continue
        m = _BULLET.match(line)
        ph = None if m else (_PATCH_HDR_TAG.match(line) or _PATCH_HDR.match(line))
        if ph:
            flush()
            block.patches = _patch_list(ph.group(1))
            blank_seen = False
            continue
        if m:
            flush()
            bullet, bullet_patches, blank_seen = [m.group(2)], block.patches, False
            continue
        if bullet and line[:1].isspace():
            bullet.append(line.strip())  # a wrapped bullet
            continue
        if blank_seen or not line[:1].isspace():
            flush()  # prose after the block: the changelog is over
            block = None
            continue
        bullet, bullet_patches = [line.strip()], block.patches  # an unbulleted indented line
    flush()
    return claims


def _key(c: Claim) -> tuple:
    return (c.from_version, c.to_version, c.patch, " ".join(c.text.lower().split()))


def merge(claim_lists: list[list[Claim]]) -> list[Claim]:
    """Later covers repeat earlier changelogs: keep one claim per (step, patch, text),
    remembering every text that carried it."""
    merged: dict[tuple, Claim] = {}
    for claims in claim_lists:
        for c in claims:
            k = _key(c)
            if k not in merged:  # a text cut short by another wrapping (a merge message) is the same claim
                k = next((o for o in merged if o[:3] == k[:3] and len(k[3]) >= 20
                          and (o[3].startswith(k[3]) or k[3].startswith(o[3]))), k)
            old = merged.get(k)
            if old is None:
                merged[k] = c
            else:
                merged[k] = Claim(old.from_version, old.to_version, old.patch, old.text,
                                  old.asked_by or c.asked_by,
                                  old.sources + tuple(s for s in c.sources if s not in old.sources))
    return sorted(merged.values(), key=lambda c: (c.from_version, c.to_version,
                                                   c.patch if c.patch is not None else 0))
