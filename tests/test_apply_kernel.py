"""Apply on the real 6.12 kernel, imported from Debian's tarball by the tool itself."""
import pytest

from arena_patches.demo import prepare as demo
from arena_patches.demo import mkseries
from arena_patches.verify import stages
from arena_patches.mail import spec as spec_mod
from arena_patches.tree import repo as tree_mod, tarball
from arena_patches.tree.base import BaseRule
from arena_patches.core.verdicts import ApplyStatus
from tests import gittree
from tests.kernel import kernel_tree, work_dir

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def kernel():
    return kernel_tree()


def test_import_is_one_commit_of_the_real_kernel(kernel):
    log = gittree.run(kernel, "log", "--format=%s")
    assert log.splitlines() == [log.splitlines()[0]] and log.startswith("Linux 6.12.")
    assert "arena.o" in (kernel / "kernel/bpf/Makefile").read_text()
    # idempotent: importing again changes nothing
    sha, created, _ = tarball.import_tarball(demo.TARBALL, kernel)
    assert not created and sha == gittree.run(kernel, "rev-parse", "HEAD").strip()


def test_demo_series_applies_patch_by_patch(kernel, tmp_path):
    (kernel / "scratch-untracked.txt").write_text("the user's own file\n")
    try:
        before = gittree.snapshot(kernel)
        src = tmp_path / "mails"
        mkseries.write(kernel, "HEAD", demo.TITLE, demo.versions(), src, tag="demo")
        s = stages.load_series(spec_mod.load(str(demo.SPEC)), str(src))
        with tree_mod.work_repo(tree_mod.open_user_tree(kernel), work_dir()) as wr:
            res = stages.apply_series(s, wr, [1, 2, 3])
            v2_files = gittree.run(wr.repo, "diff", "--name-only", res[1].base, res[1].head)
        after = gittree.snapshot(kernel)
    finally:
        (kernel / "scratch-untracked.txt").unlink()
    assert after == before
    got = {r.version: [p.status.value for p in r.patches] for r in res}
    assert got == {1: ["applied"] * 4, 2: ["applied"] * 4,
                   3: ["applied", "conflict", "skipped", "skipped"]}
    assert [r.base_rule for r in res] == [BaseRule.BLOB_GUESS, BaseRule.BASE_COMMIT, BaseRule.BLOB_GUESS]
    assert sorted(v2_files.split()) == ["kernel/bpf/arena.c", "kernel/bpf/arena.h",
                                        "kernel/bpf/core.c", "kernel/bpf/verifier.c"]
    v3 = res[2].patches
    assert v3[1].conflicts[0].file == "kernel/bpf/arena.c"
    assert "missing from the source" in v3[2].detail


def test_real_mails_say_base_missing_not_conflict(kernel, tmp_path, lore_dir):
    s = stages.load_series(spec_mod.load(), str(lore_dir))
    with tree_mod.work_repo(tree_mod.open_user_tree(kernel), work_dir()) as wr:
        res = stages.apply_series(s, wr, [2, 6])
    for r in res:
        # per file: 6.12 holds the selftests' pre-images but not arena.c's (HEAD is that commit)
        assert r.base_rule is BaseRule.BLOB_GUESS and "2 of 7 pre-image blobs are here" in r.base_detail
        assert "not in any commit: " in r.base_detail and "kernel/bpf/arena.c" in r.base_detail
        assert r.patches[0].status is ApplyStatus.BASE_MISSING
        assert all(p.status is ApplyStatus.SKIPPED for p in r.patches[1:])
    assert "kernel/bpf/arena.c 1074ac4459f2" in res[0].patches[0].detail
    assert "kernel/bpf/arena.c 872dc0e41c65" in res[1].patches[0].detail
