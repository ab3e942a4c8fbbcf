"""checkpatch: the base tree's own scripts/checkpatch.pl (not the patched one: a patch
must not judge itself) on each patch mail, as NIPA runs it on netdev and bpf patchwork:
--strict, types shown, 80 columns, NIPA's ignore list. ERROR fails; WARNING and CHECK
warn. Reads only the mail (and the base's script): runs on every patch, applied or not.
"""
from __future__ import annotations

import re
from arena_patches.checks.basetree import base_tree
from arena_patches.checks.registry import Check, Failed, Need, PatchContext, register, timed_out
from arena_patches.core.findings import Finding
from arena_patches.core.model import Patch
from arena_patches.core.verdicts import Status

NIPA_IGNORE = ("COMMIT_LOG_LONG_LINE", "MACRO_ARG_REUSE", "ALLOC_SIZEOF_STRUCT", "NO_AUTHOR_SIGN_OFF",
               "GIT_COMMIT_ID", "CAMELCASE", "FILE_PATH_CHANGES", "BAD_REPORTED_BY_LINK")
# --no-tree: the script runs from a copy in the work dir, not from a kernel checkout
FLAGS = ("--no-tree", "--strict", "--show-types", "--max-line-length=80", "--no-summary",
         "--ignore", ",".join(NIPA_IGNORE))
_HEAD = re.compile(r"^(?P<level>ERROR|WARNING|CHECK):(?P<type>[A-Z0-9_]+): (?P<msg>.*)$")
_FILE = re.compile(r"^#\d+: FILE: (?P<file>.+?):(?P<line>\d+):\s*$")
_STATUS = {"ERROR": Status.FAIL, "WARNING": Status.WARN, "CHECK": Status.WARN}


def mail_text(p: Patch) -> str:
    """The patch as git format-patch writes it: what checkpatch reads from a mail."""
    trailers = "".join(f"{k}: {v}\n" for k, v in p.trailers)
    return (f"From: {p.author}\nDate: {p.date}\nSubject: [PATCH {p.number}/{p.total}] {p.subject}\n\n"
            f"{p.commit_message}\n\n{trailers}---\n{p.diff}")


def parse(output: str) -> list[Finding]:
    out: list[Finding] = []
    lines = output.splitlines()
    for i, line in enumerate(lines):
        m = _HEAD.match(line)
        if not m:
            continue
        where = _FILE.match(lines[i + 1]) if i + 1 < len(lines) else None
        out.append(Finding("checkpatch", _STATUS[m.group("level")], m.group("type"),
                           where.group("file") if where else "", m.group("msg").strip(),
                           int(where.group("line")) if where else None))
    return out


@register
class Checkpatch(Check):
    name = "checkpatch"
    needs = frozenset({Need.MAIL, Need.TREE})
    tool = ("perl", "perl")
    timeout = 300.0

    def run(self, ctx: PatchContext) -> list[Finding]:
        scripts = base_tree(ctx) / "scripts"
        mail = ctx.work / "mails" / f"v{ctx.version.version}-{ctx.patch.number}.patch"
        mail.parent.mkdir(parents=True, exist_ok=True)
        mail.write_text(mail_text(ctx.patch))
        rec = ctx.run_tree_code(["perl", str(scripts / "checkpatch.pl"), *FLAGS, str(mail)],
                                scripts.parent, self.timeout)
        timed_out(rec, "checkpatch.pl")
        found = parse(rec.stdout)
        if rec.returncode not in (0, 1) or (rec.returncode == 1 and not found):
            raise Failed(f"checkpatch.pl exited {rec.returncode}: {(rec.stderr or rec.stdout).strip()[-300:]}")
        return found
