"""Compiler and linker output -> diagnostics with an identity.

A warning's identity is (file, message, flag): not its line (patches move lines) and not
how often it appears (the same warning printed twice is one warning). That identity is
what "new warnings" are computed on.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from arena_patches.core.findings import Finding, new_by_identity  # noqa: F401 (the one identity diff)
from arena_patches.core.verdicts import Severity, Status

_CC = re.compile(r"^(?P<file>[^\s:][^:]*?):(?P<line>\d+):(?:(?P<col>\d+):)?\s+"
                 r"(?P<sev>fatal error|error|warning|note):\s+(?P<msg>.*?)(?:\s+\[(?P<flag>-W[^\]]+)\])?$")
# ld: "verifier.c:(.text+0x1a2): undefined reference to `x'" and
#     "/abs/kernel/bpf/verifier.c:21986: undefined reference to `x'"
_LD = re.compile(r"^(?:\S*ld(?:\.\w+)?(?:-\d+)?: )?(?P<file>[^\s:]+?)(?::(?P<line>\d+))?"
                 r"(?::\(\S+\))?: (?P<msg>(?:undefined reference|multiple definition|relocation truncated)[^\n]*)$")
_LD_ERR = re.compile(r"^(?P<tool>\S*ld(?:\.\w+)?(?:-\d+)?): (?P<msg>.*(?:error|undefined symbol).*)$")
# kbuild's quiet line for one step of a recipe: "  CC      kernel/bpf/arena.o", "  CC [M]  x.o",
# "  AR      built-in.a", "  CHECK   kernel/bpf/arena.c"
_QUIET = re.compile(r"^  (?P<tag>[A-Z][A-Z0-9_]*(?: \[M\])?) +(?P<path>\S+)$")
_MAKE_ERR = re.compile(r"^make(?:\[\d+\])?: \*\*\* (?P<msg>.*)$")
# What only the machine causes: the disk or the memory ran out, the compiler was killed
# (gas: "can't fill 256 bytes in section .data of x.o: 'No space left on device'"; gcc:
# "fatal error: Killed signal terminated program cc1"; clang: "unable to execute command:
# Killed"). A tool's own line, never a quoted source line (`  12 | pr_err("...")`).
_INFRA = re.compile(r"^\S.*(?:No space left on device|Disk quota exceeded|Killed signal terminated program"
                    r"|unable to execute command: Killed|virtual memory exhausted|out of memory allocating"
                    r"|Cannot allocate memory)")


@dataclass(frozen=True)
class Diagnostic:
    file: str
    line: int | None
    column: int | None
    severity: Severity  # a word ("error") is taken too: it is read into the enum
    message: str
    flag: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "severity", Severity(self.severity))

    @property
    def identity(self) -> tuple[str, str, str | None]:
        return (self.file, self.message, self.flag)

    def finding(self, check: str = "build") -> Finding:
        """The diagnostic as every checker reports (core/findings.py): an error fails."""
        return Finding(check, Status.FAIL if self.severity is Severity.ERROR else Status.WARN,
                       self.flag or self.severity.value, self.file, self.message, self.line)

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "") + (f":{self.column}" if self.column else "")
        return f"{where}: {self.severity.value}: {self.message}" + (f" [{self.flag}]" if self.flag else "")


def as_dict(d: Diagnostic) -> dict:
    """The one shape of a diagnostic outside Python: the JSON output (report/jsonout.py)
    and the result cache (state.py) both use it."""
    return {"file": d.file, "line": d.line, "column": d.column, "severity": d.severity.value,
            "message": d.message, "flag": d.flag}


def from_dict(x: dict) -> Diagnostic:
    return Diagnostic(x["file"], x["line"], x["column"], x["severity"], x["message"], x["flag"])


def relativize(path: str, roots: list[str]) -> str:
    for r in roots:
        r = r.rstrip("/") + "/"
        if path.startswith(r):
            return path[len(r):]
    while path.startswith("../"):
        path = path[3:]
    return path[2:] if path.startswith("./") else path


_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def parse(output: str, roots: list[str] = ()) -> list[Diagnostic]:
    """Every diagnostic in a build log, in order; duplicates kept (callers dedupe by identity).
    Typographic quotes (a UTF-8 locale) are read as plain ones, so identity does not
    depend on the locale a log was made in."""
    out: list[Diagnostic] = []
    for raw in output.translate(_QUOTES).splitlines():
        line = raw.rstrip()
        m = _CC.match(line)
        if m:
            sev = Severity.ERROR if m.group("sev") == "fatal error" else Severity(m.group("sev"))
            out.append(Diagnostic(relativize(m.group("file"), list(roots)), int(m.group("line")),
                                  int(m.group("col")) if m.group("col") else None, sev,
                                  m.group("msg").strip(), m.group("flag")))
            continue
        m = _LD.match(line)
        if m:
            out.append(Diagnostic(relativize(m.group("file"), list(roots)),
                                  int(m.group("line")) if m.group("line") else None, None,
                                  Severity.ERROR, m.group("msg").strip()))
            continue
        m = _LD_ERR.match(line)
        if m:
            out.append(Diagnostic(m.group("tool").rsplit("/", 1)[-1], None, None, Severity.ERROR,
                                  m.group("msg").strip()))
    return out


def by_object(output: str, roots: list[str] = ()) -> dict[str, list[Diagnostic]]:
    """Each object compiled in a make whose output is grouped per target (`make
    --output-sync=target`, stderr into stdout): the diagnostics its recipe printed, by the
    object's path in O= (its quiet line `  CC      kernel/bpf/arena.o`). A recipe's output
    is one block: the object's block runs from its CC line to the next quiet line of
    another file (its own `CHECK kernel/bpf/arena.c`, kernel-doc's W=1 lines, objtool's
    stay in it)."""
    out: dict[str, list[Diagnostic]] = {}
    current: str | None = None
    for line in output.splitlines():
        m = _QUIET.match(line)
        if m:
            path = m.group("path")
            if m.group("tag") in ("CC", "CC [M]") and path.endswith(".o"):
                current = path
                out.setdefault(current, [])
            elif current is None or path.rsplit(".", 1)[0] != current.rsplit(".", 1)[0]:
                current = None
            continue
        if current is not None:
            out[current] += parse(line, roots)
    return out


def infra_failure(output: str) -> str | None:
    """The first line saying the machine, not the code, stopped the build (the disk full,
    memory exhausted, the compiler killed), or None. Such a build says nothing about the
    patch: its cell is `error`, never `fail`, and it is never cached."""
    for line in output.splitlines():
        if _INFRA.match(line):
            return line.strip()[:300]
    return None


def make_failure(output: str) -> str | None:
    """The first `make: *** ...` line: what failed when no diagnostic says so; led by the
    line before it when that is a tool's own complaint (`/bin/sh: 1: cannot create X:
    Read-only file system`: what the sandbox refused shows in the verdict)."""
    prev = ""
    for line in output.splitlines():
        m = _MAKE_ERR.match(line.strip())
        if m:
            return f"{prev}; {m.group(0)}" if prev else m.group(0)
        if line.strip() and not line.lstrip().startswith(("make", "CC ", "LD ", "AR ")):
            prev = line.strip()[:300]
        elif line.strip():
            prev = ""
    return None
