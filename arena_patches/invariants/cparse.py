"""Kernel C through tree-sitter-c: functions, calls in order, includes, parse errors.

tree-sitter parses C, not the preprocessor, so kernel idioms are first rewritten in place
(rewrite.py; same line count, so reported lines stay true). File-scope macro lines
(BTF_ID_FLAGS, late_initcall) may stay unparsed: only errors inside function bodies count
as "does not parse" (a missing `;` is one).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache

import tree_sitter_c
from tree_sitter import Language, Node, Parser, Query, QueryCursor

from arena_patches.invariants.dialect import BUILTIN, Dialect
from arena_patches.invariants.rewrite import preprocess_counted as _preprocess

_DIRECTIVE_LINES = re.compile(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", re.M)
_CAPS_WORD = re.compile(r"\b[A-Z][A-Z0-9_]{2,}\b")
_INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)
_FUNCTION_HEAD = re.compile(r"^[ \t]*(?!(?:if|for|while|switch)\b)[A-Za-z_][\w \t\*]*?\b(\w+)\s*\([^;{]*\)\s*\n?\{", re.M)
_BTF_FLAGS = re.compile(r"^\s*BTF_ID_FLAGS\(\s*func\s*,\s*(\w+)\s*(?:,\s*([^)]*))?\)", re.M)


@lru_cache(maxsize=1)
def _parser() -> Parser:
    return Parser(_LANGUAGE)


_LANGUAGE = Language(tree_sitter_c.language())
# (a cast to a struct is no C: `sizeof(struct t)` that lost its `;` reads as sizeof of a cast
# of the next line; a union cast is GNU C; nor is an assignment to a product: `x = a` that
# lost its `;` before `*p = b;`)
_MACRO_DECL = Query(_LANGUAGE, "(declaration type: (macro_type_specifier) @m) "
                               "(cast_expression type: (type_descriptor type: (struct_specifier) !declarator) @c) "
                               "(binary_expression [left: (assignment_expression) right: (assignment_expression)] @a) "
                               "(compound_statement (function_definition) @f)")


@dataclass
class Function:
    name: str
    node: Node
    start_line: int
    end_line: int


@dataclass
class CFile:
    path: str
    text: str
    source: bytes
    root: Node
    functions: dict[str, Function] = field(default_factory=dict)
    dialect: str = BUILTIN.source  # where the attribute macros came from
    one_branch: int = 0  # #if groups judged on one branch (see cpp.py)
    cache: dict = field(default_factory=dict, repr=False)  # per-file analyses (lock helpers)
    decls: frozenset[str] = frozenset()  # the dialect's declaration macros (`LIST_HEAD`)

    def node_text(self, n: Node) -> str:
        return self.source[n.start_byte:n.end_byte].decode("utf-8", "replace")

    @property
    def includes(self) -> list[str]:
        return _INCLUDE.findall(self.text)

    def btf_flags(self) -> dict[str, set[str]]:
        """BTF_ID_FLAGS(func, name, A | B) entries: name -> flags (read from the text)."""
        return {m.group(1): {f.strip() for f in (m.group(2) or "").split("|") if f.strip()}
                for m in _BTF_FLAGS.finditer(self.text)}

    def _owner(self, n: Node) -> str | None:
        """The name of the code `n` starts, when it is a body or a struct: errors below it count."""
        if n.type == "function_definition":
            return _declarator_name(n, self.source)  # unnamed: a macro-made header, see below
        if n.type == "compound_statement" and n.parent is not None and (
                n.parent.type in ("translation_unit", "function_definition") or n.parent.type.startswith("preproc_")) \
                and not self.source[max(0, n.start_byte - 200):n.start_byte].rstrip().endswith((b"=", b",")):
            # (not `DEFINE_PER_CPU(t, x) = {{{0}}};`: an initialiser after a macro)
            head = self.text.split("\n")[max(0, n.start_point[0] - 3):n.start_point[0] + 1]
            m = re.findall(r"\b([A-Za-z_]\w*\s*\(\s*\w+)", " ".join(head))
            return re.sub(r"\s+", "", m[-1]) + ")" if m else "<body>"
        if n.type == "field_declaration_list" and n.parent is not None:
            name = n.parent.child_by_field_name("name")
            return f"{n.parent.type.split('_')[0]} {self.node_text(name) if name else '<anonymous>'}"
        return None

    def _without_directives(self) -> str:
        """The rewritten code with every preprocessor line blanked, the lines read from the
        file (a rewrite may blank an asm span with its `\\`, cutting a #define short)."""
        code = self.source.decode("utf-8", "replace")
        lines = code.split("\n")
        if len(lines) != self.text.count("\n") + 1:  # a rewrite lost a line (a string over `\\`)
            return _DIRECTIVE_LINES.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), code)
        for m in _DIRECTIVE_LINES.finditer(self.text):
            first = self.text.count("\n", 0, m.start())
            for k in range(first, min(first + m.group(0).count("\n") + 1, len(lines))):
                lines[k] = ""
        return "\n".join(lines)

    def _lost_file_semicolon(self, n: Node) -> bool:
        """A file-scope declaration that lost its `;`: `static int a` before `static int b;`
        (a MISSING ';'), `struct s { ... }` before a declaration (an ERROR after the body).
        Only plain declarations: no call, no all-caps word (file-scope macros such as
        `BTF_ID_UNUSED` or `X DEFAULT_INIT;` are not C tree-sitter can read)."""
        decl = n.parent
        t = decl.child_by_field_name("type")
        if t is not None and t.type == "macro_type_specifier" and n.start_byte >= t.end_byte and \
                (n.is_missing or n.start_point[0] > t.end_point[0]) and \
                self.node_text(t.child_by_field_name("name")) in self.decls:
            return True  # `static LIST_HEAD(x)`: a macro the tree defines as a declaration
        if n.type == "ERROR":
            # the next declaration swallowed: after a struct body, or on a later line than
            # the declarator it follows (`static struct t **a` / `static bool b;`)
            prev = n.prev_sibling
            if t is None or prev is None or n.start_byte < t.end_byte or (
                    t.child_by_field_name("body") is None and n.end_point[0] <= prev.end_point[0]):
                return False
        elif not n.is_missing:
            return False
        end = self.source.find(b"\n", n.end_byte)
        text = self.source[decl.start_byte:end if end > 0 else len(self.source)].decode("utf-8", "replace")
        init = decl.child_by_field_name("declarator")
        value = init.child_by_field_name("value") if init is not None and init.type == "init_declarator" else None
        if value is not None and value.type == "initializer_list" and n.start_byte >= value.end_byte:
            # an initialiser's items may be macros (`[X_TT_BK] = 0`): judged are the head and what follows
            text = self.source[decl.start_byte:value.start_byte].decode("utf-8", "replace") + \
                self.source[value.end_byte:end if end > 0 else len(self.source)].decode("utf-8", "replace")
        if n.type == "ERROR" and t.child_by_field_name("body") is not None:
            text = self.node_text(n) + text[text.rfind("\n") + 1:]
        elif n.type == "ERROR" and sum(c.type == "ERROR" for c in decl.children) > 1:
            return False  # a declaration tree-sitter could not follow at all
        return "(" not in text and "#" not in text and not _CAPS_WORD.search(text)

    def _owner_of(self, n: Node) -> str | None:
        """The outermost body or struct around n (see _owner), or None at file scope."""
        owner, p = None, n.parent
        while p is not None:
            owner = self._owner(p) or owner
            p = p.parent
        return owner

    def parse_errors(self) -> list[tuple[str, int, str]]:
        """(function, line, what) for every ERROR or MISSING node in code: a function body
        (a function_definition's, or a bare block whose header a macro made:
        `SYSCALL_DEFINE2(...)`, `BPF_CALL_3(...)` are blanked, their body stays), a struct
        or union body, and any MISSING `}` (one deleted anywhere unbalances the file).
        File-scope macro lines elsewhere may stay unparsed and do not count."""
        out: list[tuple[str, int, str]] = []
        stack = [self.root]
        while stack:  # only where tree-sitter saw an error: clean subtrees are skipped
            n = stack.pop()
            if n.is_missing or n.type == "ERROR":
                owner = self._owner_of(n)
                if n.is_missing and (owner is not None or n.type == "}" or (
                        n.type == ";" and n.parent is not None and n.parent.type == "declaration"
                        and self._lost_file_semicolon(n)) or _after_struct_body(n)):
                    out.append((owner or "<file scope>", n.start_point[0] + 1, f"missing '{n.type}'"))
                elif n.type == "ERROR" and owner is not None:
                    out.append((owner, n.start_point[0] + 1, f"cannot parse {self.node_text(n)[:40]!r}"))
                elif n.type == "ERROR" and n.parent is not None and n.parent.type == "declaration" \
                        and self._lost_file_semicolon(n):
                    out.append(("<file scope>", n.start_point[0] + 1, "missing ';'"))
            stack.extend(c for c in n.children if c.has_error or c.is_missing)
        found = QueryCursor(_MACRO_DECL).captures(self.root)
        for n in found.get("m", []) + found.get("c", []) + found.get("a", []) + found.get("f", []):
            owner = self._owner_of(n)
            if owner is not None and _in_block(n):
                # `lock(flags)\n x = 1;` reads as a declaration of x with a type made by
                # a macro; in a body that is a call missing its `;`
                at = n.start_point if n.type == "function_definition" else n.end_point
                out.append((owner, at[0] + 1, "missing ';'"))
        # an unparsed region can swallow a function whole: compare with what looks like one
        # as parsed (attribute macros and comments gone), without #define bodies
        pre = self._without_directives()
        # (a header may start with blanked attributes: `noinline void __lockfunc f(...)`, the
        # file's line starting at its first column)
        orig: list[str] = []
        expected = {m.group(1) for m in _FUNCTION_HEAD.finditer(pre) if m.group(1) not in self.functions and (
            m.group(0)[:1] not in " \t" or _starts_code(self.text, orig, pre.count("\n", 0, m.start())))}
        built = {n for n in expected if n.isupper()}  # `int PRINT_TYPE_FUNC_NAME(s)(...)`: macro-built
        for name in sorted(expected - set(self.functions) - built - {"if", "for", "while", "switch"}):
            line = next((i + 1 for i, l in enumerate(pre.splitlines()) if re.search(rf"\b{name}\s*\(", l)), 0)
            out.append((name, line, "the function does not parse"))
        if not out:
            out += _unbalanced(pre)
        return sorted(out, key=lambda x: x[1])


def _unbalanced(code: str) -> list[tuple[str, int, str]]:
    """A `}` too many or too few in the code as judged (directives out, one branch of the
    #if groups that open braces differently): tree-sitter's recovery can hide it inside an
    ERROR around an #ifdef, where no MISSING node is made."""
    if code.count("{") == code.count("}"):
        return []
    opened: list[int] = []
    for m in re.finditer(r"[{}]", code):
        if m.group(0) == "{":
            opened.append(m.start())
        elif opened:
            opened.pop()
        else:
            return [("<file scope>", code.count("\n", 0, m.start()) + 1, "a '}' closes nothing")]
    return [("<file scope>", code.count("\n", 0, opened[0]) + 1 if opened else 0, "a '{' is never closed")]


def _after_struct_body(n: Node) -> bool:
    """`struct s { ... }` at file scope that lost its `;` before what cannot follow it."""
    prev = n.prev_sibling
    return n.type == ";" and n.parent is not None and n.parent.type == "translation_unit" and \
        prev is not None and prev.type in ("struct_specifier", "union_specifier", "enum_specifier") \
        and prev.child_by_field_name("body") is not None


def _starts_code(text: str, lines: list[str], line: int) -> bool:
    lines += [] if lines else text.split("\n")  # split once, only when a header is indented
    return line < len(lines) and (lines[line][:1].isalpha() or lines[line][:1] == "_")


def _in_block(n: Node) -> bool:
    p = n.parent
    while p is not None and p.type not in ("compound_statement", "translation_unit"):
        p = p.parent
    return p is not None and p.type == "compound_statement"


def _declarator_name(n: Node, src: bytes) -> str | None:
    d = n.child_by_field_name("declarator")
    while d is not None:
        if d.type == "function_declarator":
            inner = d.child_by_field_name("declarator")
            while inner is not None and inner.type in ("pointer_declarator", "parenthesized_declarator"):
                inner = inner.child_by_field_name("declarator") or (inner.children[-1] if inner.children else None)
            return src[inner.start_byte:inner.end_byte].decode() if inner is not None else None
        d = d.child_by_field_name("declarator")
    return None


def parse(text: str, path: str = "<file>", dialect: Dialect | None = None) -> CFile:
    """Parse once per content: every rule on the same file at the same commit shares it."""
    dialect = dialect or BUILTIN
    key = (path, hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest(), dialect.source)
    hit = _PARSED.get(key)
    if hit is None:
        hit = _PARSED[key] = _parse(text, path, dialect)
        while len(_PARSED) > 64:
            _PARSED.pop(next(iter(_PARSED)))
    return hit


_PARSED: dict[tuple[str, str, str], "CFile"] = {}


def _parse(text: str, path: str, dialect: Dialect) -> CFile:
    pre, one_branch = _preprocess(text, dialect)
    src = pre.encode()
    tree = _parser().parse(src)
    cf = CFile(path, text, src, tree.root_node, dialect=dialect.source, one_branch=one_branch, decls=dialect.decls)
    stack = [tree.root_node]
    while stack:
        n = stack.pop()
        if n.type == "function_definition":
            name = _declarator_name(n, src)
            if name:
                cf.functions[name] = Function(name, n, n.start_point[0] + 1, n.end_point[0] + 1)
            continue
        stack.extend(n.children)
    return cf


def calls_in(cf: CFile, n: Node) -> list[tuple[str, Node]]:
    """Every call under n, in source order: (callee name, call node)."""
    out = []
    stack = [n]
    while stack:
        x = stack.pop()
        if x.type == "call_expression":
            fn = x.child_by_field_name("function")
            if fn is not None:
                out.append((cf.node_text(fn).strip(), x))
        stack.extend(reversed(x.children))
    return sorted(out, key=lambda c: c[1].start_byte)
