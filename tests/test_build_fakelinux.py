"""The build matrix's logic on a fake kernel tree with fake compilers on PATH (tests/fakelinux):
real git, real make, real apply, real caches; no kernel, no monkeypatched private. The
real kernel builds stay in test_build_kernel.py."""
from __future__ import annotations

import json
import subprocess

import pytest

from arena_patches import cli
from arena_patches.demo.mkseries import Edit, PatchSpec, VersionSpec
from tests import fakelinux, gittree

BASE = {"kernel/a.c": "#warning base\nint a;\n", "kernel/b.c": "int b;\n",
        "kernel/c.c": "// not in this config\nint c;\n"}
V1 = VersionSpec(1, (
    PatchSpec("k: break a", "a.c gets an error; the compiler stops there, before the base's warning.",
              (Edit("kernel/a.c", "#warning base\n", "#error boom\n#warning base\n"),)),
    PatchSpec("k: touch b", "b.c only; a.c keeps its error.", (Edit("kernel/b.c", "int b;\n", "int b = 1;\n"),)),
    PatchSpec("k: fix a, warn b", "a.c fixed; b.c warns.", (
        Edit("kernel/a.c", "#error boom\n", ""), Edit("kernel/b.c", "int b = 1;\n", "#warning new\nint b = 1;\n"))),
    PatchSpec("k: c only", "a file this config does not build.", (
        Edit("kernel/c.c", "int c;\n", "#error never compiled\nint c;\n"),)),
))
V2 = VersionSpec(2, (
    PatchSpec("k: undefined", "links against a symbol nobody defines.", (
        Edit("kernel/b.c", "int b;\n", "// undefined: bpf_arena_nr_pages\nint b;\n"),)),
))


@pytest.fixture
def fake(tmp_path, monkeypatch):
    return fakelinux.series(tmp_path, monkeypatch, BASE, [V1, V2])


def _build(fake, capsys, *extra) -> tuple[int, dict]:
    rc = cli.main(["build", "--spec", str(fake["spec"]), "--tree", str(fake["tree"]), "--work-dir",
                   str(fake["work"]), "--targets", "x86_64", "--jobs", "2", "--json", *extra])
    return rc, json.loads(capsys.readouterr().out)


def test_each_patch_is_judged_by_what_it_introduced(fake, capsys):
    snap = gittree.snapshot(fake["tree"])
    rc, doc = _build(fake, capsys, "--source", str(fake["src"]))
    cells = {(c["version"], c["patch"]): c for c in doc["results"]}
    assert rc == 1  # findings
    assert {v: [cells[(v, k)]["word"] for k in sorted(k for (w, k) in cells if w == v)] for v in (1, 2)} == \
        {1: ["fail", "fail*", "warn", "pass"], 2: ["fail"]}
    # patch 1: its own error, nothing inherited
    assert [(e["file"], e["line"], e["message"]) for e in cells[(1, 1)]["errors"]] == \
        [("kernel/a.c", 1, "#error boom")]
    # patch 2 keeps its parent's error and introduces none: fail*, never blamed
    assert cells[(1, 2)]["errors"] == [] and [e["message"] for e in cells[(1, 2)]["inherited_errors"]] == ["#error boom"]
    # patch 3: the fix; only b.c's warning is new. The base's warning in a.c is back, absent
    # from the broken parent's log but known from the last state that built: not new
    assert [(w["file"], w["message"], w["flag"]) for w in cells[(1, 3)]["new_warnings"]] == \
        [("kernel/b.c", "#warning new", "-Wcpp")]
    # patch 4 edits a file this config does not build: said, and its #error never judged
    assert cells[(1, 4)]["not_built"] == ["kernel/c.c"] and cells[(1, 4)]["status"] == "pass"
    # v2: a link error is the patch's own
    assert [e["message"] for e in cells[(2, 1)]["errors"]] == ["undefined reference to `bpf_arena_nr_pages'"]
    # the base (once, for the files of both versions: v2's is the cache's answer) and 5 patches
    assert doc["stats"]["built_states"] == 6 and doc["stats"]["compiler_invocations"] > 0
    assert gittree.snapshot(fake["tree"]) == snap  # the user's tree untouched

    # a re-run is served from the result cache: no make at all, the same cells
    rc2, again = _build(fake, capsys, "--source", str(fake["src"]))
    assert rc2 == 1 and again["stats"]["compiler_invocations"] == 0 and again["stats"]["built_states"] == 0
    assert all(c["cached"] for c in again["results"])
    strip = lambda d: [{k: v for k, v in c.items() if k not in ("cached", "seconds")} for c in d["results"]]
    assert strip(again) == strip(doc)


def test_the_reproducer_pasted_into_a_shell_gives_the_same_error(fake, capsys):
    rc, doc = _build(fake, capsys, "--source", str(fake["src"]), "--version", "1")
    cell = next(c for c in doc["results"] if c["patch"] == 1)
    assert "CCACHE_BASEDIR=" in cell["reproduce"] and "LC_ALL=C" in cell["reproduce"]
    r = subprocess.run(["bash", "-c", cell["reproduce"]], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "kernel/a.c:1:2: error: #error boom" in r.stderr


def test_a_config_that_cannot_be_made_is_error_with_its_command(fake, capsys, monkeypatch):
    monkeypatch.setenv("FAKELINUX_FAIL", "config")
    rc, doc = _build(fake, capsys, "--source", str(fake["src"]))
    assert rc == 3  # the stage could not run: never "good", never a finding
    assert {c["status"] for c in doc["results"]} == {"error"}
    assert "make tinyconfig failed" in doc["results"][0]["detail"]
    assert doc["results"][0]["reproduce"].endswith(" tinyconfig")


def test_the_tree_as_it_is_and_a_hung_build(fake, capsys, monkeypatch):
    rc, doc = _build(fake, capsys)
    (cell,) = doc["results"]
    assert rc == 0 and (cell["version"], cell["status"]) == (None, "pass")

    # a build that hangs is killed at the timeout, recorded as error, and not cached
    from arena_patches.kbuild import state
    monkeypatch.setattr(state, "COLD_TIMEOUT", 1.0)
    monkeypatch.setenv("FAKELINUX_SLEEP", "30")
    other = fakelinux.tree(fake["tmp"] / "linux2", {"kernel/a.c": "int a2;\n"})
    rc, doc = _build({**fake, "tree": other}, capsys)
    (cell,) = doc["results"]
    assert rc == 3 and cell["status"] == "error" and "timed out" in cell["detail"]
    monkeypatch.delenv("FAKELINUX_SLEEP")
    monkeypatch.setattr(state, "COLD_TIMEOUT", 600.0)
    rc, doc = _build({**fake, "tree": other}, capsys)
    assert rc == 0 and doc["results"][0]["status"] == "pass" and not doc["results"][0]["cached"]


def test_a_build_the_machine_stopped_is_an_error_never_a_fail_and_never_cached(fake, capsys, monkeypatch):
    """The disk fills while b.c compiles at v1 3/4 (the assembler's own words): that cell,
    and the next one whose parent is unknown and which fails, are `error` naming the
    cause, never blamed on the patch; nothing of it is cached, and once there is room
    again the same cells are judged as they should be."""
    monkeypatch.setenv("FAKELINUX_DISK_FULL", "kernel/b.c")
    rc, doc = _build(fake, capsys, "--source", str(fake["src"]), "--version", "1")
    cells = {c["patch"]: c for c in doc["results"] if c["version"] == 1}
    assert rc == 3  # a stage that did not run is never a pass, nor a finding
    # the base already compiles b.c: every cell is an error naming the machine
    assert {k: c["status"] for k, c in cells.items()} == {1: "error", 2: "error", 3: "error", 4: "error"}
    assert all("No space left on device" in c["detail"] for c in cells.values())
    assert all(c["errors"] == [] for c in cells.values())
    monkeypatch.delenv("FAKELINUX_DISK_FULL")
    rc, doc = _build(fake, capsys, "--source", str(fake["src"]), "--version", "1")
    assert [c["word"] for c in doc["results"]] == ["fail", "fail*", "warn", "pass"]
    assert not any(c["cached"] for c in doc["results"])


def test_disk_full_mid_series_leaves_those_patches_unjudged(fake, capsys, monkeypatch):
    """The disk fills from v1 3/4 on (b.c's compile, once it warns): the cells before keep
    their verdicts, 3/4 and 4/4 are `error`; with room again only those two are built."""
    from arena_patches.kbuild import diagnostics as dg
    assert dg.infra_failure('  12 |  pr_err("No space left on device");') is None  # a quoted source line
    assert dg.infra_failure("gcc: fatal error: Killed signal terminated program cc1\n")
    monkeypatch.setenv("FAKELINUX_DISK_FULL", "kernel/b.c:#warning new")
    rc, doc = _build(fake, capsys, "--source", str(fake["src"]), "--version", "1")
    # 1/4's own error is a finding (exit 1, which the errors do not turn into 0 or 3)
    assert [c["word"] for c in doc["results"]] == ["fail", "fail*", "error", "error"] and rc == 1
    assert all("No space left on device" in c["detail"] for c in doc["results"][2:])
    monkeypatch.delenv("FAKELINUX_DISK_FULL")
    rc, doc = _build(fake, capsys, "--source", str(fake["src"]), "--version", "1")
    assert [c["word"] for c in doc["results"]] == ["fail", "fail*", "warn", "pass"] and rc == 1
    assert [c["cached"] for c in doc["results"]] == [True, True, False, False]
