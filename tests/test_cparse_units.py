"""The C layer's dialect (read from the tree's headers) and its rewrites, on a miniature tree."""
from pathlib import Path

from arena_patches.invariants import cparse
from arena_patches.invariants import dialect as dl
from arena_patches.invariants import rewrite, rules
from arena_patches.invariants.sources import DiskFiles
from arena_patches.core.verdicts import Status

TREE = Path(__file__).parent / "fixtures" / "c" / "tree"
IDIOMS = (TREE / "fs/foo/idioms.c").read_text()


def test_attribute_macros_come_from_the_headers():
    d = dl.from_directory(TREE)
    assert {"__user", "__sched", "noinline"} <= d.attrs
    assert {"__section", "__acquires", "__cond_acquires"} <= d.attr_fns
    assert "barrier" not in d.attr_fns and "__chk" not in d.attr_fns  # code, not attributes
    assert "INIT" not in d.attrs  # an all-caps name may be anything in a .c file
    assert "VISIBLE_IF_TEST" in d.caps_attrs  # ... but before a declaration it is blanked
    assert "list_walk" in d.loops and "DECLARE_MASK" in d.decls
    assert "_LINUX_COMPILER_TYPES_H" not in d.attrs
    assert dl.from_directory(TREE / "fs") is None  # no kernel headers there


def test_rewrites_keep_every_line_where_it_was():
    d = DiskFiles(TREE).dialect_for("fs/foo/idioms.c")
    assert "STATIC" in d.caps_attrs and "with_foo_lock" in d.loops  # the file's neighbours
    out = rewrite.preprocess(IDIOMS, d)
    assert out.count("\n") == IDIOMS.count("\n")
    lines = out.split("\n")
    assert lines[8].strip().startswith("for (pos, &items;;)")  # list_walk(pos, &items) {
    assert "__user" not in lines[3] and "__sched" not in lines[3]
    assert "while" in lines[16]  # } list_walk(pos, &items); closes the do


def test_kernel_idioms_parse_and_a_real_error_is_still_seen():
    d = DiskFiles(TREE).dialect_for("fs/foo/idioms.c")
    cf = cparse.parse(IDIOMS, "fs/foo/idioms.c", d)
    assert cf.parse_errors() == [] and {"count_user", "take"} <= set(cf.functions)
    assert cf.one_branch == 1  # the #ifdef that opens a brace is judged on its first branch
    broken = IDIOMS.replace("\t\ttotal += n;", "\t\ttotal += n", 1)
    errs = cparse.parse(broken, "fs/foo/idioms.c", d).parse_errors()
    assert errs and errs[0][0] == "count_user"
    # the built-in dialect (no tree): the same file does not parse, and the verdict says why
    v = rules.evaluate(rules.Rule("p", "parses", "fs/foo/idioms.c", "", None, None), IDIOMS)
    assert v.status is Status.FAIL and "built-in list" in v.detail
    v = rules.evaluate(rules.Rule("p", "parses", "fs/foo/idioms.c", "", None, None), IDIOMS, d)
    assert v.status is Status.PASS and "the tree's headers" in v.detail and "1 #if groups" in v.detail


def test_a_call_missing_its_semicolon_is_not_a_declaration():
    text = "void f(void)\n{\n\tlock(flags)\n\tx = 1;\n}\n"
    assert cparse.parse(text).parse_errors() == [("f", 3, "missing ';'")]
