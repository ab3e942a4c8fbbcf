"""The house's rules, read from the code itself (ast): what issue 15 asked to hold stays
held. A rule broken here is named with the file and line."""
from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "arena_patches"
MODULES = sorted(PKG.rglob("*.py"))
# the rooms in pipeline order: a room may import only rooms at or before it in this list
ROOMS = ["core", "mail", "tree", "kbuild", "checks", "boot", "invariants", "review", "report", "demo", "verify", "cli"]
MAX_LINES, MAX_FUNCTION = 410, 60
PARSER_TABLE = {("cli/parser.py", "build_parser")}


def _rel(f: Path) -> str:
    return str(f.relative_to(PKG))


def _room(f: Path) -> str:
    return f.relative_to(PKG).parts[0] if len(f.relative_to(PKG).parts) > 1 else f.stem


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    out = []
    for n in ast.walk(tree):
        if isinstance(n, ast.ImportFrom) and n.module and n.level == 0:
            out += [(n.lineno, n.module)] + [(n.lineno, f"{n.module}.{a.name}") for a in n.names]
        elif isinstance(n, ast.Import):
            out += [(n.lineno, a.name) for a in n.names]
    return out


def test_rooms_import_only_rooms_below_them():
    wrong = []
    for f in MODULES:
        room = _room(f)
        if room not in ROOMS:
            continue
        for line, mod in _imports(ast.parse(f.read_text())):
            parts = mod.split(".")
            if parts[0] != "arena_patches" or len(parts) < 2 or parts[1] not in ROOMS:
                continue
            if ROOMS.index(parts[1]) > ROOMS.index(room):
                wrong.append(f"{_rel(f)}:{line} ({room}) imports {mod}")
    assert not wrong, "\n".join(wrong)


def test_only_the_cli_parses_arguments_prints_or_exits():
    wrong = []
    for f in MODULES:
        if _room(f) in ("cli", "report") or f.name == "__main__.py":
            continue  # the CLI, and the renderers it calls
        tree = ast.parse(f.read_text())
        for line, mod in _imports(tree):
            if mod == "argparse":
                wrong.append(f"{_rel(f)}:{line} imports argparse")
        for n in ast.walk(tree):
            if isinstance(n, ast.Call):
                name = ast.unparse(n.func)
                if name in ("print", "sys.exit", "exit", "os._exit"):
                    wrong.append(f"{_rel(f)}:{n.lineno} calls {name}")
    assert not wrong, "\n".join(wrong)


def test_no_verdict_word_is_compared_outside_the_serialisers():
    """The meaning of a verdict is on its enum (core/verdicts.py): nobody else compares
    `.value` with a word."""
    wrong = []
    for f in MODULES:
        if _room(f) == "report":
            continue
        for n in ast.walk(ast.parse(f.read_text())):
            if isinstance(n, ast.Compare):
                sides = [n.left, *n.comparators]
                if any(isinstance(x, ast.Attribute) and x.attr == "value" for x in sides) and \
                        any(isinstance(x, (ast.Constant, ast.Tuple, ast.List, ast.Set)) for x in sides):
                    wrong.append(f"{_rel(f)}:{n.lineno}: {ast.unparse(n)}")
    assert not wrong, "\n".join(wrong)


def test_no_subprocess_outside_the_runner():
    wrong = [f"{_rel(f)}:{line} imports {mod}" for f in MODULES if _rel(f) != "core/runner.py"
             for line, mod in _imports(ast.parse(f.read_text())) if mod.split(".")[0] == "subprocess"]
    assert not wrong, "\n".join(wrong)


def test_modules_and_functions_stay_small():
    wrong = []
    for f in MODULES:
        text = f.read_text()
        if len(text.splitlines()) > MAX_LINES:
            wrong.append(f"{_rel(f)}: {len(text.splitlines())} lines")
        for n in ast.walk(ast.parse(text)):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and (_rel(f), n.name) not in PARSER_TABLE:
                length = n.end_lineno - n.lineno + 1
                if length > MAX_FUNCTION:
                    wrong.append(f"{_rel(f)}:{n.lineno} {n.name}: {length} lines")
    assert not wrong, "\n".join(wrong)
