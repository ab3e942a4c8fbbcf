"""Kernel idioms rewritten into C that tree-sitter-c reads, in place.

Every pass keeps the line count (a rewritten span keeps its newlines), so a line reported
on the rewritten text is the line in the file. Comments go first (nothing in a comment can
look like code to a later pass); then the preprocessor lines tree-sitter cannot read where
the kernel puts them (cpp.py); then the tree's attribute macros (dialect.py); then
macros that stand for C constructs:
- iterators and scopes (`list_for_each_entry(a, b, c) stmt`, `scoped_guard(k, &l) { }`,
  `do_each_pid_task(p, t, x) {`) become `for (a, b, c;;)` / `if (...)`: their calls stay;
- a type passed to a macro (`container_of(p, struct t, m)`, `min_t(unsigned int, a, b)`)
  becomes an identifier; a braced initialiser passed to a macro becomes `0`;
- declaration macros (`static DEFINE_RATELIMIT_STATE(rs, ...)`), `typeof(x)` as a type,
  C23 `auto`, GNU case ranges and computed gotos become their plain C shapes.
"""
from __future__ import annotations

from arena_patches.invariants import cpp
from arena_patches.invariants.dialect import BUILTIN, Dialect
from arena_patches.invariants.macros import SCOPED, steps

__all__ = ["SCOPED", "preprocess", "preprocess_counted"]


def preprocess(text: str, dialect: Dialect = BUILTIN) -> str:
    return preprocess_counted(text, dialect)[0]


def preprocess_counted(text: str, dialect: Dialect) -> tuple[str, int]:
    """(the rewritten text, #if groups judged on one branch)."""
    out = cpp.blank_comments(text, strings=True)
    dialect = dialect.with_file_defines(out)
    out, one_branch = cpp.directives(out)
    for step in steps(dialect):
        out = step(out)
    return out, one_branch
