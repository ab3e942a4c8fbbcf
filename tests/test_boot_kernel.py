"""Boot the real 6.12 kernel, built by the tool, in QEMU on x86_64, arm64 and i386, and
ask it through the probe: the arena map works on 64-bit, a sleepable program may call the
arena kfuncs, a non-sleepable one is refused by the verifier for sleepability; on i386
there is no arena map type."""
import pytest

from arena_patches.mail import spec as spec_mod
from arena_patches.kbuild import targets
from arena_patches.tree import repo as tree_mod
from arena_patches.boot import stage
from arena_patches.core.verdicts import Status
from tests.kernel import kernel_tree, work_dir

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def booted():
    kernel = kernel_tree()
    spec = spec_mod.load()
    with tree_mod.work_repo(tree_mod.open_user_tree(kernel), work_dir()) as wr:
        head = wr.resolve("HEAD")
        return {r.target: r for r in stage.boot_targets(
            wr, spec, targets.select("x86_64,arm64,i386"), None, head, "before", None, None, 2)}


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_64bit_arena_and_sleepability(booted, arch):
    r = booted[arch]
    assert r.status is Status.PASS, (r.detail, r.console_tail)
    assert r.probe["arena_map"] == "ok"
    assert r.probe["sleepable_kfunc"] == "ok"
    assert r.probe["nonsleepable_kfunc"] == "rejected"
    assert "program must be sleepable to call sleepable kfunc bpf_arena_alloc_pages" in r.probe["verifier_log"]
    assert r.probe["big_alloc"] == "ok"
    assert r.findings == () and r.boot_seconds > 0
    # QEMU as it ran: inside the sandbox (bwrap ... -- qemu-system-...)
    assert r.sandbox == "bwrap" and r.reproduce.startswith("bwrap ") and " -- qemu-system-" in r.reproduce


def test_i386_has_no_arena_map(booted):
    r = booted["i386"]
    assert r.status is Status.PASS, (r.detail, r.console_tail)
    assert r.probe["arena_map"] == "unsupported"
    assert r.probe["sleepable_kfunc"] is None  # nothing to call without an arena
