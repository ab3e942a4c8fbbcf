"""The build stage's pure parts: diagnostics, identity, kconfig merging, make argv, judging."""
import pytest

from arena_patches.kbuild import matrix as build
from arena_patches.kbuild.state import CommitState, judge, kernel_objects
from arena_patches.kbuild import diagnostics as dg
from arena_patches.kbuild import kconfig, targets
from arena_patches.core.errors import UserError
from arena_patches.core.verdicts import Status

SRC = "/work/wt/build"
LOG = f"""  CC      kernel/bpf/arena.o
{SRC}/kernel/bpf/arena.c: In function 'compute_pgoff':
{SRC}/kernel/bpf/arena.c:91:9: error: expected ';' before 'int'
{SRC}/kernel/bpf/arena.c:522:14: warning: unused variable 'freed' [-Wunused-variable]
../kernel/bpf/arena.c:522:14: warning: unused variable 'freed' [-Wunused-variable]
kernel/bpf/arena.c:139:2: error: call to undeclared function 'flush_tlb_kernel_range'; ISO C99 and later do not support implicit function declarations [-Wimplicit-function-declaration]
i686-linux-gnu-ld: kernel/bpf/verifier.o: in function `do_check':
verifier.c:(.text+0x1a2b): undefined reference to `bpf_arena_nr_pages'
{SRC}/kernel/bpf/verifier.c:19781: undefined reference to `bpf_arena_nr_pages'
ld.lld-19: error: undefined symbol: bpf_arena_nr_pages
make[5]: *** [{SRC}/scripts/Makefile.build:234: kernel/bpf/arena.o] Error 1
"""


def test_parse_compiler_and_linker_lines():
    ds = dg.parse(LOG, [SRC])
    got = [(d.file, d.line, d.column, d.severity, d.flag) for d in ds]
    assert got == [
        ("kernel/bpf/arena.c", 91, 9, "error", None),
        ("kernel/bpf/arena.c", 522, 14, "warning", "-Wunused-variable"),
        ("kernel/bpf/arena.c", 522, 14, "warning", "-Wunused-variable"),
        ("kernel/bpf/arena.c", 139, 2, "error", "-Wimplicit-function-declaration"),
        ("verifier.c", None, None, "error", None),
        ("kernel/bpf/verifier.c", 19781, None, "error", None),
        ("ld.lld-19", None, None, "error", None)]
    assert ds[0].message == "expected ';' before 'int'"
    assert ds[4].message == "undefined reference to `bpf_arena_nr_pages'"
    assert dg.make_failure(LOG).endswith("kernel/bpf/arena.o] Error 1")


def test_new_warnings_by_identity_not_line_or_count():
    before = dg.parse("a.c:10:1: warning: old one [-Wx]\n")
    after = dg.parse("a.c:99:1: warning: old one [-Wx]\na.c:5:1: warning: new one [-Wy]\n"
                     "a.c:6:1: warning: new one [-Wy]\n")
    new = dg.new_by_identity(after, before)
    assert [(d.message, d.line) for d in new] == [("new one", 5)]


def state(ok=True, errors="", warnings="", not_built=()):
    return CommitState(ok, tuple(dg.parse(errors)), tuple(dg.parse(warnings)),
                             tuple(not_built), "" if ok else "make: *** Error 2", 1, 0.1)


def test_judge_reports_what_the_patch_introduced():
    base = state(warnings="a.c:1:1: warning: w [-Wa]\n")
    broken = state(ok=False, errors="a.c:2:1: error: e\n")
    assert judge(base, broken)[0] is Status.FAIL
    status, errors, inherited, _ = judge(broken, state(ok=False, errors="a.c:9:1: error: e\n"))
    assert status is Status.FAIL and errors == [] and [d.message for d in inherited] == ["e"]
    status, _, _, new = judge(base, state(warnings="a.c:1:1: warning: w [-Wa]\nb.c:1:1: warning: v [-Wb]\n"))
    assert status is Status.WARN and [d.file for d in new] == ["b.c"]
    assert judge(broken, base, base)[0] is Status.PASS  # the fix
    link = state(ok=False, errors="verifier.c:(.text+0x1): undefined reference to `x'\n")
    assert judge(base, link)[1][0].message == "undefined reference to `x'"


def test_kconfig_merge_and_unmet():
    cfg = "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=m\n"
    merged = kconfig.merge(cfg, ("CONFIG_B=y", "CONFIG_A=n", "CONFIG_D=y"))
    assert merged.splitlines() == ["CONFIG_C=m", "CONFIG_B=y", "# CONFIG_A is not set", "CONFIG_D=y"]
    assert kconfig.unmet("CONFIG_B=y\nCONFIG_A=y\n", ("CONFIG_B=y", "CONFIG_A=n", "CONFIG_D=y")) == \
        ["CONFIG_A=n", "CONFIG_D=y"]


def test_config_argument(tmp_path):
    series = ("CONFIG_BPF_SYSCALL=y",)
    assert kconfig.resolve(None, series) == kconfig.BuildConfig("tiny", "tinyconfig", series)
    assert kconfig.resolve("defconfig", series).base == "defconfig"
    f = tmp_path / "extra.config"
    f.write_text("# a comment\nCONFIG_KASAN=y\n# CONFIG_SMP is not set\n")
    c = kconfig.resolve(str(f), series)
    assert (c.name, c.fragment) == ("extra", series + ("CONFIG_KASAN=y", "CONFIG_SMP=n"))
    f.write_text("KASAN=y\n")
    with pytest.raises(UserError, match="line 1"):
        kconfig.resolve(str(f), series)
    with pytest.raises(UserError, match="--config nope"):
        kconfig.resolve("nope", series)


def test_target_table_and_make_argv():
    table = targets.all_targets()
    assert list(table) == ["x86_64", "i386", "arm", "arm64", "riscv64", "loongarch64"]
    arm64 = table["arm64"]
    argv = targets.make_argv(arm64, arm64.toolchain("gcc"), "/src", "/out", ["vmlinux"], 2, ccache=False)
    assert argv == ["make", "-C", "/src", "O=/out", "-j2", "ARCH=arm64",
                    "CROSS_COMPILE=aarch64-linux-gnu-", "vmlinux"]
    la = table["loongarch64"]
    assert la.toolchain("gcc").name == "llvm"  # Debian 12 has no loongarch gcc
    argv = targets.make_argv(la, la.toolchain(), "/s", "/o", ["kernel/bpf/arena.o"], 1, {"W": "1"},
                             ccache=False)
    assert argv[4:] == ["-j1", "ARCH=loongarch", "LLVM=-19", "LLVM_IAS=1", "W=1", "kernel/bpf/arena.o"]
    assert table["i386"].bits == 32 and table["arm"].bits == 32
    assert {t.qemu.binary for t in table.values()} >= {"qemu-system-x86_64", "qemu-system-aarch64"}
    with pytest.raises(UserError, match="unknown target"):
        targets.select("x86_64,sparc")
    assert [t.name for t in targets.select("i386, arm64")] == ["i386", "arm64"]


def test_missing_toolchain_names_the_package(monkeypatch):
    t = targets.all_targets()["arm"]
    monkeypatch.setattr(targets.shutil, "which", lambda name: None)
    assert targets.missing_tool(t, t.toolchain()) == \
        "arm-linux-gnueabihf-gcc not found: install the Debian package gcc-arm-linux-gnueabihf"


def test_kernel_objects():
    assert kernel_objects(["kernel/bpf/arena.c", "include/linux/bpf.h", "kernel/bpf/arena.c",
                                 "tools/testing/selftests/bpf/progs/x.c"]) == ["kernel/bpf/arena.o"]


def test_locale_quotes_do_not_change_identity():
    utf8 = dg.parse("a.c:1:2: error: expected \u2018;\u2019 before \u2018}\u2019 token\n")
    plain = dg.parse("a.c:1:2: error: expected ';' before '}' token\n")
    assert utf8 == plain and utf8[0].message == "expected ';' before '}' token"


def test_paths_relative_to_the_build_dir_are_made_tree_relative():
    (d,) = dg.parse("../../wt/build/kernel/bpf/arena.c:9:1: error: x\n", ["/w/wt/build", "../../wt/build"])
    assert d.file == "kernel/bpf/arena.c"


def test_a_unit_lost_on_the_executor_is_error_cells_never_pass():
    """The executor seam: what a unit answers is the target's cells; a unit whose worker
    was lost (twice, on Ray) is an `error` cell for each of its patches, with the reason."""
    from types import SimpleNamespace as NS

    from arena_patches.core import executor

    class Lost:
        name = "fake"
        prepared = []

        def map(self, fn, units, labels, progress=None):
            assert fn is build._build_unit and [u[3].name for u in units] == ["x86_64", "i386"]
            return [executor.UnitLost(labels[0], "WorkerCrashedError: its worker was lost 2 times"),
                    ([], build.BuildStats(compiler_invocations=7, built_states=2))]

    from arena_patches.core.runner import FakeRunner
    wr = NS(prepare_worktree=lambda name, rev: Lost.prepared.append(name), runner=FakeRunner())
    applied = (NS(version=1, base="b" * 40, patches=(NS(number=1, commit="c" * 40), NS(number=2, commit=None))),)
    cells, stats = build.build_matrix(wr, None, applied, targets.select("x86_64,i386", targets.ORDER),
                                      None, kconfig.resolve(None, ()), executor=Lost())
    assert Lost.prepared == ["build-x86_64", "build-i386"]  # made by the driver, one at a time
    assert [(c.target, c.patch, c.status) for c in cells] == [("x86_64", 1, Status.ERROR), ("x86_64", 2, Status.ERROR)]
    assert "build x86_64: WorkerCrashedError" in cells[0].detail
    assert stats.compiler_invocations == 7 and stats.built_states == 2


# Lines 20-42 of what 6.12's kbuild printed for `make -k --output-sync=target vmlinux`
# (x86_64 tinyconfig + BPF, stderr into stdout), after an unused static was added to
# kernel/bpf/core.c and kernel/bpf/arena.c; the quotes as a UTF-8 locale prints them.
KBUILD_GROUPED = """\
  LDS     arch/x86/kernel/vmlinux.lds
  AR      arch/x86/built-in.a
  CC      kernel/bpf/core.o
../../wt/build/kernel/bpf/core.c:3238:12: warning: \u2018zz_unused_c\u2019 defined but not used [-Wunused-variable]
 3238 | static int zz_unused_c;
      |            ^~~~~~~~~~~
  CC      kernel/bpf/arena.o
../../wt/build/kernel/bpf/arena.c:101:6: warning: no previous prototype for \u2018arena_freed_pages_total\u2019 [-Wmissing-prototypes]
  101 | long arena_freed_pages_total(struct bpf_arena *arena)
      |      ^~~~~~~~~~~~~~~~~~~~~~~
../../wt/build/kernel/bpf/arena.c: In function \u2018arena_free_pages\u2019:
../../wt/build/kernel/bpf/arena.c:539:14: warning: unused variable \u2018freed\u2019 [-Wunused-variable]
  539 |         long freed;
      |              ^~~~~
../../wt/build/kernel/bpf/arena.c: At top level:
../../wt/build/kernel/bpf/arena.c:622:12: warning: \u2018zz_unused_a\u2019 defined but not used [-Wunused-variable]
  622 | static int zz_unused_a;
      |            ^~~~~~~~~~~
  AR      kernel/bpf/built-in.a
  AR      kernel/built-in.a
"""


def test_each_compile_is_heard_by_its_object_in_a_grouped_make_log():
    heard = dg.by_object(KBUILD_GROUPED, ["../../wt/build"])
    assert list(heard) == ["kernel/bpf/core.o", "kernel/bpf/arena.o"]  # only compiles: no AR, no LDS
    assert [(d.file, d.message, d.flag) for d in heard["kernel/bpf/core.o"]] == \
        [("kernel/bpf/core.c", "'zz_unused_c' defined but not used", "-Wunused-variable")]
    assert [d.line for d in heard["kernel/bpf/arena.o"]] == [101, 539, 622]
    # the block ends at the next step of another file; the object's own steps keep it
    tail = "  CHECK   kernel/bpf/arena.c\nkernel/bpf/arena.c:7:1: warning: sparse says [-Wx]\n" \
           "  AR      kernel/bpf/built-in.a\nkernel/bpf/x.c:1:1: warning: not arena's\n"
    more = dg.by_object("  CC      kernel/bpf/arena.o\n" + tail, [])
    assert [d.message for d in more["kernel/bpf/arena.o"]] == ["sparse says"]
    assert dg.by_object("  CC [M]  drivers/x.o\nx.c:1:1: error: no\n", [])["drivers/x.o"][0].message == "no"


def test_a_states_diagnostics_do_not_depend_on_which_compile_ended_first():
    """Found on a fresh machine: the same failing state built twice listed its two errors
    in two orders (make -j2 -O prints a recipe's block when it ends), and the cells differed."""
    from arena_patches.kbuild import state
    log = ("  CC      kernel/bpf/stackmap.o\n"
           "kernel/bpf/stackmap.c:13:10: fatal error: mmap_unlock_work.h: No such file or directory\n"
           "  CC      kernel/bpf/task_iter.o\n"
           "kernel/bpf/task_iter.c:15:10: fatal error: mmap_unlock_work.h: No such file or directory\n")
    lines = log.splitlines(keepends=True)
    other = "".join(lines[2:] + lines[:2])  # task_iter.c's block ended first
    assert state._dedupe(dg.parse(log)) == state._dedupe(dg.parse(other))
    assert [d.file for d in state._dedupe(dg.parse(other))] == ["kernel/bpf/stackmap.c", "kernel/bpf/task_iter.c"]
