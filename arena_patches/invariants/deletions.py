"""Deleted `;` and `}` anywhere in real kernel files: does `parses` see what the compiler sees?

Independent of mutants.py (which samples inside the function bodies tree-sitter found):
this seeder reads the file with its own lexer, takes every `;` and `}` token of code
(not in a comment, a string, a character constant, a preprocessor line or an `#if 0`
group), at file scope as well as in bodies, and names the shape of what lost it (the
statement or the construct the brace closes). A deletion is kept only when it is a compile
error; the rules that say so (`_valid_without`) were checked against gcc -fsyntax-only on
7.2 with its defconfig (benchmarks/deletion_truth.py; the README gives the agreement):
- an empty statement's `;` (after `;`, `{`, a block's `}`, a label, an `if (...)`), the
  `;` after a function's body, and the last member's `;` of a struct (a GCC extension,
  pedantic warning) can go: not errors;
- a file-scope macro line's `;` (`late_initcall(f);`, `EXPORT_SYMBOL(f);`) is left out:
  whether the expansion ends in its own `;` is not visible in the file (gcc: an error
  after EXPORT_SYMBOL, none after late_initcall);
- every other `;`, and every `}`, is an error.
"""
from __future__ import annotations

import bisect
import random
import re
from dataclasses import dataclass
from typing import Callable

from arena_patches.invariants import cparse
from arena_patches.invariants.dialect import Dialect

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<comment>/\*.*?(?:\*/|\Z)|//[^\n]*)
  | (?P<str>"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')
  | (?P<id>[A-Za-z_]\w*)
  | (?P<num>\.?\d[\w.]*(?:[eEpP][+-]\w*)?)
  | (?P<op>->|\+\+|--|<<=|>>=|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&|^!=<>]=|\.\.\.|\S)
""", re.X | re.S)
_DIRECTIVE = re.compile(r"[ \t]*#")
_TYPE_WORDS = {"struct", "union", "enum", "static", "const", "unsigned", "signed", "int", "long",
               "char", "short", "bool", "void", "extern", "volatile", "register", "typeof",
               "__typeof__", "u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64", "size_t"}
_ASSIGN = {"=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>="}


@dataclass(frozen=True)
class Token:
    at: int
    text: str


@dataclass(frozen=True)
class Deletion:
    path: str
    kind: str  # ";" or "}"
    offset: int  # in the original text
    shape: str  # what lost it: "return", "call", "assign", "member", "if", "function", ...
    line: int
    caught: bool | None = None  # None until judged


def tokens(text: str) -> list[Token]:
    """The code tokens of a C file: no comments, strings, directives, nor `#if 0` groups
    (a string or a number is one token, its text "" or 0)."""
    lines = text.split("\n")
    skip = _skipped_lines(lines)
    starts = [0]
    for l in lines:
        starts.append(starts[-1] + len(l) + 1)
    out: list[Token] = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind in ("ws", "comment") or skip[bisect.bisect_right(starts, m.start()) - 1]:
            continue
        out.append(Token(m.start(), '""' if kind == "str" else "0" if kind == "num" else m.group(0)))
    return out


def _skipped_lines(lines: list[str]) -> list[bool]:
    """Preprocessor lines (with their continuations) and the lines of `#if 0` groups."""
    skip = [False] * len(lines)
    i, zero, depth = 0, [], 0
    while i < len(lines):
        if _DIRECTIVE.match(lines[i]):
            word = re.match(r"[ \t]*#[ \t]*(\w*)(.*)", lines[i])
            kw, rest = word.group(1), word.group(2).strip()
            if kw in ("if", "ifdef", "ifndef"):
                depth += 1
                if kw == "if" and rest in ("0", "(0)") and not zero:
                    zero.append(depth)
            elif kw in ("else", "elif") and zero and zero[-1] == depth:
                zero.pop()
            elif kw == "endif":
                if zero and zero[-1] == depth:
                    zero.pop()
                depth -= 1
            while True:
                skip[i] = True
                if not lines[i].endswith("\\") or i + 1 >= len(lines):
                    break
                i += 1
        elif zero:
            skip[i] = True
        i += 1
    return skip


def _match_braces(toks: list[Token]) -> tuple[dict[int, int], dict[int, int]]:
    """Index of each `}` -> its `{`, and of each `)` -> its `(` (unmatched ones left out)."""
    braces, parens, bs, ps = {}, {}, [], []
    for i, t in enumerate(toks):
        if t.text == "{":
            bs.append(i)
        elif t.text == "}" and bs:
            braces[i] = bs.pop()
        elif t.text == "(":
            ps.append(i)
        elif t.text == ")" and ps:
            parens[i] = ps.pop()
    return braces, parens


def _brace_shape(toks: list[Token], open_i: int, parens: dict[int, int], depth: int) -> str:
    """What the `{` at open_i opens: a function body, an if/loop/switch body, a struct, an
    initialiser, a plain block, a statement expression."""
    if open_i == 0:
        return "block"
    prev = toks[open_i - 1].text
    if prev == ")":
        o = parens.get(open_i - 1)
        kw = toks[o - 1].text if o and o > 0 else ""
        if kw in ("if", "while", "for", "switch"):
            return "loop" if kw in ("while", "for") else kw
        return "function" if depth == 0 else "macro-block"
    if prev in ("else", "do"):
        return prev
    if prev in ("=", ",", "{", "return") or (prev == "(" and False):
        return "initializer" if prev != "{" or depth == 0 else "block"
    if prev == "(":
        return "statement-expression"
    back = [toks[k].text for k in range(max(0, open_i - 3), open_i)]
    if any(w in ("struct", "union", "enum") for w in back):
        return "struct"
    if prev in (";", "}", ":"):
        return "block"
    return "struct" if depth == 0 else "block"


def _statement_start(toks: list[Token], i: int, closes: list[str], braces: dict[int, int],
                     parens: dict[int, int]) -> int:
    """The first token of the statement or declaration whose `;` is at i: control heads
    (`if (x)`, `else`, `for (...)`) and labels (`case X:`, `out:`) skipped, a struct body
    or an initialiser read over."""
    k = i - 1
    while k >= 0:
        t = toks[k].text
        if t == ")" and k in parens:
            k = parens[k]
        elif t == "}" and closes[k] in ("initializer", "struct", "statement-expression") and k in braces:
            k = braces[k]
        elif t in (";", "{", "}"):
            break
        k -= 1
    k += 1
    while k < i:
        w = toks[k].text
        if w in ("case", "default"):
            colon = next((j for j in range(k, i) if toks[j].text == ":"), None)
            if colon is None:
                break
            k = colon + 1
        elif w in ("else", "do"):
            k += 1
        elif w in ("if", "while", "for", "switch") and k + 1 < i and toks[k + 1].text == "(" \
                and not (w == "while" and k > 0 and toks[k - 1].text == "}" and closes[k - 1] == "do"):
            close = next((c for c, o in parens.items() if o == k + 1), None)
            if close is None or close >= i:
                break
            k = close + 1
        elif k + 1 < i and re.fullmatch(r"[A-Za-z_]\w*", w) and toks[k + 1].text == ":":
            k += 2
        else:
            break
    return k


def _semicolon_shape(toks: list[Token], i: int, ctx: str, inside_parens: bool, closes: list[str],
                     braces: dict[int, int], parens: dict[int, int]) -> str:
    """The shape of the statement or declaration that ends at the `;` at i."""
    if inside_parens:
        return "for-header"
    start = _statement_start(toks, i, closes, braces, parens)
    words = [t.text for t in toks[start:i]]
    if ctx in ("struct", "union"):
        return "member"
    if not words:
        return "empty"
    first = words[0]
    if first in ("return", "break", "continue", "goto", "fallthrough"):
        return "return" if first == "return" else "jump" if first != "fallthrough" else "fallthrough"
    if first == "while" and start > 0 and toks[start - 1].text == "}":
        return "do-while"
    if any(w in _ASSIGN for w in words) and not (first in _TYPE_WORDS or
                                                 (len(words) > 1 and re.fullmatch(r"\w+", words[1] or "")
                                                  and re.fullmatch(r"[A-Za-z_]\w*", first))):
        return "assign"
    if first in _TYPE_WORDS or (len(words) > 1 and re.fullmatch(r"[A-Za-z_]\w*", first)
                                and re.fullmatch(r"[A-Za-z_]\w*|\*", words[1])):
        return "declaration" if ctx != "file" else "file-declaration"
    if words[-1] == ")":
        return "call" if ctx != "file" else "file-macro"
    return "expression"


def _contexts(toks: list[Token]) -> tuple[list[str], list[str]]:
    """For each token: the construct it is directly in ("file", "function", "struct",
    "initializer", ...); for each `}`: what it closes."""
    braces, parens = _match_braces(toks)
    opens = {v: k for k, v in braces.items()}
    ctx, closes, stack = [], [""] * len(toks), []
    for i, t in enumerate(toks):
        if t.text == "{":
            shape = _brace_shape(toks, i, parens, len(stack))
            if stack and stack[-1] in ("initializer",) and shape in ("block", "struct"):
                shape = "initializer"
            stack.append(shape)
            ctx.append(stack[-1])
            if i not in opens:
                pass
        elif t.text == "}":
            closes[i] = stack.pop() if stack else "file"
            ctx.append(stack[-1] if stack else "file")
        else:
            ctx.append(stack[-1] if stack else "file")
    return ctx, closes


def seeds(text: str) -> list[tuple[int, str, str, bool]]:
    """(offset, kind, shape, is a compile error) for every `;` and `}` of code in text."""
    toks = tokens(text)
    ctx, closes = _contexts(toks)
    braces, parens = _match_braces(toks)
    out, depth = [], 0
    for i, t in enumerate(toks):
        depth += (t.text == "(") - (t.text == ")")
        if t.text == "}":
            out.append((t.at, "}", closes[i], True))
        elif t.text == ";":
            shape = _semicolon_shape(toks, i, ctx[i], depth > 0, closes, braces, parens)
            out.append((t.at, ";", shape, not _valid_without(toks, i, shape, ctx[i], closes, parens)))
    return out


def _valid_without(toks: list[Token], i: int, shape: str, ctx: str, closes: list[str],
                   parens: dict[int, int]) -> bool:
    """Is the file still C (for the compiler) once the `;` at i is gone?"""
    prev = toks[i - 1].text if i else ""
    nxt = toks[i + 1].text if i + 1 < len(toks) else ""
    if shape == "for-header":
        return False  # `for (;;)` needs both
    if shape == "empty" or prev in (";", "{", ":"):
        return True
    if prev == "}" and closes[i - 1] in ("function", "block", "if", "loop", "switch", "else",
                                         "macro-block", "do"):
        return True  # the empty statement after a block, the `;` after a function
    if prev == ")" and i - 1 in parens:
        o = parens[i - 1]
        if o and toks[o - 1].text in ("if", "for", "switch") or (
                toks[o - 1].text == "while" and not (o >= 2 and toks[o - 2].text == "}")):
            return True  # `while (x);`: an empty body
    if shape == "member" and nxt == "}":
        return True  # the last member: GCC accepts it (pedantic warning)
    if shape == "file-macro":
        return True  # not known: the macro's expansion may end in its own `;`
    return False


def sample(files: list[tuple[str, str]], dialect_for: Callable[[str], Dialect], n: int,
           seed: int = 1) -> list[Deletion]:
    """n deletions of each kind that are compile errors, drawn uniformly from every `;`
    and `}` of code in the files that parse clean; each judged by `parses`."""
    rng = random.Random(seed)
    pool: dict[str, list[tuple[str, str, int, str]]] = {";": [], "}": []}
    for path, text in files:
        for at, kind, shape, error in seeds(text):
            if error:
                pool[kind].append((path, text, at, shape))
    out = []
    for kind, cands in pool.items():
        for path, text, at, shape in rng.sample(cands, min(n, len(cands))):
            mutated = text[:at] + text[at + 1:]
            caught = bool(cparse.parse(mutated, path, dialect_for(path)).parse_errors())
            out.append(Deletion(path, kind, at, shape, text.count("\n", 0, at) + 1, caught))
    return out


def rates(sample: list[Deletion]) -> dict[tuple[str, str], tuple[int, int]]:
    """(kind, shape) -> (caught, tried); (kind, "all") for the kind as a whole."""
    out: dict[tuple[str, str], tuple[int, int]] = {}
    for d in sample:
        for key in ((d.kind, d.shape), (d.kind, "all")):
            c, t = out.get(key, (0, 0))
            out[key] = (c + bool(d.caught), t + 1)
    return out
