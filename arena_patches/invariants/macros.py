"""The passes that rewrite the kernel's macro idioms into plain C shapes (rewrite.py says
which and why), each a function text -> text that keeps every line where it is."""
from __future__ import annotations

import bisect
import re
from typing import Callable

from arena_patches.invariants import cpp, members
from arena_patches.invariants.cpp import close_paren as _close_paren
from arena_patches.invariants.dialect import Dialect

_ITER_NAME = re.compile(r"\w*for_each\w*|\w*_foreach\w*|scoped_\w+|for_\w+")
_CALL = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
SCOPED = "__scoped_guard"  # what scoped_guard(...) becomes: `if (__scoped_guard(...))`
_TYPE_ARG = re.compile(r"(?<!sizeof\()(?<!sizeof \()\b(struct|union|enum)\s+(\w+)\s*(?=[,)])")
# a type passed to a macro: `min_t(unsigned int, a, b)`, `kmalloc_obj(struct x *, n)`
_TYPE_WORDS = r"(?:unsigned|signed|long|short|int|char|float|double|void|_Bool|bool)"
_MACRO_TYPE = re.compile(
    r"(?:(?<!sizeof\()(?<!sizeof \()(?:(?<=\w\()|(?<=\w \())|(?<=,))(\s*(?:(?:const|volatile)\s+)*"
    rf"(?:(?:struct|union|enum)\s+\w+|{_TYPE_WORDS}(?:\s+{_TYPE_WORDS})*|\w+)(?:\s*\*)*\s*)(?=[,)])")
_ALIGNOF = re.compile(r"\b(?:__alignof__|__alignof|_Alignof|alignof)(?=\s*\()")
_COMPUTED_GOTO = re.compile(r"\bgoto\s*\*")
# a braced initialiser passed to a macro: `_J(BPF_EXIT, {.can_jump = false})`
_BRACE_ARG = re.compile(r"(?:(?<=\w\()|(?<=,))\s*\{")
_FILE_MACRO = re.compile(r"^[A-Z][A-Z0-9_]*\((?:[^;{}()]|\([^()]*\))*\)[ \t]*$", re.M)


def _blank(s: str) -> str:
    return "".join(c if c == "\n" else " " for c in s)


_SCOPED = re.compile(r"\bscoped_guard\s*\(")


# `scoped_cond_guard(mutex_intr, return -EINTR, &l)`: a statement passed to a macro
_STATEMENT_ARG = re.compile(r"((?:^|,)\s*)((?:return|goto|break|continue)\b[^,]*)")


def _dialect_decls(text: str, dialect: Dialect) -> str:
    """`DECLARE_BITMAP(map, n) = { 0 };`, `LIST_HEAD(todo);` at a statement's start:
    macros the tree defines as declarations become `int NAME`."""
    if not dialect.decls:
        return text
    pos = 0
    while (m := _CALL.search(text, pos)):
        pos = m.end()
        if m.group(1) not in dialect.decls:
            continue
        before = text[max(0, m.start() - 40):m.start()]
        lead = re.search(r"(?:^|[;{}\n])[ \t]*(?:(?:static|const)\s+)*$", before)
        if lead is None:
            continue
        end = _close_paren(text, m.end() - 1)
        if end < 0 or not text[end + 1:end + 20].lstrip().startswith((";", "=", ",")):
            continue
        span = text[m.start():end + 1]
        repl = ("int " + m.group(1))[:len(span)]
        text = text[:m.start()] + repl + _blank(span[len(repl):]) + text[end + 1:]
        pos = m.start() + len(repl)
    return text


_BLOCK_MACRO = re.compile(r"\b(?!(?:if|for|while|switch|return|sizeof|do|else)\b)([a-z_]\w*)\s*\(")
_DECL_MACRO = re.compile(r"\b(static|extern)(\s+)([A-Z][A-Z0-9_]*)\s*\(")
_TYPEOF_ANY = re.compile(r"\((\s*)((?:__)?typeof(?:__)?|typeof_unqual|__typeof_unqual__)\s*\(")
# `do { } while_each_thread(g, t);`, `do { } for_each_vma_range(vmi, v, end);`
_WHILE_MACRO = re.compile(r"(\}\s*)([A-Za-z_]\w*)(?=\s*\()")
_OPERATOR_ARG = re.compile(r"(?:(?<=,)(\s*)(<=|>=|==|!=|<|>|\||&|\^|\+|-|\*|/|%)(\s*)(?=[,)])"
                          r"|(?<=\()(\s*)(<=|>=|==|!=|<|>|\||&|\^|\+|-|\*|/|%)(\s*)(?=,))")
# an annotation between a function's declarator and its body: `f(...) __cond_acquires(true, &l) {`
_HEADER_ANNOTATION = re.compile(r"(\)\s*)(__\w+\s*\((?:[^()]|\([^()]*\))*\))(?=\s*\{)")
_CAPS_ATTR = re.compile(r"^([A-Z][A-Z0-9_]+)(?=[ \t]+[A-Za-z_]|[ \t]*\n[A-Za-z_])", re.M)
_FILE_SCOPE_CALL = re.compile(r"^[a-z_]\w*\s*\([^;{}()\n]*(?:\([^;{}()\n]*\))?[^;{}()\n]*\)[ \t]*$", re.M)
_FILE_SCOPE_WORD = re.compile(r"^[A-Z][A-Z0-9]*_[A-Z0-9_]+[ \t]*$")
_GNU_ATTR = re.compile(r"\b__attribute(?:__)?\s*\(\((?:[^()]|\((?:[^()]|\([^()]*\))*\))*\)\)")
_TRAILING_COMMA = re.compile(r",(\s*)\)")  # `f(a, b, /* comment */)`: a macro's empty argument
# `{ &a, TASKS_OPS TASKS_RUDE_OPS }`: macros that expand to list items
_CAPS_RUN = re.compile(r"(?<=[,{])(\s*)([A-Z][A-Z0-9_]*(?:[ \t]+[A-Z][A-Z0-9_]*)+)(?=\s*[,}\n&])")
_AFTER_STRING = re.compile(r'"\s*\w+\s*\(')
_BEFORE_STRING = re.compile(r'\)(?=[ \t]*"x*")')
# `u32 a : 8, : 4, b : 4;`: an unnamed bit-field in a declarator list gets a name
_UNNAMED_BITFIELD = re.compile(
    r"(?m)((?:(?<=,)|(?:^|(?<=;))[ \t]*(?:(?:__)?[us](?:8|16|32|64)|unsigned(?:[ \t]+(?:int|long|char|short))?|int|signed))"
    r"\s*?)[ \t](?=:\s*\w+\s*[,;])")
# `X86_CONFIG(.event = 0xd1, .umask = 0x10)`: designators passed to a macro
_DESIGNATED_ARG = re.compile(r"(?<=[(,])(\s*)\.(?=[A-Za-z_]\w*\s*=[^=])")
# `printk(KERN_ERR MSG_TOO_BIG, ...)`, `KERN_ERR pr_fmt("...")`: a log level before a string macro
_LEVEL_BEFORE_MACRO = re.compile(r"\bKERN_[A-Z]+(?=[ \t]+[A-Za-z_]\w*\b(?!\s*[,;)]\s*$)|[ \t]+pr_fmt\s*\()")
# `alternative_input(..., [addr] "a" (addr))`: a named asm operand outside an asm statement
_NAMED_OPERAND = re.compile(r'\[\s*\w+\s*\]\s*"x*"')
_EMPTY_ARG = re.compile(r"(?<=,)([ \t]*\n)?([ \t]*)(?=,)")
_AUTO = re.compile(r"\bauto(?=\s+\w+\s*=)")
_CASE_RANGE = re.compile(r"(\bcase\b[^:\n]*?)(\s*\.\.\.\s*[^:\n]*)(?=:)")
_INDEX_RANGE = re.compile(r"(\[[^\]\n]*?)(\s*\.\.\.[^\]\n]*)(?=\])")
_TYPEOF_DECL = re.compile(r"(?m)^(\s*(?:(?:const|volatile|static|register)\s+)*)((?:__)?typeof(?:__)?|typeof_unqual|__typeof_unqual__)\s*\(")


_FALLTHROUGH = re.compile(r"(?<![#\w])(?<!define )\bfallthrough\b(?!\s*\()")
def _block_macros(text: str) -> str:
    """`scoped_with_creds(c) {`, `do_each_pid_task(p, t, x) {`: inside a body, a call
    followed by a block is a macro that opens a scope; it becomes `for (args;;) {` (its
    calls stay)."""
    pos = 0
    depths = cpp.line_depths(text)
    starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
    while (m := _BLOCK_MACRO.search(text, pos)):
        if depths[bisect.bisect_right(starts, m.start()) - 1] == 0:
            pos = m.end()
            continue
        end = _close_paren(text, m.end() - 1)
        if end < 0:
            return text
        if not text[end + 1:end + 80].lstrip(" \t\n").startswith("{") or _declares(text, m.start()) \
                or text[max(0, m.start() - 2):m.start()].rstrip().endswith((".", ">")):
            pos = m.end()
            continue
        args = text[m.end():end]
        text = text[:m.start()] + f"for ({args};;)" + text[end + 1:]
        pos = m.start() + 4
    return text


def _do_while_macros(text: str, dialect: Dialect) -> str:
    pos = 0
    while (m := _WHILE_MACRO.search(text, pos)):
        name = m.group(2)
        pos = m.end()
        if not (name.startswith("while_") or _ITER_NAME.fullmatch(name) or name in dialect.loops):
            continue
        end = _close_paren(text, text.index("(", m.end()))
        if end < 0 or not text[end + 1:end + 10].lstrip().startswith(";"):
            continue  # `}` then an iterator statement, not the tail of a do-while
        text = text[:m.start(2)] + "while".ljust(len(name)) + text[m.end(2):]
    return text


def _code_arguments(text: str) -> str:
    """`context_unsafe(a(); b();)`, `KUNIT_EXPECT_FAIL(test, f(x); g());`: a macro given
    statements becomes a block of them: `{ a(); b();;}`."""
    pos = 0
    while (m := _CALL.search(text, pos)):
        pos = m.end()
        if m.group(1) in ("for", "if", "while", "switch", "sizeof"):
            continue
        end = _close_paren(text, m.end() - 1)
        if end < 0:
            continue
        inner = text[m.end():end]
        if ";" not in inner or "{" in inner:
            continue
        depth = 0
        for c in inner:
            depth += (c == "(") - (c == ")")
            if c == ";" and depth == 0:
                break
        else:
            continue
        text = text[:m.start()] + "{" + " " * (m.end() - m.start() - 1) + inner + ";}" + text[end + 1:]
    return text


def _in_call(text: str, at: int) -> bool:
    """Is `at` directly inside the parentheses of a call (not a brace initialiser)?"""
    depth = 0
    for j in range(at - 1, max(-1, at - 4000), -1):
        c = text[j]
        if c in ")]}":
            depth += 1
        elif c in "([{":
            if depth == 0:
                return c == "(" and bool(re.search(r"\w\s*$", text[max(0, j - 40):j]))
            depth -= 1
    return False


def _file_scope_calls(text: str) -> str:
    """`postcore_initcall(init_wmark)` or `DECLARE_VM_GET_PAGE_PROT` with no `;`, at file
    scope, between declarations."""
    depths = cpp.line_depths(text)
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if depths[i]:
            continue
        if _FILE_SCOPE_WORD.match(line):
            prev = next((l.strip() for l in reversed(lines[max(0, i - 5):i]) if l.strip()), ";")
            if prev.endswith((";", "}")):
                lines[i] = _blank(line)
            continue
        if not _FILE_SCOPE_CALL.match(line):
            continue
        nxt = next((l.strip() for l in lines[i + 1:i + 6] if l.strip()), "")
        if not nxt.startswith("{"):
            lines[i] = _blank(line)
    return "\n".join(lines)


_ASM = re.compile(r"\b(?:asm|__asm__|__asm|asm_inline)\b(?:\s+(?:volatile|__volatile__|__volatile|goto|inline|__inline))*\s*\(")


def _asm_statements(text: str) -> str:
    """Inline assembly (named operands, asm goto, register variables) is not C: an asm
    statement becomes `0`, an asm label on a declarator disappears."""
    pos = 0
    while (m := _ASM.search(text, pos)):
        end = _close_paren(text, m.end() - 1)
        if end < 0:
            break
        before = text[:m.start()].rstrip()
        span = _blank(text[m.start():end + 1])
        if not (before and (before[-1].isalnum() or before[-1] in "_)")):
            span = "0" + span[1:]
        text = text[:m.start()] + span + text[end + 1:]
        pos = m.start() + 1
    return text


def _string_macros(text: str) -> str:
    """`"%" __stringify(IFNAMSIZ)`: a macro call inside a string concatenation becomes an
    identifier (tree-sitter joins strings and identifiers, not calls)."""
    pos = 0
    while (m := _AFTER_STRING.search(text, pos)):
        line_start = text.rfind("\n", 0, m.start()) + 1
        quotes = len(re.findall(r'(?<!\\)"', text[line_start:m.start() + 1]))
        if quotes % 2:  # an opening quote: what follows is the string itself
            pos = m.end()
            continue
        open_at = m.end() - 1
        end = _close_paren(text, open_at)
        if end < 0:
            break
        text = text[:open_at] + _blank(text[open_at:end + 1]) + text[end + 1:]
        pos = end + 1
    pos = 0
    while (m := _BEFORE_STRING.search(text, pos)):  # `__stringify(X) "\n"`
        pos = m.end()
        close = m.start()
        depth, j = 0, close
        while j >= 0:
            depth += (text[j] == ")") - (text[j] == "(")
            if depth == 0:
                break
            j -= 1
        if j > 0 and re.search(r"\w\s*$", text[max(0, j - 60):j]):
            text = text[:j] + _blank(text[j:close + 1]) + text[close + 1:]
    return text


def _typeof_as_int(text: str, rx: re.Pattern) -> str:
    """`typeof(ti->flags) val = ...;` (a declaration, _TYPEOF_DECL) or `(typeof(x))~0U` (a
    cast, _TYPEOF_ANY): a type tree-sitter cannot read becomes `int`."""
    pos = 0
    while (m := rx.search(text, pos)):
        end = _close_paren(text, m.end() - 1)
        if end < 0:
            break
        span = text[m.start(2):end + 1]
        text = text[:m.start(2)] + "int" + _blank(span)[3:] + text[end + 1:]
        pos = m.end()
    return text


def _decl_macros(text: str) -> str:
    """`static DEFINE_RATELIMIT_STATE(rs, 5 * HZ, 10);` becomes `static int DEFINE_...;`."""
    pos = 0
    while (m := _DECL_MACRO.search(text, pos)):
        end = _close_paren(text, m.end() - 1)
        if end < 0 or not text[end + 1:end + 20].lstrip().startswith((";", "=")):
            pos = m.end()
            continue
        args = _blank(text[m.end() - 1:end + 1])
        text = text[:m.start()] + f"{m.group(1)}{m.group(2)}int {m.group(3)}" + args[4:] + text[end + 1:]
        pos = m.end()
    return text


def _declares(text: str, at: int) -> bool:
    """Is the name at `at` declared here (`static long bpf_for_each_elem(`)?"""
    before = text[max(0, at - 80):at].rstrip()
    if not before:
        return False
    if before[-1] == "*":
        return True
    word = re.search(r"(\w+)$", before)
    return word is not None and word.group(1) not in ("else", "do", "return")


def _type_as_identifier(m: re.Match) -> str:
    t = m.group(1)
    words = t.split()
    if len(words) <= 1 and "*" not in t:
        return t  # an identifier stays itself
    if "\n" in t:  # the type starts on a later line: the name goes there
        head = t[:t.rfind("\n") + 1]
        return head + _type_as_identifier(re.match(r"(.*)", t[len(head):], re.S)) \
            if t[len(head):].strip() else _blank(t)
    name = "T_" + "_".join(re.findall(r"\w+", t))
    lead = len(t) - len(t.lstrip())
    return (" " * lead + name)[:len(t)].ljust(len(t)) if len(name) + lead <= len(t) else \
        (" " * lead + "T").ljust(len(t))


def _brace_args(text: str) -> str:
    pos = 0
    while (m := _BRACE_ARG.search(text, pos)):
        open_at = m.end() - 1
        depth, j = 0, open_at
        while j < len(text):
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        rest = text[j + 1:j + 40].lstrip()
        if j >= len(text) or not rest[:1] in (",", ")"):
            pos = m.end()
            continue
        text = text[:open_at] + "0" + _blank(text[open_at + 1:j + 1]) + text[j + 1:]
        pos = open_at + 1
    return text


def steps(dialect: Dialect) -> list[Callable[[str], str]]:
    """The passes after comments and directives, in order; each keeps every line where it is."""
    def designated(t: str) -> str:
        return _DESIGNATED_ARG.sub(lambda m: m.group(1) + " " if _in_call(t, m.start()) else m.group(0), t)

    def caps_attrs(t: str) -> str:  # `VISIBLE_IF_KUNIT void f(void)`: at a declaration's start only
        if not dialect.caps_attrs:
            return t
        return _CAPS_ATTR.sub(lambda m: _blank(m.group(1)) if m.group(1).strip() in dialect.caps_attrs
                              else m.group(0), t)

    return [
        lambda t: _FILE_MACRO.sub(lambda m: _blank(m.group(0)), t),  # BTF_ID_FLAGS(...) lines
        # `fallthrough;` is an attribute statement: blanked, its `;` would be an empty
        # statement and a lost one unseen; as an expression statement it needs its `;`
        lambda t: _FALLTHROUGH.sub("(void)0    ", t),
        _scoped_guards, dialect.blank,
        lambda t: _TYPE_ARG.sub(lambda m: f"{m.group(1)}_{m.group(2)}".ljust(len(m.group(0))), t),
        lambda t: _MACRO_TYPE.sub(_type_as_identifier, t),
        # tree-sitter's offsetof takes a field name only, and alignof a type only
        lambda t: re.sub(r"\boffsetof(?=\s*\()", "offset0f", t),
        lambda t: _ALIGNOF.sub(lambda m: "_" * (len(m.group(0)) - 1) + "A", t),
        lambda t: _COMPUTED_GOTO.sub(lambda m: " " * len(m.group(0)), t),  # `goto *table[op];` (GNU C)
        _brace_args, _decl_macros, lambda t: _AUTO.sub("int ", t),
        # GNU ranges: `case 1 ... 5:`, `[0 ... 255] = x` are judged on their first value
        lambda t: _CASE_RANGE.sub(lambda m: m.group(1) + _blank(m.group(2)), t),
        lambda t: _INDEX_RANGE.sub(lambda m: m.group(1) + _blank(m.group(2)), t),
        lambda t: _typeof_as_int(t, _TYPEOF_DECL), lambda t: _typeof_as_int(t, _TYPEOF_ANY),
        lambda t: _do_while_macros(t, dialect),
        lambda t: re.sub(r"(\}\s*while\s*)\(\s*\)", r"\1(1)", t),  # `} while_each_x();`
        lambda t: _GNU_ATTR.sub(lambda m: _blank(m.group(0)), t),
        lambda t: _TRAILING_COMMA.sub(lambda m: " " + m.group(1) + ")", t),
        lambda t: _CAPS_RUN.sub(lambda m: m.group(1) + "0" + _blank(m.group(2))[1:], t),
        lambda t: _UNNAMED_BITFIELD.sub(lambda m: m.group(1) + "_", t),
        designated,
        lambda t: _LEVEL_BEFORE_MACRO.sub(lambda m: '"' + "x" * (len(m.group(0)) - 2) + '"', t),
        _string_macros, _asm_statements,
        lambda t: _NAMED_OPERAND.sub(lambda m: _blank(m.group(0)), t),
        lambda t: _EMPTY_ARG.sub(lambda m: (m.group(1) or "") + "0" + m.group(2)[1:], t),
        lambda t: _OPERATOR_ARG.sub(lambda m: _blank(m.group(0)).replace(" ", "0", 1) if m.group(0).strip()
                                    else m.group(0), t),
        lambda t: _HEADER_ANNOTATION.sub(lambda m: m.group(1) + _blank(m.group(2)), t),
        _code_arguments, _file_scope_calls, caps_attrs,
        lambda t: _dialect_decls(t, dialect), lambda t: members.member_macros(t, dialect.caps_attrs),
        lambda t: _iterators(t, dialect),
        _block_macros,
    ]


def _scoped_guards(out: str) -> str:
    """scoped_guard(k, &l) { } -> if (__scoped_guard(k, &l)) { }"""
    pos = 0
    while (m := _SCOPED.search(out, pos)):
        end = _close_paren(out, m.end() - 1)
        if end < 0:
            break
        out = out[:m.start()] + "if (__scoped_guard(" + out[m.end():end + 1] + ")" + out[end + 1:]
        pos = m.start() + 5
    return out


def _iterators(out: str, dialect: Dialect) -> str:
    """list_for_each_entry(a, b, c) stmt -> for (a, b, c;;) stmt: the calls stay."""
    pos = 0
    while True:
        m = _CALL.search(out, pos)
        if not m:
            break
        name = m.group(1)
        if not (_ITER_NAME.fullmatch(name) or name in dialect.loops) or name == SCOPED:
            pos = m.end()
            continue
        end = _close_paren(out, m.end() - 1)
        if end < 0:
            break
        if out[end + 1:].lstrip().startswith(";") or _declares(out, m.start()) \
                or out[:m.start()].rstrip().endswith(("(", "=", ",", "!", "&&", "||")):
            pos = m.end()  # a call, a function named *for_each*, or a value: not an iterator
            continue
        args = _STATEMENT_ARG.sub(lambda a: a.group(1) + "0" + _blank(a.group(2))[1:], out[m.end():end])
        out = out[:m.start()] + f"for ({args};;)" + out[end + 1:]
        pos = m.start() + 4
    return out
