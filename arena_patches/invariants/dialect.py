"""The kernel's C dialect, read from the tree itself: which macros are attributes.

tree-sitter parses C, not the preprocessor. `__user`, `__rcu`, `__percpu`, `__sched`,
`__init`, `__acquires(x)`... are macros that expand to nothing or to `__attribute__((...))`;
left in place they read as identifiers and break the parse. Which names are such macros
is a fact of the tree: its headers (`include/linux/compiler_types.h`, `init.h`,
`spinlock.h`, ...) are scanned for `#define`s whose every definition expands only to
attributes (transitively: `__rcu` -> `BTF_TYPE_TAG(rcu)` -> `__attribute__((...))` or
nothing). Without a tree (loose files), a built-in list of the common ones is used, and
the verdict says so.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from arena_patches.invariants.cpp import close_paren

_DEFINE = re.compile(r"^\s*#\s*define\s+(\w+)(\([^)]*\))?(.*)$")
_COMMENT = re.compile(r"/\*.*?\*/|//.*$", re.S)
# C keywords and GCC extensions an attribute macro may expand to (named address spaces too)
_WORD = re.compile(r"\b[A-Za-z_]\w*\b")
_KEYWORDS = {"inline", "__inline", "__inline__", "_Noreturn", "__extension__", "__seg_gs", "__seg_fs",
             "volatile", "__volatile__", "__restrict", "__restrict__", "restrict", "static"}
_DEFINE_RX = re.compile(r"^[ \t]*#[ \t]*define[ \t]+(\w+)(\([^)\n]*\))?((?:[^\n]*\\\n)*[^\n]*)", re.M)


@dataclass(frozen=True)
class Dialect:
    attrs: frozenset[str]  # object-like: `__user`
    attr_fns: frozenset[str]  # function-like: `__acquires(x)`, `__section(s)`
    source: str  # where the names came from: "the tree's headers (N macros)" or "built-in"
    loops: frozenset[str] = frozenset()  # `skb_walk_frags(skb, it) stmt`: expands to for/while
    decls: frozenset[str] = frozenset()  # `DECLARE_BITMAP(map, n) = {0};`: expands to a declaration
    caps_attrs: frozenset[str] = frozenset()  # `VISIBLE_IF_KUNIT`: blanked only before a declaration

    def with_file_defines(self, text: str) -> "Dialect":
        """The file's own attribute macros too (`#define check_canary_attributes noinline`)."""
        return self.extended([text]) if "define" in text else self

    def extended(self, texts: list[str]) -> "Dialect":
        """This dialect plus what more headers (or the file itself) define."""
        defs: dict[str, list[tuple[bool, str]]] = {}
        for t in texts:
            defines_in(t, defs)
        mine = {n: d for n, d in defs.items() if n not in self.attrs and n not in self.attr_fns
                and n not in self.loops and n not in self.decls}
        if not mine:
            return self
        local = from_defines(mine, "", self)
        if not (local.attrs or local.attr_fns or local.loops or local.decls or local.caps_attrs):
            return self
        return Dialect(self.attrs | local.attrs, self.attr_fns | local.attr_fns, self.source,
                       self.loops | local.loops, self.decls | local.decls, self.caps_attrs | local.caps_attrs)

    def blank(self, text: str) -> str:
        """The attribute macros (with their arguments) turned into spaces; newlines kept."""
        names = self.attrs | self.attr_fns
        out, pos = [], 0
        directives = [(m.start(), m.end()) for m in _DIRECTIVE_SPAN.finditer(text)]
        di = 0
        for m in _IDENT.finditer(text):
            name = m.group(0)
            if name not in names or m.start() < pos:
                continue
            while di < len(directives) and directives[di][1] < m.start():
                di += 1
            if di < len(directives) and directives[di][0] <= m.start():
                continue  # `#ifndef __HAVE_COLOR_ZERO_PAGE` names the macro, it is not code
            end = m.end()
            if name in self.attr_fns:
                j = end
                while j < len(text) and text[j] in " \t":
                    j += 1
                if j < len(text) and text[j] == "(":
                    close = close_paren(text, j, limit=4000)
                    if close < 0:
                        continue
                    end = close + 1
                elif name not in self.attrs:
                    continue
            out.append(text[pos:m.start()])
            out.append("".join(c if c == "\n" else " " for c in text[m.start():end]))
            pos = end
        out.append(text[pos:])
        return "".join(out)


_IDENT = re.compile(r"\b[A-Za-z_]\w*\b")
_DIRECTIVE_SPAN = re.compile(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", re.M)


BUILTIN = Dialect(
    frozenset({"__bpf_kfunc", "__init", "__exit", "__always_inline", "__maybe_unused",
               "__must_check", "noinline", "notrace", "__cold", "__weak", "__ref", "__used",
               "__noreturn", "__user", "__rcu", "__percpu", "__iomem", "__sched", "__lockfunc",
               "__kprobes", "__meminit", "__initdata", "__read_mostly", "__ro_after_init",
               "__force", "__bitwise", "__visible", "noinstr", "__always_unused", "__latent_entropy",
               "__init_or_module", "__initconst", "__refdata", "__cpuidle", "__noclone", "__retain",
               "asmlinkage", "__packed", "__private", "__kernel", "__safe", "__nocast",
               "__irq_entry", "__softirq_entry", "__exitdata", "__meminitdata", "__net_init",
               "__net_exit", "__naked", "__flatten", "__pure", "__const", "__malloc", "fallthrough"}),
    frozenset({"__printf", "__acquires", "__releases", "__must_hold", "__section", "__aligned",
               "__cond_acquires", "__scanf", "__alloc_size", "__counted_by", "BTF_TYPE_TAG",
               "__diag_ignore", "__nocfi", "__assume_aligned", "__guarded_by", "__pt_guarded_by",
               "__no_sanitize_or_inline", "__attribute_const__", "__releases_shared",
               "__acquires_shared", "__must_hold_shared", "__cond_acquires_shared"}),
    "built-in list (no tree headers)")


def parse_defines(lines: Iterable[str]) -> dict[str, list[tuple[bool, str]]]:
    """name -> [(function-like, body)] from #define lines (continuations joined)."""
    out: dict[str, list[tuple[bool, str]]] = {}
    it = iter(lines)
    for line in it:
        if "define" not in line:
            continue
        while line.endswith("\\"):
            nxt = next(it, None)
            if nxt is None:
                break
            line = line[:-1] + " " + nxt
        m = _DEFINE.match(line)
        if m:
            out.setdefault(m.group(1), []).append((m.group(2) is not None, m.group(3)))
    return out


def _strip_attrs(body: str, attrs: set[str], fns: set[str], families: set[str] = frozenset()) -> str:
    """What remains of `body` once attributes and attribute macros are taken out
    (`prefix##x(...)`: when every macro named prefix... is an attribute)."""
    s = _COMMENT.sub(" ", body)
    s = re.sub(r"\b(\w+)\s*##\s*\w+(\s*\((?:[^()]|\([^()]*\))*\))?",
               lambda m: " " if m.group(1) in families else m.group(0), s)
    for _ in range(8):
        before = s
        s = re.sub(r'\bextern\s+"C"', " ", s)  # CPP_ASMLINKAGE under C++
        s = re.sub(r"\b(__attribute__|__attribute|__declspec)\s*\(\((?:[^()]|\((?:[^()]|\([^()]*\))*\))*\)\)", " ", s)
        s = re.sub(r"\b(\w+)\s*\((?:[^()]|\((?:[^()]|\([^()]*\))*\))*\)",
                   lambda m: " " if m.group(1) in fns else m.group(0), s)
        s = re.sub(r"\b\w+\b", lambda m: " " if m.group(0) in attrs or m.group(0) in _KEYWORDS else m.group(0), s)
        if s == before:
            break
    return s.strip()


_CODE = re.compile(r"[;={}?]|\b(return|do|while|if|for|sizeof|typeof|__typeof__)\b|^\s*\(|\(void\)")


def from_defines(defs: dict[str, list[tuple[bool, str]]], source: str,
                 base: "Dialect | None" = None) -> Dialect:
    """A name is an attribute macro when one of its definitions expands to attributes only
    (or to nothing, for `__`-names and lowercase names such as `noinline`), and none of
    its other definitions (other configs, assembler) is code: a statement, an expression."""
    attrs: set[str] = set(base.attrs) if base else set()
    fns: set[str] = set(base.attr_fns) if base else set()
    candidates = {n: ds for n, ds in defs.items()
                  if not any(_CODE.search(_COMMENT.sub(" ", b)) for _, b in ds)}
    tokens = {n: set(_WORD.findall(" ".join(b for _, b in ds))) for n, ds in candidates.items()}
    users: dict[str, set[str]] = {}
    for n, ts in tokens.items():
        for t in ts:
            users.setdefault(t, set()).add(n)
    names = sorted(defs)

    def prefixed(prefix: str) -> list[str]:
        import bisect
        i = bisect.bisect_left(names, prefix)
        out = []
        while i < len(names) and names[i].startswith(prefix):
            out.append(names[i])
            i += 1
        return out
    todo = list(candidates)
    while todo:  # a worklist: a name is looked at again only when one of its words changed
        name = todo.pop()
        if name in attrs or name in fns:
            continue
        ds = candidates[name]
        bodies = [_COMMENT.sub(" ", b).strip() for _, b in ds]
        if all(not b for b in bodies) and not name.startswith("__") and not name.isupper():
            continue  # an empty macro is an attribute only by the kernel's naming
        families = {m for b in bodies for m in re.findall(r"\b(\w+)\s*##", b)
                    if all(n in attrs or n in fns for n in prefixed(m)) and prefixed(m)}
        if any(not _strip_attrs(b, attrs, fns, families) and (b or name.startswith("__") or name.isupper())
               for b in bodies):
            (fns if all(f for f, _ in ds) else attrs).add(name)
            todo.extend(users.get(name, ()))
    # only `__`-names and lowercase names are blanked in code: an all-caps name may be
    # anything in a .c file (an enum, a local macro); header guards are left alone too
    def blankable(a: str) -> bool:
        return (a.startswith("__") or a.islower()) and not re.fullmatch(r"_+[A-Z0-9_]+_H_*", a)
    caps = {a for a in attrs if a.isupper() and not re.fullmatch(r"_*[A-Z0-9_]+_H_*", a) and len(a) > 3
            and any(d.strip() for _, d in defs.get(a, [])) and not any(f for f, _ in defs.get(a, []))}
    attrs = {a for a in attrs if blankable(a) and (base is None or a not in base.attrs)}
    fns = {a for a in fns if blankable(a) and (base is None or a not in base.attr_fns)}
    loops, decls = _shapes(defs, base)
    return Dialect(frozenset(attrs), frozenset(fns), f"{source} ({len(attrs) + len(fns)} attribute macros, "
                   f"{len(loops)} loop macros, {len(decls)} declaration macros)",
                   frozenset(loops), frozenset(decls), frozenset(caps))


_TYPE_START = re.compile(r"^(?:static\s+|const\s+|extern\s+)*(?:struct|union|enum|unsigned|signed|int|long|"
                         r"char|short|bool|u8|u16|u32|u64|s8|s16|s32|s64|atomic_t|atomic_long_t)\b"
                         # a typedef'd type then a name: `spinlock_t x = __SPIN_LOCK_UNLOCKED(x)`
                         r"|^(?:static\s+|const\s+|extern\s+)*[a-z]\w*_t\s+\w+\s*(?:=|\[|$)")


def _shapes(defs: dict[str, list[tuple[bool, str]]], base: "Dialect | None" = None) -> tuple[set[str], set[str]]:
    """Function-like macros that stand for a loop header, or for a declaration."""
    seed_loops = set(base.loops) if base else set()
    seed_decls = set(base.decls) if base else set()
    loops: set[str] = set(seed_loops)
    decls: set[str] = set(seed_decls)
    fn_defs = {n: [_COMMENT.sub(" ", b).strip() for f, b in ds] for n, ds in defs.items()
               if all(f for f, _ in ds)}
    grown = True
    while grown:
        grown = False
        for name, bodies in fn_defs.items():
            if name in loops or name in decls or not all(bodies) or any(b.endswith((";", "}")) for b in bodies):
                continue
            heads = [re.match(r"(\w+)\s*\(", b) for b in bodies]
            if all(h and (h.group(1) in ("for", "while") or h.group(1) in loops) for h in heads):
                loops.add(name)
                grown = True
            elif all(_TYPE_START.match(b) or (h and h.group(1) in decls) for b, h in zip(bodies, heads)) \
                    and not any(re.search(r"[{}]", b) and not re.search(r"=", b) for b in bodies):
                decls.add(name)
                grown = True
    return loops - seed_loops, decls - seed_decls


HEADER_GLOBS = ("include/linux/**/*.h", "include/asm-generic/**/*.h", "include/net/**/*.h", "include/kunit/*.h",
                "arch/*/include/asm/**/*.h")


def header_files(root: Path) -> list[Path]:
    """The headers that define the kernel's dialect (not uapi, not drivers' own)."""
    return [f for g in HEADER_GLOBS for f in root.glob(g)]


def defines_in(text: str, into: dict[str, list[tuple[bool, str]]]) -> None:
    for m in _DEFINE_RX.finditer(text):
        into.setdefault(m.group(1), []).append((m.group(2) is not None, m.group(3).replace("\\\n", " ")))


def from_directory(root: Path) -> Dialect | None:
    """The dialect of a kernel tree on disk, or None when `root` holds no kernel headers."""
    if not (root / "include" / "linux" / "compiler_types.h").is_file():
        return None
    defs: dict[str, list[tuple[bool, str]]] = {}
    for f in header_files(root):
        try:
            defines_in(f.read_text(errors="replace"), defs)
        except OSError:
            continue
    return from_defines(defs, f"the tree's headers in {root}")


_LOCAL: dict[tuple[str, str], Dialect] = {}


def local_dirs(path: str) -> list[str]:
    """The directories whose headers a file sees besides the core ones: its own and its
    parents below the top level (fs/xfs/libxfs/x.c: fs/xfs/libxfs, fs/xfs)."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[:k]) for k in range(len(parts), 1, -1)]


def for_file(base: Dialect, read_dir, path: str) -> Dialect:
    """`base` plus the headers next to `path` (xfs's `STATIC`, overlayfs's `with_ovl_creds`).
    `read_dir(dir)` gives the texts of the .h files in a directory of the tree."""
    out = base
    for d in reversed(local_dirs(path)):
        key = (base.source, d)
        if key not in _LOCAL:
            _LOCAL[key] = out.extended(read_dir(d))
        out = _LOCAL[key]
    return out


def disk_headers(root: Path):
    def read_dir(d: str) -> list[str]:
        return [f.read_text(errors="replace") for f in sorted((root / d).glob("*.h")) if f.is_file()]
    return read_dir


def from_texts(texts: Iterable[str], source: str) -> Dialect:
    defs: dict[str, list[tuple[bool, str]]] = {}
    for t in texts:
        defines_in(t, defs)
    return from_defines(defs, source)


def from_git_grep(output: str, commit: str) -> Dialect:
    """`git grep -h -A4 -E '^\\s*#\\s*define' COMMIT -- include 'arch/*/include'` output."""
    lines = [l for l in output.splitlines() if l != "--"]
    return from_defines(parse_defines(lines), f"the tree's headers at {commit[:12]}")
