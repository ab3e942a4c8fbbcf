"""The compiler as the judge of `parses`: where the build stage compiled a file (it
recompiles every .c file a version touches, at every patch, for every target), its
diagnostics say whether the file parses. A syntax error ("expected ';' before ...") in
the file on any target is a fail; a file some target compiled, or that only drew
semantic errors (an undeclared name, a wrong type: the compiler read it), parses."""
from __future__ import annotations

import re
from typing import Iterable

from arena_patches.core.model import Series

from arena_patches.core.verdicts import Status
from arena_patches.invariants.rules import CompilerReading

_SYNTAX = re.compile(r"^expected\b|\bexpected (?:'|‘|\"|identifier|declaration|expression|statement)|"
                     r"unterminated|missing terminating|stray '|at end of input|"
                     r"extraneous closing brace|unmatched", re.I)


def is_syntax_error(message: str) -> bool:
    return bool(_SYNTAX.search(message))


def readings(cells: Iterable, series: Series) -> dict[tuple[str, str], CompilerReading]:
    """(commit, file) -> the compiler's reading, from the build cells (BuildCell)."""
    touched: dict[int, list[str]] = {}
    for v in series.versions:
        touched[v.version] = sorted({p for patch in v.patches for p in patch.paths if p.endswith(".c")})
    out: dict[tuple[str, str], CompilerReading] = {}
    for c in cells:
        if c.commit is None or c.version is None or c.status not in (Status.PASS, Status.WARN, Status.FAIL):
            continue
        diags = list(c.errors) + list(c.inherited)
        if c.status is Status.FAIL and not diags:
            continue  # make failed before the compiler spoke (config, link, tools)
        where = f"{c.toolchain} for {c.target}, v{c.version} {c.patch}"
        for path in touched.get(c.version, ()):
            if path in c.not_built:
                continue
            syntax = [d for d in diags if d.file == path and is_syntax_error(d.message)]
            key = (c.commit, path)
            if syntax:
                out[key] = CompilerReading(False, f"{where}: {syntax[0]}")
            elif key not in out:
                out[key] = CompilerReading(True, f"{where} compiled it"
                                           + (" (with errors that are not syntax errors)"
                                              if any(d.file == path for d in diags) else ""))
    return out
