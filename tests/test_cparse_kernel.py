"""The C layer on the whole kernel: every real .c file of kernel/, mm/ and net/core/ of the
7.x and 6.12 trees parses (these files compile: a "does not parse" is a false alarm);
deleted `;`, `}` and `)` in a seeded sample of real functions are caught; the lock analysis
runs on every function of 7.x's kernel/bpf without an approximation and finds no leak in
that correct code (lock helpers are said to be helpers)."""
import os
from pathlib import Path

import pytest

from arena_patches.tree import repo as tree_mod
from arena_patches.invariants import cparse, deletions, locks, mutants, rules
from arena_patches.invariants.sources import CommitFiles
from arena_patches.core.verdicts import Status
from tests.kernel import TEST_CACHE, kernel_tree, kernel_tree_7

pytestmark = pytest.mark.integration
SWEPT = ("kernel", "mm", "net/core")


def commit_files(kernel, swept=SWEPT):
    # a work dir of its own: reading blobs needs no worktree, and builds may hold the other
    with tree_mod.work_repo(tree_mod.open_user_tree(kernel), Path(os.environ.get("ARENA_PATCHES_TEST_WORK") or TEST_CACHE) / "work-c") as wr:
        files = CommitFiles(wr, wr.resolve("HEAD"), wr.root / "dialects")
        names = [p for p in files._ls(*(d + "/" for d in swept)) if p.endswith(".c")
                 and (swept == SWEPT or p.split("/")[2] in ("kernel", "mm"))]
        texts = dict(zip(names, files._cat(names)))
        files.dialect()
        return files, texts


@pytest.fixture(scope="module")
def tree7():
    return commit_files(kernel_tree_7())


@pytest.mark.parametrize("which", ["7.x", "6.12"])
def test_no_false_does_not_parse(which, tree7):
    files, texts = tree7 if which == "7.x" else commit_files(kernel_tree())
    assert len(texts) > 600
    failed = {}
    for path, text in texts.items():
        errs = cparse.parse(text, path, files.dialect_for(path)).parse_errors()
        if errs:
            failed[path] = errs[:2]
    assert failed == {}


def test_every_arch_kernel_and_mm_under_one_percent():
    """arch/*/kernel and arch/*/mm of every architecture: inline asm, bit-fields, headers
    under #ifdef; what is left (under 1 %) is listed in README."""
    files, texts = commit_files(kernel_tree_7(), ("arch",))
    assert len(texts) > 1500
    failed = [p for p, t in texts.items() if cparse.parse(t, p, files.dialect_for(p)).parse_errors()]
    print(f"arch: {len(failed)} of {len(texts)} do not parse: {sorted(failed)}")
    assert len(failed) / len(texts) < 0.01, failed


def test_deleted_characters_are_caught(tree7):
    files, texts = tree7
    small = sorted((p, t) for p, t in texts.items() if t.count("\n") < 2500)
    sample = mutants.sample(small[::2], files.dialect_for, 300, seed=3)
    got = mutants.rates(sample)
    assert all(tried == 300 for _, tried in got.values()), got
    assert got[";"][0] / 300 >= 0.97, got
    assert got["}"][0] / 300 >= 0.99, got
    assert got[")"][0] / 300 >= 0.97, got


def test_deleted_semicolons_and_braces_anywhere_are_caught(tree7):
    """deletions.py's own seeder (not mutants.py): any `;` or `}` of code, file scope too,
    whose loss is a compile error (the seeder's rules agree with gcc, README)."""
    files, texts = tree7
    small = sorted((p, t) for p, t in texts.items() if t.count("\n") < 2500)
    got = deletions.rates(deletions.sample(small, files.dialect_for, 150, seed=5))
    missed = {k: v for k, v in got.items() if v[0] < v[1]}
    print(f"deletions (seed 5): {got}")
    assert got[(";", "all")][1] == got[("}", "all")][1] == 150
    assert len({s for k, s in got if s != "all"}) >= 12, got  # returns, calls, members, bodies...
    # issue 26: 97 %; measured 98-100 % (seeds 5, 21, 33); what still slips (README): a
    # statement in an #if branch not judged, `return;` before a call (a void value returned)
    assert got[(";", "all")][0] / 150 >= 0.97, missed
    assert got[("}", "all")][0] / 150 >= 0.99, missed


def test_lock_analysis_on_every_function_of_kernel_bpf(tree7):
    files, texts = tree7
    judged, helpers, bad = 0, [], {}
    for path, text in texts.items():
        if not path.startswith("kernel/bpf/"):
            continue
        d = files.dialect_for(path)
        cf = cparse.parse(text, path, d)
        for name in cf.functions:
            a = locks.analyse(cf, name)
            assert a.approximations == [], (path, name, a.approximations)
            if not a.acquired:
                continue
            judged += 1
            v = rules.evaluate(rules.Rule("t", "lock-balanced", path, "", None, None, name, {}), text, d)
            if v.status is not Status.PASS:
                bad[f"{path}:{name}"] = v.detail
            elif v.detail.startswith("a lock helper"):
                helpers.append(name)
    print(f"lock-balanced judged {judged} functions of kernel/bpf, helpers: {sorted(helpers)}")
    assert judged > 150 and bad == {}
    assert {"htab_lock_bucket", "trampoline_lock"} <= set(helpers)
