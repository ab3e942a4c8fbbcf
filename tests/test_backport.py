"""Backport: a generated two-tree setup names the commit that introduced a helper; the
real v6 carried onto the 6.12 kernel names the missing APIs and classifies every hunk."""
import json

import pytest

from arena_patches.tree import backport
from arena_patches import cli
from arena_patches.demo import mkseries
from arena_patches.verify import stages
from arena_patches.mail import spec as spec_mod
from arena_patches.tree import repo as tree_mod
from arena_patches.demo.mkseries import Edit, PatchSpec, VersionSpec
from tests import fakelinux, gittree


def test_two_trees_name_the_introducing_commit(tmp_path, capsys):
    stable = gittree.make(tmp_path / "stable", {
        "lib/demo.c": "int demo(void)\n{\n\treturn 0;\n}\n", "include/demo.h": "int demo(void);\n",
        "lib/gone.c": "static int old(void)\n{\n\treturn 1;\n}\n"})
    upstream = tmp_path / "upstream"
    gittree.run(tmp_path, "clone", "-q", str(stable), str(upstream))
    (upstream / "include/demo.h").write_text("int demo(void);\nint foo_helper(int x);\n#define FOO_LIMIT 8\n")
    (upstream / "lib/helper.c").write_text("int foo_helper(int x)\n{\n\treturn x;\n}\n")
    gittree.run(upstream, "add", "-A")
    gittree.run(upstream, "commit", "-q", "-m", "lib: introduce foo_helper()")
    intro = gittree.run(upstream, "rev-parse", "HEAD").strip()
    (upstream / "lib/demo.c").write_text("int demo(void)\n{\n\t/* moved */\n\treturn 0;\n}\n")
    gittree.run(upstream, "commit", "-q", "-am", "lib: drift")
    uses = PatchSpec("lib: use foo_helper", "Use it.", (
        Edit("lib/demo.c", "\treturn 0;\n", "\treturn foo_helper(FOO_LIMIT);\n"),))
    gone = PatchSpec("lib: touch a file stable lacks", "x", (
        Edit("lib/new_in_upstream.c", "", "int x;\n"),))
    src = tmp_path / "m"
    mkseries.write(upstream, "HEAD", "lib: helper series", [VersionSpec(1, (uses, gone))], src, tag="bp")
    spec = tmp_path / "s.toml"
    spec.write_text('[series]\ntitle = "lib: helper series"\n')
    rc = cli.main(["backport", "--spec", str(spec), "--source", str(src), "--to", str(stable),
                   "--upstream", str(upstream), "--work-dir", str(tmp_path / "w"), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 1 and doc["version"] == 1
    p1 = doc["patches"][0]
    assert p1["status"] == "conflict"
    assert [(h["file"], h["status"], h["class"]) for h in p1["hunks"]] == [("lib/demo.c", "failed", "context-drift")]
    missing = {m["identifier"]: m for m in p1["missing"]}
    assert missing["foo_helper"] == {"identifier": "foo_helper", "kind": "function", "defined_upstream": intro}
    assert missing["FOO_LIMIT"]["kind"] == "macro" and missing["FOO_LIMIT"]["defined_upstream"] == intro
    assert "demo" not in missing
    assert doc["patches"][1]["status"] == "skipped"


def test_identifiers_of_added_lines():
    from arena_patches.core.model import FileStat, Patch, Person
    diff = ("diff --git a/k/a.c b/k/a.c\n--- a/k/a.c\n+++ b/k/a.c\n@@ -1,1 +1,6 @@\n x\n"
            "+static int newfn(struct arena *a)\n+{\n+\tif (IS_ENABLED(CONFIG_MMU))\n"
            "+\t\treturn raw_res_spin_lock(&a->spinlock); /* kmalloc_nolock() */\n+}\n")
    p = Patch(1, 1, "m", "s", Person("a", "b"), "", 0.0, "", (), diff,
              (FileStat("k/a.c", 5, 0, "modified"),), (), "test")
    got = backport.used_identifiers(p)
    assert got["raw_res_spin_lock"] == "function" and got["spinlock"] == "field"
    assert got["arena"] == "type" and got["MMU"] == "kconfig" and got["IS_ENABLED"] == "macro"
    assert "newfn" not in got and "kmalloc_nolock" not in got  # defined here; only in a comment


@pytest.mark.integration
@pytest.mark.lore
def test_real_v6_onto_6_12(lore_dir, tmp_path):
    from tests.kernel import kernel_tree
    kernel = kernel_tree()
    s = stages.load_series(spec_mod.load(), str(lore_dir))
    with tree_mod.work_repo(tree_mod.open_user_tree(kernel), tmp_path / "w") as wr:
        target, patches = backport.backport(wr, s.version(6))
    assert [p.status for p in patches] == ["conflict", "skipped", "skipped", "skipped"]
    missing = {m.identifier for p in patches for m in p.missing}
    assert {"range_tree_set", "range_tree_destroy", "range_tree_clear"} <= missing  # range tree API
    assert {"raw_res_spin_lock_irqsave", "rqspinlock_t"} <= missing  # resilient spinlocks
    assert {"kmalloc_nolock", "kfree_nolock"} <= missing
    for p in patches:
        for h in p.hunks:
            assert h.status == "applied" or h.klass in ("context-drift", "function-absent",
                                                        "file-absent", "preimage-absent")
    classes = {h.klass for p in patches for h in p.hunks if h.status == "failed"}
    assert {"context-drift", "function-absent", "preimage-absent"} <= classes


def test_a_backport_that_applies_is_built(tmp_path, capsys, monkeypatch):
    """The build stage takes the backport as it takes a version (the fake kernel tree and
    compilers of tests/fakelinux: real make, no kernel)."""
    fakelinux.on_path(monkeypatch)
    monkeypatch.setenv("CCACHE_DIR", str(tmp_path / "ccache"))
    stable = fakelinux.tree(tmp_path / "stable", {"kernel/a.c": "int a;\n"})
    p1 = PatchSpec("k: one", "x", (Edit("kernel/a.c", "int a;\n", "#warning one\nint a = 1;\n"),))
    src = tmp_path / "m"
    mkseries.write(stable, "HEAD", "k: series", [VersionSpec(1, (p1,))], src, tag="ok")
    spec = tmp_path / "s.toml"
    spec.write_text('[series]\ntitle = "k: series"\n[build]\ntargets = ["x86_64"]\n'
                    'kconfig = ["CONFIG_BPF=y", "CONFIG_BPF_SYSCALL=y", "CONFIG_BPF_JIT=y", "CONFIG_MMU=y"]\n')
    (tmp_path / "w").mkdir()
    rc = cli.main(["backport", "--spec", str(spec), "--source", str(src), "--to", str(stable),
                   "--work-dir", str(tmp_path / "w"), "--build", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0 and doc["patches"][0]["status"] == "applied"
    (cell,) = doc["build"]["results"]
    # built on the stable tree: the patch's own warning is what it introduced there
    assert (cell["target"], cell["status"], cell["patch"]) == ("x86_64", "warn", 1)
    assert [w["message"] for w in cell["new_warnings"]] == ["#warning one"]
    assert doc["build"]["stats"]["built_states"] == 2  # the stable base, then the patch


def test_hunk_classes_never_read_outside_the_worktree(tmp_path):
    """A patch naming ../ or a symlink: no file outside the worktree is opened, the class
    says refused (it must not leak whether a line is in a file such as a secret)."""
    from arena_patches.core.model import FileStat, Patch, Person
    secret = tmp_path / "secret.txt"
    secret.write_text("token=abc\n")
    stable = gittree.make(tmp_path / "stable", {"lib/a.c": "int a;\n"})
    (stable / "lib" / "link.c").symlink_to(secret)
    gittree.run(stable, "add", "-A")
    gittree.run(stable, "commit", "-q", "-m", "a symlink in the tree")
    diffs = [f"diff --git a/{p} b/{p}\n--- a/{p}\n+++ b/{p}\n@@ -1,1 +1,1 @@\n-token=abc\n+token=xyz\n"
             for p in ("../../secret.txt", "lib/link.c")]
    with tree_mod.work_repo(tree_mod.open_user_tree(stable), tmp_path / "w") as wr:
        with wr.worktree("bp", "HEAD") as wt:
            for d in diffs:
                p = Patch(1, 1, "m", "s", Person("a", "b"), "", 0.0, "", (), d, (FileStat("x", 1, 1, "modified"),), (), "t")
                got = backport.classify_hunks(wr, wt, p)
                assert [h.klass for h in got] == ["refused"], d
