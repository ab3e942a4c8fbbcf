"""commit-tags: what maintainers' scripts check in a commit message. The author signs
off; `Fixes:` is in the kernel's form (12+ hex digits, the subject quoted) and, where the
tree holds the commit, it resolves and its subject matches; a `Reported-by:` is followed
by `Closes:` or `Link:`. Reads only the mail (the tree only to resolve Fixes:).
"""
from __future__ import annotations

import re

from arena_patches.checks.registry import Check, Need, PatchContext, register
from arena_patches.core.findings import Finding
from arena_patches.core.verdicts import Status

_FIXES = re.compile(r'^(?P<sha>[0-9a-f]{12,40}) \("(?P<subject>.+)"\)$')
_EMAIL = re.compile(r"<([^>]+)>")


def _finding(status: Status, type_: str, message: str) -> Finding:
    return Finding("commit-tags", status, type_, "", message)


def _signed_off(ctx: PatchContext) -> list[Finding]:
    author = ctx.patch.author.email.lower()
    signers = [m.group(1).lower() for k, v in ctx.patch.trailers if k.lower() == "signed-off-by"
               for m in [_EMAIL.search(v)] if m]
    if author in signers:
        return []
    return [_finding(Status.FAIL, "NO_AUTHOR_SIGNOFF",
                     f"no Signed-off-by from the author {ctx.patch.author}")]


def _fixes(ctx: PatchContext, value: str) -> list[Finding]:
    m = _FIXES.match(value.strip())
    if not m:
        return [_finding(Status.FAIL, "FIXES_FORMAT", f"Fixes: {value.strip()}: expected "
                         "'Fixes: <12+ hex digits> (\"<subject>\")'")]
    if ctx.wr is None:
        return []
    sha = ctx.wr.resolve(m.group("sha"))
    if sha is None:
        return []  # the tree does not hold it (a tarball has no history): nothing to say
    subject = ctx.wr.git("log", "-1", "--format=%s", sha).stdout.strip()
    if subject != m.group("subject"):
        return [_finding(Status.FAIL, "FIXES_SUBJECT", f"Fixes: {m.group('sha')}: the tree's "
                         f"subject is \"{subject}\", not \"{m.group('subject')}\"")]
    return []


def _reported(ctx: PatchContext) -> list[Finding]:
    tags = [k.lower() for k, _ in ctx.patch.trailers]
    out = []
    for i, (k, v) in enumerate(ctx.patch.trailers):
        if k.lower() == "reported-by" and (i + 1 >= len(tags) or tags[i + 1] not in ("closes", "link")):
            out.append(_finding(Status.WARN, "REPORTED_BY_NO_CLOSES",
                                f"Reported-by: {v} is not followed by Closes: or Link:"))
    return out


@register
class CommitTags(Check):
    name = "commit-tags"
    needs = frozenset({Need.MAIL})

    def run(self, ctx: PatchContext) -> list[Finding]:
        out = _signed_off(ctx) + _reported(ctx)
        for k, v in ctx.patch.trailers:
            if k.lower() == "fixes":
                out += _fixes(ctx, v)
        return out
