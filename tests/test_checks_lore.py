"""On the real series mails: the tool's checkpatch findings per patch are those of plain
checkpatch.pl run by hand on the same mail with the same flags (by type and file)."""
from __future__ import annotations

import collections
import os
import re
import subprocess
from contextlib import ExitStack
from pathlib import Path

import pytest

from arena_patches.checks import run as checks_run
from arena_patches.checks.checkpatch import NIPA_IGNORE
from arena_patches.checks.registry import select
from arena_patches.core.verdicts import Status
from arena_patches.verify import stages
from arena_patches.verify.options import Inputs
from tests.kernel import TEST_CACHE, kernel_tree

pytestmark = [pytest.mark.integration, pytest.mark.lore]

KERNEL = TEST_CACHE / "linux-6.12"


@pytest.fixture(autouse=True, scope="module")
def _kernel():
    # imported here when absent (a fresh machine): a skipif read at collection would skip
    assert kernel_tree() == KERNEL


def by_hand(mail: Path) -> collections.Counter:
    """What a maintainer types, and what they read off its output."""
    out = subprocess.run(["perl", str(KERNEL / "scripts" / "checkpatch.pl"), "--no-tree", "--strict",
                          "--show-types", "--max-line-length=80", "--ignore", ",".join(NIPA_IGNORE),
                          str(mail)], capture_output=True, text=True, cwd=KERNEL).stdout
    types = re.findall(r"^(?:ERROR|WARNING|CHECK):(\w+):.*\n(?:#\d+: FILE: (\S+?):\d+:)?", out, re.M)
    return collections.Counter(types)


def test_checkpatch_per_patch_equals_checkpatch_by_hand(tmp_path, lore_dir):
    LORE = lore_dir
    work = Path(os.environ.get("ARENA_PATCHES_TEST_WORK", tmp_path / "work"))
    with ExitStack() as stack:
        wr = stages.open_tree(stack, str(KERNEL), str(work))
        _, s = stages.series_and_spec(Inputs(None, str(LORE), str(KERNEL), str(work)), wr)
        ctxs = checks_run.contexts(s, [v.version for v in s.versions], (), wr, head=wr.resolve("HEAD"))
        results = checks_run.run(select("checkpatch"), ctxs)
    by_patch = {(r.version, r.patch): r for r in results}
    compared = 0
    for mail in sorted(LORE.glob("v*/000[1-9].eml")):
        v, k = int(mail.parent.name[1:]), int(mail.stem)
        r = by_patch[(v, k)]
        assert r.status is not Status.ERROR and r.status is not Status.SKIP, r.detail
        ours = collections.Counter((f.type, f.file) for f in r.findings)
        assert ours == by_hand(mail), f"v{v} {k}/4"
        compared += 1
    assert compared == 22  # every patch mail the archive holds
    assert sum(len(r.findings) for r in results) == 232  # what checkpatch says of them, by hand too
