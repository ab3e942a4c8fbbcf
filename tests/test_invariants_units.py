"""Invariant verdicts on C fixtures that mimic the series' bugs, and on 6.12's arena.c."""
from pathlib import Path

from arena_patches.invariants import cparse, locks, rules
from arena_patches.core.verdicts import Status

FIX = Path(__file__).parent / "fixtures" / "c"
LOCKING = (FIX / "locking.c").read_text()

def verdict(kind, function=None, text=LOCKING, **args):
    r = rules.Rule("t", kind, "x.c", "", None, None, function, args)
    return rules.evaluate(r, text)

def test_fixture_parses_with_kernel_macros():
    cf = cparse.parse(LOCKING)
    assert cf.parse_errors() == []
    assert {"fault_with_guard", "scoped_and_trylock", "map_alloc"} <= set(cf.functions)

def test_missing_semicolon_is_caught_without_a_compiler():
    v = verdict("parses", text=(FIX / "missing_semicolon.c").read_text())
    assert v.status is Status.FAIL and "arena_alloc_pages() line 11" in v.detail
    assert verdict("parses").status is Status.PASS

def test_conditional_lock_leaked_on_one_path():
    v = verdict("lock-balanced", "free_pages_leaky", lock=r"arena->spinlock")
    assert v.status is Status.FAIL and "still held at the return on line 16" in v.detail
    assert verdict("lock-balanced", "free_pages_balanced", lock=r"arena->spinlock").status is Status.PASS
    assert verdict("acquires", "free_pages_balanced", lock=r"arena->spinlock").status is Status.PASS
    assert verdict("not-acquires", "free_pages_balanced", lock=r"arena->lock").status is Status.PASS

def test_double_unlock_on_error_paths():
    v = verdict("no-double-unlock", "alloc_pages_double_unlock")
    assert v.status is Status.FAIL and "arena->lock released at line 58" in v.detail
    assert verdict("no-double-unlock", "free_pages_balanced").status is Status.PASS

def test_call_order_broken_on_one_branch():
    v = verdict("called-after", "map_pages_no_flush", first="apply_to_page_range",
                then="flush_cache_vmap|flush_vmap_cache")
    assert v.status is Status.FAIL and "leaving at line 69" in v.detail
    assert verdict("called-after", "map_pages_flushed", first="apply_to_page_range",
                   then="flush_cache_vmap").status is Status.PASS

def test_guards_iterators_and_calls_under_lock():
    assert verdict("call-under-lock", "fault_with_guard", callee="page_ref_add",
                   lock=r"arena->lock").status is Status.PASS
    assert verdict("lock-balanced", "fault_with_guard").status is Status.PASS  # guard() releases
    v = verdict("call-under-lock", "fault_ref_outside_lock", callee="page_ref_add", lock="arena->spinlock")
    assert v.status is Status.FAIL and "page_ref_add() at line 111" in v.detail
    assert verdict("lock-balanced", "scoped_and_trylock").status is Status.PASS
    a = locks.analyse(cparse.parse(LOCKING), "scoped_and_trylock")
    (touch_in_scope, touch_after_try) = [c for c in a.calls if c.name == "touch"]
    assert all(s.all_held == {"arena->lock"} for s in touch_in_scope.states)
    assert all(s.all_held == {"arena->other"} for s in touch_after_try.states)

def test_btf_flags_includes_error_paths_and_regex():
    assert verdict("btf-flag", "bpf_arena_.*", flag="KF_SLEEPABLE", present=False).detail == \
        "bpf_arena_alloc_pages has KF_SLEEPABLE"
    assert verdict("btf-flag", "bpf_arena_free_pages", flag="KF_SLEEPABLE", present=False).status is Status.PASS
    assert verdict("include", header="linux/llist.h").status is Status.PASS
    assert verdict("include", header="asm/tlbflush.h").status is Status.FAIL
    v = verdict("error-path-calls", "map_alloc", after="populate_pgtable_except_pte",
                callees=["range_tree_destroy", "bpf_map_area_free"])
    assert v.status is Status.PASS, v.detail
    v = verdict("error-path-calls", "map_alloc", after="range_tree_set",
                callees=["range_tree_destroy", "bpf_map_area_free"])
    assert v.status is Status.FAIL and "range_tree_destroy" in v.detail
    assert verdict("regex", "map_alloc", pattern=r"NUMA_NO_NODE").status is Status.PASS
    assert verdict("calls", "nope", callee="x").status is Status.SKIP
    assert rules.evaluate(rules.Rule("t", "parses", "gone.c", "", None, None), None).status is Status.SKIP

def test_real_6_12_arena_c():
    from tests.kernel import kernel_tree
    text = (kernel_tree() / "kernel/bpf/arena.c").read_text()
    cf = cparse.parse(text)
    assert cf.parse_errors() == [] and len(cf.functions) >= 30
    # 6.12 locks the arena with a mutex guard in alloc, free and fault
    for fn in ("arena_alloc_pages", "arena_free_pages", "arena_vm_fault"):
        a = locks.analyse(cf, fn)
        assert {l for l, _ in a.acquired} == {"arena->lock"}, fn
        assert a.double_unlocks == []
        assert all(s.held == frozenset() for _, _, st in a.exits for s in st)  # the guard does it
        in_scope = [st for ln, how, st in a.exits if how == "return" and any(s.guards for s in st)]
        assert bool(in_scope) == (fn != "arena_free_pages"), fn  # free returns only before it
    free = locks.analyse(cf, "arena_free_pages")
    assert all("arena->lock" in h for _, hs in free.held_at_calls("vm_area_unmap_pages") for h in hs)
    assert cf.btf_flags()["bpf_arena_alloc_pages"] == {"KF_TRUSTED_ARGS", "KF_SLEEPABLE"}


PATHS = (FIX / "paths.c").read_text()
FLUSH = dict(first="apply_to_page_range", then="flush_cache_vmap|flush_vmap_cache")


def test_a_guard_computed_from_the_first_call_waives_the_second_only_where_it_is_zero():
    v = verdict("called-after", "alloc_guarded", text=PATHS, **FLUSH)
    assert v.status is Status.PASS and "where mapped, computed from what apply_to_page_range" in v.detail
    # the error path did map (mapped += data.i) and never flushes: still a failure, path named
    v = verdict("called-after", "alloc_error_path_unflushed", text=PATHS, **FLUSH)
    assert v.status is Status.FAIL and "leaving at line 50 (return)" in v.detail
    # a condition unrelated to what the first call produced waives nothing
    v = verdict("called-after", "alloc_guard_unrelated", text=PATHS, **FLUSH)
    assert v.status is Status.FAIL and "line 61" in v.detail
    # a guard the rule names itself
    assert verdict("called-after", "alloc_guard_unrelated", text=PATHS, guard="debug",
                   **FLUSH).status is Status.PASS


def test_correlated_conditions_and_their_invalidation():
    assert verdict("lock-balanced", "lookup_correlated", text=PATHS).status is Status.PASS
    v = verdict("lock-balanced", "lookup_changed_between", text=PATHS)
    assert v.status is Status.FAIL and "map->lock still held at the return on line 91" in v.detail


def test_lock_helpers_are_reported_as_helpers_and_followed_in_callers():
    v = verdict("lock-balanced", "bucket_lock", text=PATHS)
    assert v.status is Status.PASS and v.detail.startswith("a lock helper (named as a lock helper)")
    assert verdict("lock-balanced", "update_balanced", text=PATHS).status is Status.PASS
    v = verdict("lock-balanced", "update_leaky", text=PATHS)
    assert v.status is Status.FAIL and "t->buckets[i].lock still held at the return on line 116" in v.detail


def test_backward_gotos_are_walked_to_a_fixpoint():
    a = locks.analyse(cparse.parse(PATHS), "next_id_balanced")
    assert a.approximations == []
    assert verdict("lock-balanced", "next_id_balanced", text=PATHS).status is Status.PASS
    # taking the lock again on the loop: the walk sees it held at `again:` a second time
    v = verdict("no-double-unlock", "next_id_leaky", text=PATHS)
    assert v.status is Status.PASS
    a = locks.analyse(cparse.parse(PATHS), "next_id_leaky")
    takes = [ln for lock, ln in a.acquired if lock == "idr_lock"]
    assert takes and all(s.held == {"idr_lock"} for c in a.calls if c.name == "idr_get_next" for s in c.states)


def test_verdicts_read_history():
    from arena_patches.invariants.evaluate import Cell, _verdict
    P, F, S = Status.PASS, Status.FAIL, Status.SKIP

    def v(claimed, states, patch=1):
        rule = rules.Rule("r", "parses", "x.c", "", claimed, patch)
        return _verdict(rule, [Cell(n, patch, st, "") for n, st in enumerate(states, 1)])
    # "Add a missing ;" claimed in v6: v1-v4 parsed, v5 broke, v6 fixed: as claimed
    assert v(6, [P, P, P, P, F, P, P, P]) == (6, "as-claimed", "pass v1-v4, fail v5, pass v6-v8 "
                                              "(broken in v5 only, fixed in v6)")
    # the double unlock: v2 broke it, v3 fixed it, claimed in v3
    assert v(3, [P, F, P])[:2] == (3, "as-claimed")
    assert v(3, [F, F, F, F])[:2] == (None, "never")
    assert v(3, [F, F, P, F])[:2] == (None, "regressed")
    assert v(3, [F, F, P, P, F])[:2] == (None, "regressed")  # held at the claim, the newest fails
    assert v(3, [F, P, P])[:2] == (2, "earlier") and v(3, [F, F, F, P])[:2] == (4, "later")
    assert v(3, [F, S, S, P])[:2] == (4, "as-claimed")  # nothing judged between says otherwise
    assert v(8, [S, F, F, F, F, F])[1] == "n/a"  # the claimed v8 is not in the source
    assert "not judged at or after the claimed v8" in v(8, [S, F, F])[2]


def test_the_compilers_reading_decides_parses_and_says_so():
    """Where the build compiled the file, `parses` is the compiler's word: a syntax error
    fails even when tree-sitter reads the file, a file tree-sitter cannot read but the
    compiler built passes; semantic errors (undeclared names) are not parse errors."""
    from types import SimpleNamespace as NS

    from arena_patches.kbuild.diagnostics import Diagnostic
    from arena_patches.invariants import compiled
    series = NS(versions=[NS(version=1, patches=[NS(paths=("kernel/bpf/arena.c", "include/x.h"))])])
    syntax = Diagnostic("kernel/bpf/arena.c", 11, 2, "error", "expected ';' before 'return'")
    undeclared = Diagnostic("kernel/bpf/arena.c", 9, 2, "error",
                            "implicit declaration of function 'flush_tlb_kernel_range'")

    def cell(commit, status, target="x86_64", errors=(), not_built=()):
        return NS(commit=commit, version=1, patch=1, status=status, target=target, toolchain="gcc",
                  errors=errors, inherited=(), not_built=not_built)
    read = compiled.readings([
        cell("a", Status.FAIL, errors=(syntax,)), cell("a", Status.PASS, "i386"),
        cell("b", Status.FAIL, "loongarch64", errors=(undeclared,)),
        cell("c", Status.PASS, not_built=("kernel/bpf/arena.c",)),
        cell("d", Status.FAIL), cell("e", Status.SKIP)], series)
    assert not read[("a", "kernel/bpf/arena.c")].parses  # one target's syntax error wins
    assert read[("b", "kernel/bpf/arena.c")].parses
    assert set(read) == {("a", "kernel/bpf/arena.c"), ("b", "kernel/bpf/arena.c")}
    rule = rules.Rule("p", "parses", "kernel/bpf/arena.c", "", None, None)
    broken = (FIX / "missing_semicolon.c").read_text()
    v = rules.evaluate(rule, LOCKING, None, read[("a", "kernel/bpf/arena.c")])
    assert v.status is Status.FAIL and "judged by the compiler: gcc for x86_64" in v.detail \
        and "expected ';'" in v.detail and "tree-sitter-c read it without error" in v.detail
    v = rules.evaluate(rule, broken, None, rules.CompilerReading(True, "gcc for x86_64, v1 1 compiled it"))
    assert v.status is Status.PASS and "tree-sitter-c read it differently: arena_alloc_pages() line 11" in v.detail
    assert "judged by the compiler" not in rules.evaluate(rule, broken).detail
