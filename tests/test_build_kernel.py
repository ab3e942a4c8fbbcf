"""The build matrix on the real 6.12 kernel with real cross compilers: every failure class
of the demo series is found on exactly the patch and target that cause it, and nothing
else. The second run goes through `--executor ray` (a local Ray instance, 2 CPUs: one
unit per target in Ray workers, in worktrees and O= dirs of their own) and is served
entirely from the result cache the local run wrote (counted in compiler invocations):
the same cache entries, the same grid and diagnostics."""
import pytest

from arena_patches.core import executor
from arena_patches.verify import stages
from arena_patches.invariants import compiled, evaluate, rules
from arena_patches.core.verdicts import Status
from tests.kernel import demo_on_kernel, fresh_build_cache, work_dir

pytestmark = pytest.mark.integration
TARGETS = "x86_64,i386,loongarch64"


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    fresh_build_cache(work_dir())
    with demo_on_kernel(tmp_path_factory.mktemp("mails")) as (_, spec, s, wr, applied):
        first = stages.build_series(spec, s, wr, applied, TARGETS, None, None, 2, False)
        ray = pytest.importorskip("ray")
        try:
            second = stages.build_series(spec, s, wr, applied, TARGETS, None, None, 2, False,
                                           executor=executor.RayExecutor(num_cpus=2))
        finally:
            ray.shutdown()
        parses = [r for r in rules.from_spec(spec.raw, spec.path) if r.kind == "parses"]
        judged = evaluate.over_versions(wr, parses, applied, compiled.readings(first[0], s))
    return spec, first, second, (s, applied, judged)


def cells_by(cells):
    return {(c.version, c.patch, c.target): c for c in cells}


def test_grid_matches_what_each_patch_does(matrix):
    spec, (cells, _), _, _ = matrix
    expect = spec.raw["expect"]["build"]
    got = {f"v{v}": {t: [cells_by(cells)[(v, k, t)].word for k in range(1, 5)]
                     for t in TARGETS.split(",")} for v in (1, 2, 3)}
    assert got == expect


def test_each_failure_has_the_compilers_words_and_only_there(matrix):
    _, (cells, _), _, _ = matrix
    c = cells_by(cells)
    missing_semicolon = c[(1, 1, "x86_64")].errors
    assert [(d.file, d.severity) for d in missing_semicolon][:1] == [("kernel/bpf/arena.c", "error")]
    assert "expected ';'" in missing_semicolon[0].message
    link = c[(1, 2, "i386")].errors
    assert any("undefined reference to `bpf_arena_nr_pages'" in d.message for d in link)
    assert c[(1, 2, "i386")].not_built == ("kernel/bpf/arena.c",)  # the 32-bit trap
    assert c[(1, 3, "i386")].errors == () and c[(1, 3, "i386")].inherited  # introduces nothing
    tlb = c[(1, 4, "loongarch64")].errors
    assert any("flush_tlb_kernel_range" in d.message for d in tlb)
    assert c[(1, 4, "x86_64")].status is Status.PASS
    for target in ("x86_64", "loongarch64"):
        # the unused variable, and the checks' plant (a non-static function declared
        # nowhere): since 6.8 the kernel builds with -Wmissing-prototypes, gcc and clang alike
        said = {w.flag: (w.file, w.message) for w in c[(1, 3, target)].new_warnings}
        assert set(said) == {"-Wunused-variable", "-Wmissing-prototypes"}, said
        assert said["-Wunused-variable"][0] == said["-Wmissing-prototypes"][0] == "kernel/bpf/arena.c"
        assert "freed" in said["-Wunused-variable"][1]
        assert "arena_freed_pages_total" in said["-Wmissing-prototypes"][1]
    # nothing else: no other cell introduces an error or a warning
    planted = {(1, 1, "x86_64"), (1, 1, "loongarch64"), (1, 2, "i386"), (1, 4, "loongarch64"),
               (1, 3, "x86_64"), (1, 3, "loongarch64")}
    for key, cell in c.items():
        if key not in planted:
            assert cell.errors == () and cell.new_warnings == (), key
    assert "make -C" in c[(1, 1, "x86_64")].reproduce and "ARCH=x86_64" in c[(1, 1, "x86_64")].reproduce


def test_second_run_is_served_from_the_cache(matrix):
    _, (cells, first), (again, second), _ = matrix
    assert first.compiler_invocations > 0 and first.built_states > 0
    assert second.compiler_invocations == 0 and second.built_states == 0
    assert second.cached_results == first.cached_results + first.built_states
    assert [(x.status, x.errors, x.new_warnings, x.detail) for x in again] == \
        [(x.status, x.errors, x.new_warnings, x.detail) for x in cells]
    assert all("/wt/build-" in x.reproduce for x in again if x.reproduce)  # the Ray unit's own worktree
    assert all(x.cached for x in again if x.commit and x.status is not Status.SKIP)


def test_the_compiler_judges_parses_where_it_compiled_the_file(matrix):
    """The build's own diagnostics are the second opinion on `parses`: the missing `;` of
    v1 1/4 is a syntax error, loongarch's undeclared flush_tlb_kernel_range (v1 4/4) is
    not (the compiler read the file), and every verdict says who judged it."""
    _, (cells, _), _, (s, applied, judged) = matrix
    read = compiled.readings(cells, s)
    commit = {(r.version, p.number): p.commit for r in applied for p in r.patches}
    v1p1 = read[(commit[(1, 1)], "kernel/bpf/arena.c")]
    assert not v1p1.parses and "expected ';'" in v1p1.how
    assert read[(commit[(1, 4)], "kernel/bpf/arena.c")].parses
    loongarch = compiled.readings([c for c in cells if c.target == "loongarch64"], s)
    v1p4 = loongarch[(commit[(1, 4)], "kernel/bpf/arena.c")]
    assert v1p4.parses and "loongarch64" in v1p4.how and "not syntax errors" in v1p4.how
    assert read[(commit[(2, 1)], "kernel/bpf/arena.c")].parses
    (res,) = judged
    by = {(c.version, c.patch): c for c in res.cells}
    assert by[(1, 1)].status is Status.FAIL and "judged by the compiler" in by[(1, 1)].detail
    assert by[(2, 1)].status is Status.PASS and "judged by the compiler" in by[(2, 1)].detail


def test_a_cells_reproducer_pasted_into_a_shell_gives_the_same_error(matrix):
    """The reproducer is the build as it ran (checkout, then make under the same
    environment): pasted into bash, it prints the compiler's own error for v1 1/4."""
    import subprocess
    _, (cells, _), _, _ = matrix
    c = cells_by(cells)[(1, 1, "x86_64")]
    assert " env " in c.reproduce and "CCACHE_BASEDIR=" in c.reproduce and "LC_ALL=C" in c.reproduce
    r = subprocess.run(["bash", "-c", c.reproduce], capture_output=True, text=True, timeout=1800)
    assert r.returncode != 0
    assert "arena.c" in r.stderr and c.errors[0].message in r.stderr, r.stderr[-2000:]
