"""Mutants of real kernel functions: is a syntax error the C layer should see, seen?

Used by the tests and by benchmarks/parse_sweep.py. A mutant deletes one character from
one function body of a file that parses clean: a `;` that ends a statement, a `}`, or a
`)`, in code the C layer judges (an #if branch it leaves out is not sampled). Each of these makes the function invalid C; a mutant is caught when `parses` fails
on the file. The sample is seeded, so the same seed gives the same mutants.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

from arena_patches.invariants import cparse, cpp
from arena_patches.invariants.dialect import Dialect

KINDS = (";", "}", ")")


@dataclass(frozen=True)
class Mutant:
    path: str
    function: str
    kind: str
    offset: int  # in the original text
    caught: bool


def _candidates(text: str, fn: cparse.Function, kind: str, judged: list[bool]) -> list[int]:
    """Offsets of `kind` inside the function's body that are code (not in a comment or
    a string, not in an #if branch the C layer leaves out: `judged` per line), and for
    `;`, that end a statement (not an empty one)."""
    body = fn.node.child_by_field_name("body")
    if body is None:
        return []
    lines = text.split("\n")
    start = sum(len(l) + 1 for l in lines[:body.start_point[0]]) + body.start_point[1]
    end = sum(len(l) + 1 for l in lines[:body.end_point[0]]) + body.end_point[1]
    code = cpp.blank_comments(text[start:end], strings=True)
    out = []
    for i, c in enumerate(code):
        if c != kind:
            continue
        line_start = code.rfind("\n", 0, i) + 1
        if code[line_start:i].lstrip().startswith("#"):
            continue  # a directive's line is not the function's C
        if not judged[text.count("\n", 0, start + i)]:
            continue
        before = code[:i].rstrip()
        if kind == ";" and (before[-1:] in (";", "{", "}", ":", "") or before.endswith("return")):
            continue  # an empty statement, or `return;` (then `return next_stmt;`): still valid C
        if kind == "}" and i == len(code) - 1:
            continue  # the function's own closing brace: tree-sitter may close it at EOF
        out.append(start + i)
    return out


def sample(files: list[tuple[str, str]], dialect_for: Callable[[str], Dialect], n: int,
           seed: int = 1) -> list[Mutant]:
    """n mutants of each kind, from functions of files that parse clean."""
    rng = random.Random(seed)
    pool = []
    for path, text in files:
        cf = cparse.parse(text, path, dialect_for(path))
        if cf.parse_errors():
            continue
        pre = cf.source.decode("utf-8", "replace").split("\n")
        judged = [bool(p.strip()) or not o.strip() for p, o in zip(pre, text.split("\n"))]
        pool += [(path, text, f, judged) for f in cf.functions.values()]
    rng.shuffle(pool)
    out: list[Mutant] = []
    for kind in KINDS:
        got = 0
        for path, text, fn, judged in pool:
            if got >= n:
                break
            spots = _candidates(text, fn, kind, judged)
            if not spots:
                continue
            at = rng.choice(spots)
            mutated = text[:at] + text[at + 1:]
            caught = bool(cparse.parse(mutated, path, dialect_for(path)).parse_errors())
            out.append(Mutant(path, fn.name, kind, at, caught))
            got += 1
    return out


def rates(mutants: list[Mutant]) -> dict[str, tuple[int, int]]:
    """kind -> (caught, tried)."""
    out: dict[str, tuple[int, int]] = {}
    for m in mutants:
        c, t = out.get(m.kind, (0, 0))
        out[m.kind] = (c + m.caught, t + 1)
    return out
