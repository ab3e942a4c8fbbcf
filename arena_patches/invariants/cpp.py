"""Preprocessor lines that tree-sitter cannot read where the kernel puts them.

tree-sitter-c accepts `#if` groups around whole declarations, not inside a function body or
an expression, nor groups whose branches open or close braces differently
(`#ifdef X` / `if (a) {` / `#else` / `if (b) {` / `#endif`). Such a group is judged on one
branch: the first (the second under `#if 0`), the others blanked. `#define`/`#undef`
inside a body are blanked too. Every line stays where it was, so line numbers stay true,
and the caller is told how many groups were judged on one branch.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

_DIRECTIVE = re.compile(r"^\s*#\s*(\w+)(.*)$")
_BARE_MACRO = re.compile(r"^\s*[A-Z][A-Za-z0-9_]*\s*$")
_MACRO_LINE = re.compile(r"^\s*(\w+)\s*\(.*\)\s*$")


def _statement_position(lines: list[str], blank: list[bool], i: int) -> bool:
    """Does line i start a statement (the last code before it ends one)?"""
    for k in range(i - 1, -1, -1):
        code = lines[k].strip()
        if blank[k] or not code or _DIRECTIVE.match(lines[k]):
            continue
        return code.endswith((";", "{", "}", ":"))
    return False


def _statement_macros(lines: list[str], extra: list[int]) -> set[str]:
    """Macros this file defines as statements (`#define ALU(OP, X) ... CONT;`): their uses
    need no `;`."""
    out = set()
    for i, l in enumerate(lines):
        m = re.match(r"^\s*#\s*define\s+(\w+)\(", l)
        if m:
            body = " ".join(x.rstrip("\\") for x in lines[i:i + 1 + extra[i]]).rstrip()
            if body.endswith((";", "}")):
                out.add(m.group(1))
    return out


@dataclass
class _Group:
    branches: list[int] = field(default_factory=list)  # line of #if/#elif/#else
    end: int = -1  # line of #endif
    cond0: bool = False  # `#if 0`


def _logical_lines(lines: list[str]) -> list[int]:
    """For each line, how many more lines its directive continues over (`\\`)."""
    extra = [0] * len(lines)
    for i, l in enumerate(lines):
        if _DIRECTIVE.match(l):
            j = i
            while j < len(lines) - 1 and lines[j].endswith("\\"):
                j += 1
            extra[i] = j - i
    return extra


def _groups(lines: list[str]) -> list[_Group]:
    stack: list[_Group] = []
    out: list[_Group] = []
    for i, l in enumerate(lines):
        m = _DIRECTIVE.match(l)
        if not m:
            continue
        kw = m.group(1)
        if kw in ("if", "ifdef", "ifndef"):
            g = _Group([i], cond0=kw == "if" and m.group(2).strip() in ("0", "(0)"))
            stack.append(g)
            out.append(g)
        elif kw in ("elif", "else", "elifdef", "elifndef") and stack:
            stack[-1].branches.append(i)
        elif kw == "endif" and stack:
            stack.pop().end = i
    return [g for g in out if g.end >= 0]


def _before_body(lines: list[str], g: _Group) -> bool:
    """`#ifdef X` / `void f32(...)` / `#else` / `void f64(...)` / `#endif` / `{`: branches
    that each hold a function's header, the body after the group."""
    if len(g.branches) < 2:
        return False
    nxt = next((l.strip() for l in lines[g.end + 1:g.end + 4] if l.strip()), "")
    return nxt.startswith("{")


def _brace_deltas(lines: list[str]) -> list[int]:
    """Braces opened minus closed on each line. The text has been through
    blank_comments(strings=True): no brace is left in a comment, a string or a char."""
    return [0 if l.lstrip().startswith("#") else l.count("{") - l.count("}") for l in lines]


def directives(text: str) -> tuple[str, int]:
    """(text with the unreadable directives blanked, groups judged on one branch)."""
    lines = text.split("\n")
    extra = _logical_lines(lines)
    deltas = _brace_deltas(lines)
    groups = {g.branches[0]: g for g in _groups(lines)}
    stmt_macros = _statement_macros(lines, extra)
    blank = [False] * len(lines)
    one_branch = 0
    depth = 0
    i = 0
    parallel: dict[int, int] = {}  # line where a kept non-first branch starts -> depth to restore
    while i < len(lines):
        if i in parallel:
            depth = parallel.pop(i)
        g = groups.get(i)
        if g is not None and not blank[i]:
            first_end = g.branches[1] if len(g.branches) > 1 else g.end
            delta = sum(deltas[g.branches[0] + 1:first_end])
            if depth > 0 or delta != 0 or _before_body(lines, g):
                one_branch += 1
                keep = 1 if g.cond0 and len(g.branches) > 1 else 0
                if g.cond0 and len(g.branches) == 1:
                    keep = -1  # `#if 0` alone: nothing kept
                bounds = g.branches + [g.end]
                for b in range(len(g.branches)):
                    lo, hi = bounds[b], bounds[b + 1]
                    for k in range(lo, lo + 1 + extra[lo]):
                        blank[k] = True
                    if b != keep:
                        for k in range(lo, hi):
                            blank[k] = True
                blank[g.end] = True
            else:
                # kept whole: later branches start from the depth the group started at
                for b in g.branches[1:]:
                    parallel[b] = depth
                if len(g.branches) > 1:
                    parallel[g.end] = depth + delta
        m = _DIRECTIVE.match(lines[i])
        if m and depth > 0 and m.group(1) in ("define", "undef", "pragma", "error", "warning", "line"):
            for k in range(i, i + 1 + extra[i]):
                blank[k] = True
        if depth > 0 and not blank[i] and _statement_position(lines, blank, i) and (
                _BARE_MACRO.match(lines[i]) or ((mm := _MACRO_LINE.match(lines[i])) and mm.group(1) in stmt_macros)):
            blank[i] = True  # `XDP_METADATA_KFUNC_xxx`, `ALU(ADD, +)`: macros that are statements
        if not blank[i]:
            depth = max(depth + deltas[i], 0)
        i += 1
    out = [("" if blank[k] else l) for k, l in enumerate(lines)]
    return "\n".join(out), one_branch


def line_depths(text: str) -> list[int]:
    """The brace depth at the start of each line (0: file scope)."""
    out, depth = [], 0
    for d in _brace_deltas(text.split("\n")):
        out.append(depth)
        depth = max(depth + d, 0)
    return out


def blank_comments(text: str, strings: bool = False) -> str:
    """Comments turned into spaces (newlines kept); strings and characters are read past,
    or with `strings`, their contents turned into `x`."""
    out = []
    i, n = 0, len(text)
    start = 0
    while i < n:
        c = text[i]
        if c == "/" and i + 1 < n and text[i + 1] in "*/":
            out.append(text[start:i])
            end = text.find("*/", i + 2) + 2 if text[i + 1] == "*" else text.find("\n", i)
            if end < 2 if text[i + 1] == "*" else end < 0:
                end = n
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:end]))
            i = start = end
            continue
        if c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            if strings and j < n and text[j] == c:
                # `"for ("` must not look like code to a later pass: its content becomes x
                out.append(text[start:i + 1])
                out.append("x" * (j - i - 1))
                start = j
            i = j + 1
            continue
        i += 1
    out.append(text[start:])
    return "".join(out)


def close_paren(text: str, i: int, limit: int = 20000) -> int:
    """The `)` matching the `(` at i; strings and character constants are skipped."""
    depth = 0
    j, n = i, min(len(text), i + limit)
    while j < n:
        c = text[j]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return j
        elif c in "\"'":
            k = j + 1
            while k < n and text[k] != c and text[k] != "\n":
                k += 2 if text[k] == "\\" else 1
            j = k
        j += 1
    return -1
