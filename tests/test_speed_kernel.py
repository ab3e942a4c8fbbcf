"""On the real 6.12 kernel: each state built on the one before it gives exactly the cells
that building every state cold gives (`build --from-scratch`). First, what a state knows
without compiling a file again: core.c gets a warning, syscall.c a line (core.c is not
compiled again: its warning is known from the make that compiled it), core.c a comment
(compiled again: the warning is heard again and is not new). Then the cheapest real case
that holds the hard ones in two patches: a private header of kernel/bpf/ that few files include
(mmap_unlock_work.h: task_iter.c, and stackmap.c where the config has perf events)
changed so that the build stops half way (#error), then deleted while its users still
include it: three states, each built incrementally, and the two broken ones cold (ccache
makes that cheap; the base's cold result is kept from the first run).
One target (x86_64, the demo's tinyconfig + BPF)."""
from __future__ import annotations

import json
import os

import pytest

from arena_patches import cli
from arena_patches.demo import mkseries, prepare as demo
from arena_patches.demo.mkseries import Edit, PatchSpec, VersionSpec
from arena_patches.mail import spec as spec_mod
from tests.kernel import kernel_tree, work_dir

pytestmark = pytest.mark.integration
H = "kernel/bpf/mmap_unlock_work.h"
GUARD = "#define __MMAP_UNLOCK_WORK_H__\n"
UNUSED = "static int arena_patches_unused;\n"
SERIES = VersionSpec(1, (
    PatchSpec("bpf: core.c: a warning", "", (Edit("kernel/bpf/core.c", "#include <linux/bpf.h>\n",
                                                   "#include <linux/bpf.h>\n\n" + UNUSED),)),
    PatchSpec("bpf: syscall.c: a line", "", (Edit("kernel/bpf/syscall.c", "#define BPF_OBJ_FLAG_MASK",
                                                   "/* a line */\n#define BPF_OBJ_FLAG_MASK"),)),
    PatchSpec("bpf: core.c: a comment", "", (Edit("kernel/bpf/core.c", UNUSED, UNUSED[:-1] + " /* kept */\n"),)),
    PatchSpec("bpf: mmap_unlock_work.h: break it", "A header change that stops its users half way.",
              (Edit(H, GUARD, GUARD + "#error half way\n"),)),
    PatchSpec("bpf: remove mmap_unlock_work.h", "Its users still include it.", (Edit(H, "", "", delete=True),)),
))


# Found by this test on its first run: built on the state before it, the state that
# deletes the header passed (kbuild on make < 4.4.1 keeps an object whose header is gone:
# arena_patches/kbuild/stale.py), while built cold it fails, as it must.
def test_incremental_equals_from_scratch_on_the_real_kernel(tmp_path, capsys):
    kernel = kernel_tree()
    src = tmp_path / "mails"
    mkseries.write(kernel, "HEAD", "bpf: mmap_unlock_work", [SERIES], src, tag="inc")
    spec = tmp_path / "inc.toml"
    kconfig = ", ".join(f'"{o}"' for o in spec_mod.load(str(demo.SPEC)).build.kconfig)
    spec.write_text(f'[series]\ntitle = "bpf: mmap_unlock_work"\n[build]\ntargets = ["x86_64"]\n'
                    f'kconfig = [{kconfig}]\n')
    root = work_dir()

    def build(where: str, *extra) -> dict:
        rc = cli.main(["build", "--spec", str(spec), "--tree", str(kernel), "--source", str(src),
                       "--work-dir", str(root / where), "--targets", "x86_64",
                       "--jobs", str(os.cpu_count() or 2), "--json", *extra])
        doc = json.loads(capsys.readouterr().out)
        assert rc == 1, doc
        for entry in (root / where).glob("trees/*/build-cache/*.json"):  # the next run builds again
            if not (extra and json.loads(entry.read_text())["entry"]["ok"]):
                entry.unlink()
        return doc

    # Cold, only the two broken states need building again on each run: the base's cold
    # result stays cached (the base does not change). The incremental side builds all
    # three every run, the base on the O= the deleting state left.
    incremental, scratch = build("speed-incremental"), build("speed-scratch", "--from-scratch")
    cells = lambda d: [{k: v for k, v in c.items() if k not in ("cached", "seconds", "reproduce")}
                       for c in d["results"]]
    assert cells(incremental) == cells(scratch)
    assert [c["word"] for c in incremental["results"]] == ["warn", "pass", "pass", "fail", "fail"]
    warned, _, _, broken, gone = incremental["results"]
    assert [(w["file"], w["message"]) for w in warned["new_warnings"]] == \
        [("kernel/bpf/core.c", "'arena_patches_unused' defined but not used")]
    assert {(e["file"], e["message"]) for e in broken["errors"]} == {(H, "#error half way")}
    assert {e["message"] for e in gone["errors"]} == {"mmap_unlock_work.h: No such file or directory"}
    assert incremental["stats"]["compiler_invocations"] < scratch["stats"]["compiler_invocations"]
