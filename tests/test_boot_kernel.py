"""Boot the real 6.12 kernel, built by the tool, in QEMU on x86_64 and i386, and ask it
through the probe: the arena map works on 64-bit, a sleepable program may call the arena
kfuncs, a non-sleepable one is refused by the verifier for sleepability; on i386 there is
no arena map type. arm64 boots in test_kernel7.py, on the tree after the series (each
boot kernel is a cold build of several minutes on a fresh machine: the suite boots each
target once, on the tree where its answer says the most)."""
import pytest

from arena_patches.mail import spec as spec_mod
from arena_patches.kbuild import targets
from arena_patches.tree import repo as tree_mod
from arena_patches.boot import stage
from arena_patches.core.verdicts import Status
from tests.kernel import kernel_tree, work_dir

pytestmark = pytest.mark.integration


def booted(arch: str):
    """One target booted (one test each: the suite's timings show each boot's cost)."""
    kernel = kernel_tree()
    spec = spec_mod.load()
    with tree_mod.work_repo(tree_mod.open_user_tree(kernel), work_dir()) as wr:
        head = wr.resolve("HEAD")
        (r,) = stage.boot_targets(wr, spec, targets.select(arch), None, head, "before", None, None, 2)
    return r


def test_64bit_arena_and_sleepability():
    r = booted("x86_64")
    assert r.status is Status.PASS, (r.detail, r.console_tail)
    assert r.probe["arena_map"] == "ok"
    assert r.probe["sleepable_kfunc"] == "ok"
    assert r.probe["nonsleepable_kfunc"] == "rejected"
    assert "program must be sleepable to call sleepable kfunc bpf_arena_alloc_pages" in r.probe["verifier_log"]
    assert r.probe["big_alloc"] == "ok"
    assert r.findings == ()
    assert (r.booted and r.boot_seconds > 0) or r.boot_cached  # a re-run answers from the boot cache
    # QEMU as it ran: inside the sandbox (bwrap ... -- qemu-system-...)
    assert r.sandbox == "bwrap" and r.reproduce.startswith("bwrap ") and " -- qemu-system-" in r.reproduce


def test_i386_has_no_arena_map():
    r = booted("i386")
    assert r.status is Status.PASS, (r.detail, r.console_tail)
    assert r.probe["arena_map"] == "unsupported"
    assert r.probe["sleepable_kfunc"] is None  # nothing to call without an arena
