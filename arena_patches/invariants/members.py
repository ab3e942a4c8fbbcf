"""Struct and union bodies as tree-sitter reads them: a member a macro declares."""
from __future__ import annotations

import bisect
import re


def _blank(s: str) -> str:
    return "".join(c if c == "\n" else " " for c in s)


_MEMBER_MACRO = re.compile(r"^([ \t]*)([A-Za-z_]\w*)([ \t]*\()([^*\n][^\n]*)(\)[ \t]*;[ \t]*)$", re.M)
_NOT_MEMBER_MACRO = {"void", "int", "char", "long", "short", "unsigned", "signed", "bool", "struct", "union",
                     "enum", "const", "volatile", "static", "typeof", "__typeof__", "_Static_assert",
                     "static_assert"}


_BRACE = re.compile(r"[{}]")
_TRAILING_CAPS = re.compile(r"(?<=[\])\w])[ \t]+([A-Z][A-Z0-9_]+)\b(?=[ \t]*;)")
_STRUCT_HEAD = re.compile(r"\b(?:struct|union)\b[^=();]*$")


def member_macros(text: str, caps_attrs: frozenset[str] = frozenset()) -> str:
    """`__bpf_md_ptr(struct bpf_iter_meta *, meta);`, `DECLARE_FLEX_ARRAY(T, values);`: a
    macro call alone on its line in a struct or union body is a member the macro declares;
    it becomes `NAME _;` (a member of type NAME), so a real error among members still shows."""
    at: list[int] = [0]  # where the innermost brace changes, and whether it is a struct's
    top: list[bool] = [False]
    kinds: list[bool] = []
    last = 0
    for m in _BRACE.finditer(text):
        i = m.start()
        if m.group(0) == "{":
            kinds.append(bool(_STRUCT_HEAD.search(text, max(last, i - 200), i)))
        elif kinds:
            kinds.pop()
        at.append(i)
        top.append(bool(kinds) and kinds[-1])
        last = i + 1

    def in_struct(at_: int) -> bool:
        return top[bisect.bisect_right(at, at_) - 1]

    if caps_attrs:  # `unsigned char data[] RB_ALIGN_DATA;`: an attribute after the declarator
        text = _TRAILING_CAPS.sub(lambda m: _blank(m.group(0)) if m.group(1) in caps_attrs and in_struct(m.start())
                                  else m.group(0), text)

    def member(m: re.Match) -> str:
        if m.group(2) in _NOT_MEMBER_MACRO or not top[bisect.bisect_right(at, m.start()) - 1]:
            return m.group(0)
        args = _blank(m.group(3) + m.group(4) + ")")
        return m.group(1) + m.group(2) + args[:1] + "_" + args[2:] + m.group(5)[1:]
    return _MEMBER_MACRO.sub(member, text)
