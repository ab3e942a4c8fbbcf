"""The checks that run the base tree's tools, for real (spatch, perl) on a small git tree
holding the kernel's own scripts: before/after on the touched files, only the new counted."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from arena_patches.checks import coccinelle, kernel_doc
from arena_patches.core.model import FileStat, Patch, Person, Version
from arena_patches.core.runner import Runner
from arena_patches.checks.registry import PatchContext
from arena_patches.core.verdicts import Status
from arena_patches.tree import repo as tree_mod
from tests import gittree
from tests.kernel import TEST_CACHE, kernel_tree

pytestmark = pytest.mark.integration
KERNEL = TEST_CACHE / "linux-6.12"


@pytest.fixture(autouse=True, scope="module")
def _kernel():
    # imported here when absent (a fresh machine): a skipif read at collection would skip
    assert kernel_tree() == KERNEL
KSTRDUP = "scripts/coccinelle/api/kstrdup.cocci"
BASE_C = "#include <linux/slab.h>\n\nint keep(void)\n{\n\treturn 0;\n}\n"
DUP = """
char *dup_name(const char *from)
{
	int len;
	char *to;

	len = strlen(from) + 1;
	to = kmalloc(len, GFP_KERNEL);
	if (!to)
		return NULL;
	memcpy(to, from, len);
	return to;
}
"""
KDOC = """/**
 * keep() - keeps
 * @x: not a parameter of keep()
 */
"""


def _tree(tmp_path: Path, after: str, added: str):
    files = {"lib/a.c": BASE_C, KSTRDUP: (KERNEL / KSTRDUP).read_text(),
             "scripts/kernel-doc": (KERNEL / "scripts/kernel-doc").read_text()}
    tree = gittree.make(tmp_path / "t", files)
    base = gittree.run(tree, "rev-parse", "HEAD").strip()
    (tree / "lib/a.c").write_text(after)
    gittree.run(tree, "commit", "-qam", "lib: add")
    commit = gittree.run(tree, "rev-parse", "HEAD").strip()
    diff = "diff --git a/lib/a.c b/lib/a.c\n--- a/lib/a.c\n+++ b/lib/a.c\n" + \
        "".join(f"+{line}\n" for line in added.splitlines())
    p = Patch(1, 1, "m@x", "lib: add", Person("J", "j@x"), "", 0.0, "Adds.", (), diff,
              (FileStat("lib/a.c", 1, 0, "modified"),), (), "mem")
    return tree, base, commit, p


def test_coccinelle_reports_what_the_patch_brings_and_not_what_was_there(tmp_path):
    if not shutil.which("spatch"):
        pytest.skip("spatch is absent: Debian package coccinelle (scripts/setup installs it)")
    tree, base, commit, p = _tree(tmp_path, BASE_C + DUP, DUP)
    with tree_mod.work_repo(tree_mod.open_user_tree(tree), tmp_path / "w") as wr:
        ctx = PatchContext(Version(1, 1, None, None, (p,), (), (), None), p, tmp_path / "work", Runner(), wr,
                           base, commit, base)
        r = coccinelle.Coccinelle().judge(ctx)
        assert r.status is Status.WARN, r.detail
        (f,) = r.findings
        assert (f.file, f.type, f.new) == ("lib/a.c", "api/kstrdup", True) and f.message == "WARNING opportunity for kstrdup (memcpy on line N)"
        again = coccinelle.Coccinelle().judge(ctx)  # every answer from the cache
        assert again.findings == r.findings and again.seconds < r.seconds
        # the same file as parent and child: nothing is new
        same = PatchContext(ctx.version, p, ctx.work, ctx.runner, wr, base, commit, commit)
        assert [x.new for x in coccinelle.Coccinelle().judge(same).findings] == [False]


def test_a_spatch_that_dies_is_an_error_never_a_pass_and_never_cached(tmp_path, monkeypatch):
    """spatch without a HOME dies with "Fatal error: exception Not_found" and prints no
    finding: the check is `error` naming it (it was `pass`, and cached as such)."""
    tree, base, commit, p = _tree(tmp_path, BASE_C + DUP, DUP)
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "spatch").write_text("#!/bin/sh\necho 'Fatal error: exception Not_found' >&2\nexit 2\n")
    (fake / "spatch").chmod(0o755)
    monkeypatch.setattr(coccinelle, "SPATCH", (str(fake / "spatch"), *coccinelle.SPATCH[1:]))
    with tree_mod.work_repo(tree_mod.open_user_tree(tree), tmp_path / "w") as wr:
        # unconfined: the sandbox's own /tmp would hide a fake under the test's tmp dir
        ctx = PatchContext(Version(1, 1, None, None, (p,), (), (), None), p, tmp_path / "work",
                           Runner(sandbox=False), wr, base, commit, base)
        r = coccinelle.Coccinelle().judge(ctx)
        assert r.status is Status.ERROR and "exception Not_found" in r.detail, r
        assert not list((tmp_path / "work").rglob("coccinelle-cache/*.json"))


def test_kernel_doc_counts_only_the_warnings_the_patch_brings(tmp_path):
    after = BASE_C.replace("int keep", KDOC + "int keep")
    tree, base, commit, p = _tree(tmp_path, after, KDOC)
    with tree_mod.work_repo(tree_mod.open_user_tree(tree), tmp_path / "w") as wr:
        ctx = PatchContext(Version(1, 1, None, None, (p,), (), (), None), p, tmp_path / "work", Runner(), wr,
                           base, commit, base)
        r = kernel_doc.KernelDoc().judge(ctx)
        assert r.status is Status.WARN
        assert {f.message for f in r.findings} == {
            "Excess function parameter 'x' description in 'keep'", "No description found for return value of 'keep'"}
        assert all(f.file == "lib/a.c" and f.line for f in r.findings)
