"""`spec draft`: a series spec written from the mails alone, for a maintainer to refine
instead of writing from nothing: the versions with their covers' Message-IDs, every
changelog claim with its drafted check (kind, arguments, the verdict the mails give),
each commented with the changelog line it came from, and build targets guessed from the
files the patches touch. No [boot]: a probe is something a maintainer names.

The text is TOML; a run with no spec reads the same text back (spec.from_dict), so
`verify` without a spec behaves exactly as with its draft.
"""
from __future__ import annotations

import json
import re
import tomllib
from typing import Any

from arena_patches.core.model import Series
from arena_patches.kbuild import targets as targets_mod
from arena_patches.review.claims import Judged

# generic code is built on one 64-bit, one 32-bit and one other 64-bit arch by default
_GENERIC = ("x86_64", "i386", "arm64")
_ARCH_DIRS = {"x86": ("x86_64", "i386"), "arm": ("arm",), "arm64": ("arm64",), "riscv": ("riscv64",),
              "loongarch": ("loongarch64",)}


def _s(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a TOML basic string


def _comment(text: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f]", " ", text)


def guess_targets(s: Series) -> tuple[str, ...]:
    """The arches whose arch/ directories the patches touch; generic code: the default trio."""
    paths = {p for v in s.versions for patch in v.patches for p in patch.paths}
    arches: list[str] = []
    generic = False
    for path in paths:
        # arch/x86/..., and drivers that live only on one arch (drivers/platform/x86/...)
        m = re.match(r"arch/([^/]+)/", path) or re.search(r"/(x86|arm64|riscv|loongarch)/", path)
        if m:
            arches += _ARCH_DIRS.get(m.group(1), ())
        elif not path.startswith(("Documentation/", "tools/")):
            generic = True
    chosen = list(_GENERIC) if generic or not arches else []
    chosen += [a for a in arches if a not in chosen]
    return tuple(t for t in targets_mod.ORDER if t in chosen)


def draft_text(s: Series, name: str, judged: list[Judged], source: str = "") -> str:
    out = [f"# Drafted by `arena-patches spec draft` from {_comment(source) or 'the mails'}: "
           "refine it, then run with --spec.",
           "[series]", f"id = {_s(name)}", f"title = {_s(s.info.title)}"]
    author = next((str(p.author) for v in s.versions for p in v.patches), None)
    if author:
        out.append(f"author = {_s(author)}")
    for v in s.versions:
        out += ["", "[[versions]]", f"version = {v.tag if v.tag is not None else v.version}",
                f"label = {_s(v.name)}"]  # version: the number its subject carries
        if v.cover_message_id:
            out.append(f"cover = {_s(v.cover_message_id)}")
        if v.patches:
            out.append("patches = [" + ", ".join(_s(p.message_id) for p in v.patches) + "]")
    out += ["", "# guessed from the files the patches touch", "[build]",
            "targets = [" + ", ".join(_s(t) for t in guess_targets(s)) + "]",
            "kconfig = []  # the options the series needs on top of tinyconfig",
            "", "# no [boot]: nothing says what to probe, so nothing is booted"]
    for j in judged:
        c = j.claim
        out += ["", f"# {j.against}->{j.version}" + (f" patch {c.patch}" if c.patch else "")
                + f": {_comment(c.text)}", "[[claims]]", f"version = {_s(j.version)}",
                f"against = {_s(j.against)}"]
        if c.patch is not None:
            out.append(f"patch = {c.patch}")
        out += [f"kind = {_s(j.kind)}", "args = [" + ", ".join(_s(a) for a in j.args) + "]",
                f"drafted = {_s(j.verdict.value)}  # {_comment(j.evidence)[:150]}"]
    return "\n".join(out) + "\n"


def draft_dict(text: str) -> dict[str, Any]:
    return tomllib.loads(text)
