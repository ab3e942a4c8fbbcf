"""The C layer's dialect (read from the tree's headers) and its rewrites, on a miniature tree."""
from pathlib import Path

from arena_patches.invariants import cparse, deletions
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


def test_errors_count_in_bodies_a_macro_made_and_in_structs():
    # `SYSCALL_DEFINE1(...)` is blanked: its body is a bare block, still judged
    ok = "SYSCALL_DEFINE1(foo, int, x)\n{\n\tif (x)\n\t\treturn -EINVAL;\n\treturn 0;\n}\n"
    assert cparse.parse(ok).parse_errors() == []
    assert cparse.parse(ok.replace("-EINVAL;", "-EINVAL")).parse_errors() == [
        ("SYSCALL_DEFINE1(foo)", 4, "missing ';'")]
    members = "struct a {\n\tstruct list_head list;\n\t__bpf_md_ptr(struct b *, meta);\n\tint x;\n};\n"
    assert cparse.parse(members).parse_errors() == []  # a member a macro declares
    assert cparse.parse(members.replace("list;", "list")).parse_errors() == [("struct a", 2, "missing ';'")]
    # the last member's `;` (GCC accepts it, pedantic): tree-sitter says it is missing
    assert cparse.parse(members.replace("int x;", "int x")).parse_errors() == [("struct a", 4, "missing ';'")]
    aligned = "#define ALIGN_DATA __aligned(8)\nstruct p {\n\tlong a;\n\tunsigned char data[]\tALIGN_DATA;\n};\n"
    assert cparse.parse(aligned).parse_errors() == []  # an attribute macro after the declarator
    bits = "struct t {\n\tlong a;\n\tint  :32; int  :32;\n};\n"
    assert cparse.parse(bits).parse_errors() == []


def test_a_lost_fallthrough_semicolon_and_a_lost_brace_under_ifdef():
    sw = "void f(int x)\n{\n\tswitch (x) {\n\tcase 1:\n\t\tg();\n\t\tfallthrough;\n\tcase 2:\n\t\tbreak;\n\t}\n}\n"
    assert cparse.parse(sw).parse_errors() == []
    assert cparse.parse(sw.replace("fallthrough;", "fallthrough")).parse_errors() == [("f", 6, "missing ';'")]
    two = "#ifdef X\nstatic int f(void)\n{\n\treturn 1;\n}\n#else\nstatic int f(void)\n{\n\treturn 2;\n}\n#endif\n" \
          "int g;\n"
    assert cparse.parse(two).parse_errors() == []
    assert cparse.parse(two.replace("1;\n}", "1;\n", 1)).parse_errors()
    # a `}` lost at file scope (an initialiser) leaves a `{` open: tree-sitter's MISSING '}'
    init = "static int t[][2] = {\n\t{ 1, 2 },\n\t{ 3, 4 },\n};\n"
    assert cparse.parse(init).parse_errors() == []
    assert cparse.parse(init.replace("4 }", "4 ")).parse_errors()


def test_the_deletion_seeder_names_shapes_and_knows_what_still_compiles():
    text = ("struct s {\n\tint a;\n\tint b;\n};\n"
            "static int f(int x)\n{\n\tint y = 0;\n\tdo {\n\t\ty++;\n\t} while (x--);\n"
            "\tif (x) {\n\t\treturn -1;\n\t};\n\tfor (;;)\n\t\t;\n\t/* a; } */\n\treturn y;\n}\n"
            "EXPORT_SYMBOL(f);\n")
    got = [(text.count("\n", 0, at) + 1, kind, shape, error) for at, kind, shape, error in deletions.seeds(text)]
    assert (2, ";", "member", True) in got and (3, ";", "member", False) in got  # the last member
    assert (7, ";", "declaration", True) in got and (9, ";", "expression", True) in got
    assert (10, ";", "do-while", True) in got and (10, "}", "do", True) in got
    assert (12, ";", "return", True) in got and (13, ";", "empty", False) in got  # `};` after a block
    assert (15, ";", "empty", False) in got and (17, ";", "return", True) in got
    assert (18, "}", "function", True) in got and (19, ";", "file-macro", False) in got
    assert not any(line == 16 for line, *_ in got)  # a comment
    assert got.count((14, ";", "for-header", True)) == 2 and (4, ";", "file-declaration", True) in got
    assert sum(kind == ";" for _, kind, _, _ in got) == 13 and sum(kind == "}" for _, kind, _, _ in got) == 4


def test_a_file_scope_declaration_that_lost_its_semicolon():
    ok = "static int a;\nstatic int b;\nstruct s {\n\tint x;\n};\nstatic int c;\nDEFINE_MUTEX(m)\nstatic int d;\n"
    assert cparse.parse(ok).parse_errors() == []  # a macro line without `;` is not judged
    assert cparse.parse(ok.replace("int a;", "int a")).parse_errors() == [("<file scope>", 1, "missing ';'")]
    assert cparse.parse(ok.replace("};", "}")).parse_errors()[0][:2] == ("<file scope>", 6)
    # a body under #ifdef whose header a macro made is judged too
    body = "#ifdef X\nSYSCALL_DEFINE0(f)\n{\n\tx = 1;\n\treturn 0;\n}\n#endif\n"
    assert cparse.parse(body).parse_errors() == []
    assert cparse.parse(body.replace("x = 1;", "x = 1")).parse_errors() == [("SYSCALL_DEFINE0(f)", 4, "missing ';'")]


def test_lost_semicolons_next_to_declaration_macros_sizeof_initialisers_and_attributes():
    """issue 26: where tree-sitter's recovery hid a deleted `;` on real 7.2 files."""
    d = dl.from_texts(["#define LIST_HEAD(name) struct list_head name = LIST_HEAD_INIT(name)\n"
                       "#define DEFINE_SPINLOCK(x) spinlock_t x = __SPIN_LOCK_UNLOCKED(x)\n"
                       "#define noinline __attribute__((__noinline__))\n"
                       "#define __lockfunc __attribute__((section(\".spinlock.text\")))\n"], "test")
    assert {"LIST_HEAD", "DEFINE_SPINLOCK"} <= d.decls  # a typedef'd type makes a declaration too
    ok = ("static LIST_HEAD(a);\nstatic DEFINE_SPINLOCK(l);\nstatic struct t **p;\n\nstatic bool b;\n"
          "static const u8 m[] = {\n\t[X_A] = 0,\n};\nstatic int c;\n"
          "static u64 f(void)\n{\n\tu64 n = sizeof(struct s);\n\n\tn += 1;\n\treturn n;\n}\n"
          "#ifndef CONFIG_X\nnoinline void __lockfunc g(int *l)\n{\n\th(l);\n}\nEXPORT_SYMBOL(g);\n#endif\n")
    assert cparse.parse(ok, "x.c", d).parse_errors() == []
    for lost, line in [("LIST_HEAD(a);", 2), ("SPINLOCK(l);", 3), ("**p;", 5), ("};", 8), ("(struct s);", 12)]:
        got = cparse.parse(ok.replace(lost, lost[:-1]), "x.c", d).parse_errors()
        assert got == [("f" if "struct s" in lost else "<file scope>", line, "missing ';'")], lost
    # a struct that lost its `;` before a directive; a declarator list before a declaration;
    # an assignment before `*p = x;` (read as `a * (p = x)`)
    more = "struct s {\n\tint x;\n};\n#define N 1\nstatic int a, b\nstatic int c;\n" \
        "void h(int *p)\n{\n\tp->n = a\n\t*(p++) = b;\n}\n"
    assert cparse.parse(more.replace("b\n", "b;\n").replace("= a\n", "= a;\n")).parse_errors() == []
    assert cparse.parse(more.replace("= a\n", "= a;\n")).parse_errors() == [("<file scope>", 6, "missing ';'")]
    assert cparse.parse(more.replace("b\n", "b;\n")).parse_errors() == [("h", 10, "missing ';'")]
    assert cparse.parse(more.replace("};", "}").replace("b\n", "b;\n").replace("= a\n", "= a;\n")
                        ).parse_errors() == [("<file scope>", 3, "missing ';'")]
    # a call before a block reads as a nested function (GNU C, never in the kernel)
    nested = "void k(int *p)\n{\n\tkfree(p[1]);\n\tif (p) {\n\t\tx = 1;\n\t}\n}\n"
    assert cparse.parse(nested).parse_errors() == []
    assert cparse.parse(nested.replace("]);", "])")).parse_errors() == [("k", 3, "missing ';'")]
    # a header whose first words are attributes (blanked) is still a function's
    assert cparse.parse(ok.replace("h(l);", "h(l)"), "x.c", d).parse_errors()[0][:2] == ("g", 20)
