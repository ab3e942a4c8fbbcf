"""The claim kinds: how each reads a changelog bullet and how it is judged on the mails.

A judge says `holds` only on a line it can quote, and `contradicted` only where the mails
refute the words themselves (a renamed name the new version still adds); anything else
is `unjudged` with the reason. The order of the registrations is the order of trial.
"""
from __future__ import annotations

import re

from arena_patches.core.verdicts import ClaimVerdict
from arena_patches.review.claims import kind
from arena_patches.review.claims.scope import Scope

HOLDS, CONTRADICTED, UNJUDGED = ClaimVerdict.HOLDS, ClaimVerdict.CONTRADICTED, ClaimVerdict.UNJUDGED
_QUOTED = re.compile(r"[\"'`]([A-Za-z_][\w.>-]*)(?:\(\))?[\"'`]")
_WORD = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)(\()?")  # "name(" is a call: code
# a word is code when it has an underscore, (), an inner capital, or is an upper-case name
_CONSTRUCTS = {r"\bdefines?\b|\bmacros?\b": "#define", r"\bheaders?\b|\b(?<!to )includes?\b|\.h\b": "#include",
               r"\bstructs?\b|\bstructures?\b": "struct ", r"\bcomments?\b": "/*"}
_TYPES = (r"const|unsigned\s+(?:int|long|char)|signed\s+(?:int|char)|size_t|ssize_t|loff_t|off_t|pgoff_t|"
          r"gfp_t|bool|[us](?:8|16|32|64)|__[lb]e(?:16|32|64)|__u(?:8|16|32|64)|u?int(?:8|16|32|64)_t|"
          r"long|char|int|integers?")


def code_words(text: str) -> list[str]:
    out = [m.group(1) for m in _QUOTED.finditer(text)]
    for m in _WORD.finditer(_QUOTED.sub(" ", text)):
        w = m.group(1)
        if "_" in w or m.group(2) or (w[0].islower() and any(c.isupper() for c in w)) or \
                (w.isupper() and len(w) >= 3):
            out.append(w)
    return list(dict.fromkeys(out))


def _has(word: str, line: str) -> bool:
    if word.startswith(("#", "/*", "struct ")):
        return word in line or (word == "/*" and line.strip().startswith(("*", "//")))
    return re.search(rf"(?<![\w]){re.escape(word)}(?![\w])", line) is not None


def _needles(text: str) -> list[str]:
    return code_words(text) + [c for rx, c in _CONSTRUCTS.items() if re.search(rx, text, re.I)]


def _quote(sc: Scope, p, line: str, what: str) -> str:
    return f"{sc.where(p)} {what}: {line.strip()[:160]}"


# ---------------------------------------------------------------- patches added, dropped, split

@kind("patch-added", r"\bnew\s+patch\b|\badd(?:ed|s)?\s+(?:a\s+)?(?:new\s+)?patch\b")
def _patch_added(sc: Scope, args) -> tuple[ClaimVerdict, str]:
    if sc.patch is not None and not sc.old_patches:
        (p,) = sc.new_patches
        return HOLDS, f"{sc.where(p)} \"{p.subject}\" has no counterpart in {sc.old.name}"
    if sc.patch is None and len(sc.new.patches) > len(sc.old.patches) and sc.complete:
        return HOLDS, f"{sc.new.name} has {sc.new.total} patches, {sc.old.name} had {sc.old.total}"
    return UNJUDGED, "no patch of the new version is without a counterpart in the mails"


@kind("patch-squashed", r"\b(?:merg|squash|fold|combin)\w*\b.*\bpatch|\bpatch\w*\b.*\b(?:merg|squash|fold)\w*")
def _patch_squashed(sc: Scope, args) -> tuple[ClaimVerdict, str]:
    if sc.old.total > sc.new.total:
        return HOLDS, f"{sc.new.name} has {sc.new.total} patches, {sc.old.name} had {sc.old.total}"
    return UNJUDGED, "the new version has as many patches as the old one"


@kind("patch-dropped", r"\b(?:drop|remov|delet)\w*\s+(?:the\s+)?(?:\w+\s+)?patch\b")
def _patch_dropped(sc: Scope, args) -> tuple[ClaimVerdict, str]:
    return _patch_squashed(sc, args)


@kind("patch-split", r"\bsplit\b.*\bpatch|\bpatch\w*\b.*\bsplit\b")
def _patch_split(sc: Scope, args) -> tuple[ClaimVerdict, str]:
    if sc.new.total > sc.old.total:
        return HOLDS, f"{sc.new.name} has {sc.new.total} patches, {sc.old.name} had {sc.old.total}"
    return UNJUDGED, "the new version has no more patches than the old one"


# ---------------------------------------------------------------- mail-only changes

@kind("no-code-change", r"\bno\s+(code)\s+changes?\b")
def _no_code_change(sc: Scope, args) -> tuple[ClaimVerdict, str]:
    """"No code changes in v2": every code line (not comments, not blank, whitespace
    aside) the version adds or removes is one the version before added or removed."""
    if not sc.complete:
        return UNJUDGED, "a patch of one of the two versions is not in the source"
    norm = lambda l: " ".join(l.split())  # noqa: E731
    for sign, what in (("+", "adds"), ("-", "removes")):
        old = {norm(l) for _p, l in sc.code("old", sign)}
        new = [(p, l) for p, l in sc.code("new", sign) if norm(l) not in old]
        if new:
            return CONTRADICTED, _quote(sc, new[0][0], new[0][1], f"{what} code {sc.old.name} did not")
    return HOLDS, f"the code lines of {sc.new.name} are those of {sc.old.name} (comments and layout aside)"


_TRAILER_KIND = re.compile(
    r"\b((?:acked|reviewed|tested|suggested|reported)-by)\b|"
    r"\b(acked|reviewed|tested)\s+(?:from|by)\b|"  # "Acked from Jiri"
    # "Picked up trailers", "add Jiri's ack", "collected the review tags": the trailer word
    # within two words of the verb ("Added an IPv6 fix ... per Julian's review" is code)
    r"\b(?:pick|collect|add|carr|appl)\w*\s+(?:up\s+)?(?:[\w.'-]+\s+){0,2}(?:tags?|trailers?|acks?|reviews?|r-?bs?)\b()|"
    r"\b(cc:?\s*stable)\b", re.I)
# who a trailer claim credits: "acked-by Nikolay", "Acked from Jiri", "Jakub's review",
# "Reviewed-by: Simon Horman"; words that are no one's name are left out
_CREDIT = re.compile(r"(?:-by\s*:?(?:\s+(?:from|of))?|\bfrom|\bby)\s+([A-Za-z][\w'-]*)|\b([A-Z][a-z]+)'s\b")
_NO_ONE = {"the", "a", "an", "all", "each", "every", "patch", "patches", "series", "version", "tag", "tags",
           "trailer", "trailers", "ack", "acks", "review", "reviews", "reviewer", "reviewers", "feedback",
           "maintainer", "maintainers", "everyone", "them", "previous", "earlier", "stable", "cc", "list",
           "community", "people", "others", "various", "several", "mailing", "lkml", "upstream", "both",
           "from", "by", "of", "to", "for", "in", "on", "with", "and", "me", "him", "her", "this", "that"}


def _read_trailers(text: str) -> tuple[str, ...] | None:
    m = _TRAILER_KIND.search(text)
    if not m:
        return None
    named = (m.group(1) or (m.group(2) + "-by" if m.group(2) else "") or
             ("cc-stable" if m.group(4) else "")).lower()
    people = [next(g for g in c.groups() if g).removesuffix("'s") for c in _CREDIT.finditer(text)]
    people = [w for w in people if w.lower() not in _NO_ONE and not any(ch.isdigit() for ch in w)]
    return (named, *dict.fromkeys(w.lower() for w in people))


def _credits(value: str, people: tuple[str, ...]) -> bool:
    return not people or any(re.search(rf"(?<![\w]){re.escape(who)}(?![\w])", value.lower()) for who in people)


@kind("trailers", read=_read_trailers)
def _trailers(sc: Scope, args) -> tuple[ClaimVerdict, str]:
    """A trailer a patch gains against the patch it continues (not against the whole old
    version: a Fixes: moved to another patch is gained there), of the type the claim names
    and crediting whom it names ("patch7 acked-by Nikolay" holds on Nikolay's Acked-by on
    7/7, never on Daniel's on 1/7)."""
    named, people = (args[0] if args else ""), tuple(args[1:])
    for p in sc.new_patches:
        q = sc.counterpart(p)
        old = {(k.lower(), v.lower()) for k, v in (q.trailers if q else ())}
        for k, v in p.trailers:
            if (k.lower(), v.lower()) in old or k.lower() == "signed-off-by":
                continue
            if named == "cc-stable":
                if k.lower() == "cc" and "stable" in v.lower():
                    return HOLDS, f"{sc.where(p)} gains {k}: {v}"
                continue
            if (not named or named == k.lower()) and _credits(v, people):
                return HOLDS, f"{sc.where(p)} gains {k}: {v}"
    who = f" crediting {', '.join(people)}" if people else ""
    return UNJUDGED, (f"no patch in the mails gains such a trailer{who} against the patch it continues "
                      "(it may sit on a cover or a patch absent)")


@kind("rebase", r"\b(rebas\w*)\b")
def _rebase(sc: Scope, args) -> tuple[ClaimVerdict, str]:
    if sc.old.base_commit and sc.new.base_commit and sc.old.base_commit != sc.new.base_commit:
        return HOLDS, f"base-commit {sc.old.base_commit[:12]} -> {sc.new.base_commit[:12]}"
    pairs = [(q, p) for p in sc.new_patches for q in sc.old_patches if q.subject == p.subject] or \
        list(zip(sc.old_patches, sc.new_patches))
    for q, p in pairs:
        if dict(q.base_blobs) != dict(p.base_blobs):
            f, b = next((f, b) for f, b in p.base_blobs if dict(q.base_blobs).get(f) != b)
            return HOLDS, f"{sc.where(p)} applies to {f} {b}, {sc.where(q)} to {dict(q.base_blobs).get(f)}"
        hunks = lambda x: re.findall(r"^@@ [^@]+ @@", x.diff, re.M)  # noqa: E731
        if hunks(q) != hunks(p):
            return HOLDS, f"{sc.where(p)}'s hunks moved ({hunks(q)[0]} -> {hunks(p)[0]})"
    return UNJUDGED, "no base-commit, index line or hunk position in the mails moved"


@kind("commit-message", r"\b(?:commit\s+(?:log|message|msg|description|title)|reword\w*|"
                        r"description|subject)\b")
def _commit_message(sc: Scope, args) -> tuple[ClaimVerdict, str]:
    pairs = [(q, p) for p in sc.new_patches for q in sc.old_patches if q.number == p.number or
             q.subject == p.subject]
    for q, p in pairs:
        if (q.subject, q.commit_message.strip()) != (p.subject, p.commit_message.strip()):
            new = [l for l in p.commit_message.splitlines() if l not in q.commit_message.splitlines()]
            line = p.subject if q.subject != p.subject else (new[0] if new else "(lines removed)")
            return HOLDS, _quote(sc, p, line, "message now says")
    return UNJUDGED, "no commit message in the mails changed"


# ---------------------------------------------------------------- code

@kind("whitespace", r"\b(?:fix\w*|correct\w*|improper|wrong)\b.*\b(align\w*)\b|"
                    r"\b(indent\w*|white\s*space|coding\s+style|checkpatch)\b")
def _whitespace(sc: Scope, args) -> tuple[ClaimVerdict, str]:
    """Layout: a line the version adds that the one before added laid out otherwise (its
    indentation too: "Fixed indentation" re-indents a continuation line)."""
    gained, lost = sc.changed(layout=True)
    before = {" ".join(l.split()) for _p, l in lost}
    hit = next(((p, l) for p, l in gained if l.strip() and " ".join(l.split()) in before), None)
    if hit:
        return HOLDS, _quote(sc, hit[0], hit[1], "lays out anew")
    return UNJUDGED, "no line the version adds differs from an earlier one only in layout"


def _read_rename(text: str) -> tuple[str, ...] | None:
    m = re.search(r"\brenam\w*\b(.*)$", text, re.I)
    if not m:
        return None
    parts = re.split(r"\s+(?:to|into|->|=>|→|with)\s+", m.group(1), maxsplit=1)
    if len(parts) != 2:
        return None
    left_text = re.sub(r"^.*?\bfrom\b", "", parts[0]).strip()
    right_text = re.split(r"\s+(?:for|as|because|since|so|to|in|throughout)\b|[,;.]\s|\.$", parts[1])[0].strip()
    left, right = code_words(left_text), code_words(right_text)
    # "Renamed ctx to priv": one bare word on each side of "to" is the pair itself
    one = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
    if not left and one.match(left_text) and not right and one.match(right_text):
        left, right = [left_text], [right_text]
    if not right or (left and len(left) != len(right)):
        return None
    return (",".join(left), ",".join(right))


@kind("rename", read=_read_rename)
def _rename(sc: Scope, args) -> tuple[ClaimVerdict, str]:
    olds, news = (args[0].split(",") if args[0] else []), args[1].split(",")
    shown = []
    for i, b in enumerate(news):
        a = olds[i] if olds else None
        new_b = [(p, l) for p, l in sc.code("new") if _has(b, l)]
        if a:
            had_a = any(_has(a, l) for _p, l in sc.lines("old", "+") + sc.lines("old", "-")) or \
                any(_has(a, l) for _p, l in sc.lines("new", "-"))
            left = [(p, l) for p, l in sc.code("new") if _has(a, l)]
            if left and had_a:
                return CONTRADICTED, _quote(sc, left[0][0], left[0][1], f"still adds {a}")
            if not new_b or not had_a:
                return UNJUDGED, f"{a if not had_a else b} is not in the code of the patches"
        elif not new_b or any(_has(b, l) for _p, l in sc.lines("old", "+")):
            return UNJUDGED, f"{b} is not new in the code of {sc.new.name}"
        shown.append(_quote(sc, new_b[0][0], new_b[0][1], "adds"))
    return HOLDS, "; ".join(shown) + ("; no line adds " + ", ".join(olds) if olds else "")


def _read_type(text: str) -> tuple[str, ...] | None:
    m = re.search(r"\b(?:use[sd]?|using|chang\w*|switch\w*|convert\w*|cast\w*|made|make|turn\w*|declar\w*)\b",
                  text, re.I)
    types = re.findall(rf"\b({_TYPES})\b", text[m.end():], re.I) if m else []
    return (types[-1],) if types else None  # "integer promotion ... to unsigned int": the last


@kind("type-change", read=_read_type)
def _type_change(sc: Scope, args) -> tuple[ClaimVerdict, str]:
    t = re.sub(r"^signed\s+integers?$|^integers?$", "int", " ".join(args[0].lower().split()))
    t = re.sub(r"^unsigned\s+integers?$", "unsigned int", re.sub(r"^signed\s+", "", t))
    gained, _lost = sc.changed()
    hit = next(((p, l) for p, l in gained if re.search(rf"\b{re.escape(t)}\b", l)), None)
    if hit:
        return HOLDS, _quote(sc, hit[0], hit[1], f"adds {t}")
    return UNJUDGED, f"no line the new version adds or changes uses {t}"


def _read_moved(text: str) -> tuple[str, ...] | None:
    m = re.search(r"\bmov(?:e|ed|es|ing)\b", text, re.I)
    return tuple(_needles(text[m.start():])) if m else None


@kind("moved", read=_read_moved)
def _moved(sc: Scope, args) -> tuple[ClaimVerdict, str]:
    return _by_lines(sc, list(args), sc.moved(), "moves", "no line naming it moved")


_REMOVE = r"\b(?:remov\w*|drop\w*|delet\w*|get\s+rid|no\s+longer|eliminat\w*|kill\w*|avoid\w*)\b"
_ADD = r"\b(?:add\w*|call\w*|introduc\w*|use[sd]?|using|import\w*|implement\w*|updat\w*|includ\w*)\b"


def _read_code(pattern: str):
    def read(text: str) -> tuple[str, ...] | None:
        m = re.search(pattern, text, re.I)
        if not m:
            return None
        needles = _needles(text)
        return tuple(needles) if needles else None
    return read


@kind("removed", read=_read_code(_REMOVE))
def _removed(sc: Scope, args) -> tuple[ClaimVerdict, str]:
    _gained, lost = sc.changed()
    removed_now = sc.lines("new", "-")
    return _by_lines(sc, list(args), lost + removed_now, "no longer adds",
                     "the new version still adds every line naming it")


@kind("added", read=_read_code(_ADD))
def _added(sc: Scope, args) -> tuple[ClaimVerdict, str]:
    gained, _lost = sc.changed()
    return _by_lines(sc, list(args), gained, "adds", "no line the new version adds names it")


def _by_lines(sc: Scope, needles: list[str], lines, what: str, otherwise: str) -> tuple[ClaimVerdict, str]:
    for n in needles:
        hit = next(((p, l) for p, l in lines if _has(n, l)), None)
        if hit:
            return HOLDS, _quote(sc, hit[0], hit[1], what)
    return UNJUDGED, f"{otherwise} ({', '.join(needles) or 'nothing code-like in the words'})"


def _read_names_code(text: str) -> tuple[str, ...] | None:
    words = code_words(text)
    return tuple(words) if words else None


@kind("names-code", read=_read_names_code)
def _names_code(sc: Scope, args) -> tuple[ClaimVerdict, str]:
    """The weakest reading, tried last: the claim names code ("Fix double mutex_unlock() in
    arena_alloc_pages()"); it holds as far as the mails can tell when a line the version
    changes names it. What the change does to it is for a spec's invariant to say."""
    gained, lost = sc.changed()
    return _by_lines(sc, list(args), gained + lost + sc.moved(), "changes a line naming it",
                     "no line the version changes names it")
