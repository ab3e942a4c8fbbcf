"""Where the time went, and a re-run that costs nothing: on the fake kernel tree
(tests/fakelinux), real git, real make, real caches."""
from __future__ import annotations

import json

import pytest

from arena_patches import cli
from arena_patches.demo import mkseries
from arena_patches.demo.mkseries import Edit, PatchSpec, VersionSpec
from tests import fakelinux

BASE = {"kernel/a.c": "int a;\n", "kernel/b.c": "int b;\n"}
V1 = VersionSpec(1, (
    PatchSpec("k: warn a", "a new warning.", (Edit("kernel/a.c", "int a;\n", "#warning new\nint a;\n"),)),
    PatchSpec("k: touch b", "b only.", (Edit("kernel/b.c", "int b;\n", "int b = 1;\n"),)),
))


@pytest.fixture
def fake(tmp_path, monkeypatch):
    return fakelinux.series(tmp_path, monkeypatch, BASE, [V1])


def _verify(fake, capsys, *extra) -> tuple[int, dict, str]:
    rc = cli.main(["verify", "--spec", str(fake["spec"]), "--tree", str(fake["tree"]), "--source",
                   str(fake["src"]), "--work-dir", str(fake["work"]), "--no-boot", *extra])
    got = capsys.readouterr()
    return rc, (json.loads(got.out) if "--json" in extra else {}), got.out


def test_timings_say_where_the_time_went_and_a_rerun_builds_nothing(fake, capsys):
    rc, doc, _ = _verify(fake, capsys, "--json")
    assert rc == 0 and [c["word"] for c in doc["build"]["results"]] == ["warn", "pass"]
    rows = doc["timings"]
    stages = [r["stage"] for r in rows if r["target"] is None]
    assert stages == ["tree", "series", "apply", "build", "checks", "boot", "invariants", "diff"]
    build = next(r for r in rows if r["stage"] == "build" and r["target"] is None)
    x86 = next(r for r in rows if r["stage"] == "build" and r["target"] == "x86_64")
    # the base and both patches built once each, nothing from the cache; ccache counted
    # (the fake ccache keeps no statistics: 0, not null)
    assert (build["builds"], build["cache_hits"]) == (3, 0) == (x86["builds"], x86["cache_hits"])
    assert x86["ccache_misses"] == 0 and 0 < x86["seconds"] <= build["seconds"]
    assert all(r["seconds"] >= 0 for r in rows)

    # re-run, nothing changed: every state from the cache, and the build worktree is
    # never entered (removed here, it is not made again)
    wt = next(fake["work"].glob("trees/*/wt/build"))
    for f in sorted(wt.rglob("*"), reverse=True):
        f.unlink() if not f.is_dir() or f.is_symlink() else f.rmdir()
    wt.rmdir()
    rc2, again, _ = _verify(fake, capsys, "--json")
    assert rc2 == 0 and not wt.exists()
    x86 = next(r for r in again["timings"] if r["stage"] == "build" and r["target"] == "x86_64")
    assert (x86["builds"], x86["cache_hits"]) == (0, 3)
    same = lambda d: [{k: v for k, v in c.items() if k not in ("cached", "seconds")} for c in d["build"]["results"]]
    assert same(again) == same(doc)

    # the text output ends with the table
    rc3, _, text = _verify(fake, capsys)
    assert rc3 == 0
    table = text[text.index("where the time went"):]
    assert "x86_64" in table and "total" in table and "builds run" in table


def test_the_demo_series_is_not_written_again_when_it_is_there(fake, tmp_path):
    out = tmp_path / "again"
    first = mkseries.write(fake["tree"], "HEAD", "k: fake", [V1], out, tag="fake")
    stamp = {p: p.stat().st_mtime_ns for p in first}
    assert mkseries.write(fake["tree"], "HEAD", "k: fake", [V1], out, tag="fake") == first
    assert {p: p.stat().st_mtime_ns for p in first} == stamp  # not rewritten
    assert first[0].read_bytes() == (fake["src"] / first[0].name).read_bytes()  # deterministic
    # another series into the same place is written, not taken for the first
    v1b = VersionSpec(1, V1.patches[:1])
    mkseries.write(fake["tree"], "HEAD", "k: fake", [v1b], out, tag="fake")
    assert first[0].read_bytes() != (fake["src"] / first[0].name).read_bytes()


def test_a_booted_target_is_built_once_for_the_matrix_and_the_boot(tmp_path):
    """The matrix builds a booted target with what the boot needs, in the very O= dir the
    boot builds in (one kernel, no second cold build); the other targets keep theirs."""
    from dataclasses import replace

    from arena_patches.boot.stage import boot_config
    from arena_patches.kbuild import kconfig, targets
    from arena_patches.kbuild.directory import BuildDir

    series = ("CONFIG_BPF=y", "CONFIG_BPF_SYSCALL=y")
    x86, i386 = targets.select("x86_64,i386")
    plain = kconfig.resolve(None, series)
    shared = replace(plain, boots=frozenset({"x86_64"}))

    def out(t, cfg):
        return BuildDir.at(tmp_path, t, None, cfg, 2).out

    assert out(x86, shared.for_target(x86)) == out(x86, boot_config(series, x86))
    assert set(kconfig.BOOT_KCONFIG) <= set(shared.for_target(x86).fragment)
    assert "CONFIG_SERIAL_8250_CONSOLE=y" in shared.for_target(x86).fragment
    assert out(x86, plain.for_target(x86)) != out(x86, boot_config(series, x86))
    assert shared.for_target(i386) == plain.for_target(i386)  # not booted: unchanged


# A series that stresses building each state on the one before it: a widely included
# header changed, then broken half-way through the build (a.c and b.c stop, c.c and d.c
# build), a file deleted, a header deleted that a file still includes, and a second
# version that goes back to the base (every deleted file back, with a fresh mtime).
INC_BASE = {"include/common.h": "// common\n", "include/only_d.h": "// only d\n",
            "kernel/a.c": '#include "common.h"\nint a;\n', "kernel/b.c": '#include "common.h"\nint b;\n',
            "kernel/c.c": "int c;\n", "kernel/d.c": '#include "only_d.h"\nint d;\n'}
INC_V1 = VersionSpec(1, (
    PatchSpec("k: common changes", "a header most files include; no .c file of the version does.", (
        Edit("include/common.h", "// common\n", "// common (changed)\n"),)),
    PatchSpec("k: common breaks", "every user of the header stops; the others build.", (
        Edit("include/common.h", "// common (changed)\n", "// common (changed)\n#error half way\n"),)),
    PatchSpec("k: common fixed, c.c gone", "", (
        Edit("include/common.h", "#error half way\n", ""), Edit("kernel/c.c", "", "", delete=True))),
    PatchSpec("k: only_d.h gone", "d.c still includes it.", (Edit("include/only_d.h", "", "", delete=True),)),
    PatchSpec("k: d.c without it", "", (Edit("kernel/d.c", '#include "only_d.h"\n', ""),)),
))
INC_V2 = VersionSpec(2, (
    PatchSpec("k: b warns", "back on the base.", (Edit("kernel/b.c", "int b;\n", "#warning b\nint b;\n"),)),
))


def test_incremental_builds_give_exactly_the_cells_of_builds_from_scratch(tmp_path, monkeypatch, capsys):
    w = fakelinux.series(tmp_path, monkeypatch, INC_BASE, [INC_V1, INC_V2], tag="inc")
    tree, src, spec = w["tree"], w["src"], w["spec"]

    def build(work: str, *extra) -> dict:
        rc = cli.main(["build", "--spec", str(spec), "--tree", str(tree), "--source", str(src), "--work-dir",
                       str(tmp_path / work), "--targets", "x86_64", "--json", *extra])
        doc = json.loads(capsys.readouterr().out)
        assert rc == 1, doc
        return doc

    incremental, scratch = build("inc"), build("cold", "--from-scratch")
    # each state once, on the one before: fewer compiles than building every state cold.
    # The base once, for the files of both versions: v2's is the cache's answer
    assert incremental["stats"]["built_states"] == scratch["stats"]["built_states"] == 7
    assert incremental["stats"]["compiler_invocations"] < scratch["stats"]["compiler_invocations"]

    def cells(doc):  # everything but where and how long
        return [{k: v for k, v in c.items() if k not in ("cached", "seconds", "reproduce")} for c in doc["results"]]
    assert cells(incremental) == cells(scratch)
    words = {(c["version"], c["patch"]): c["word"] for c in incremental["results"]}
    assert words == {(1, 1): "pass", (1, 2): "fail", (1, 3): "pass", (1, 4): "fail", (1, 5): "pass",
                     (2, 1): "warn"}
    by = {(c["version"], c["patch"]): c for c in incremental["results"]}
    assert {(e["file"], e["message"]) for e in by[(1, 2)]["errors"]} == {("include/common.h", "#error half way")}
    assert [e["message"] for e in by[(1, 4)]["errors"]] == ["only_d.h: No such file or directory"]
    assert by[(1, 3)]["not_built"] == []  # c.c is gone, not "left out by the config"


def test_a_base_built_once_for_every_version_gives_the_cells_of_one_built_for_each(tmp_path, monkeypatch, capsys):
    """v1 and v2 touch different files (c.c and d.c, then b.c): the base is built once, for
    all three, and each version sees it through its own files (state.restrict). Built again
    for each version's files instead (the way before), every cell is the same."""
    from arena_patches.kbuild import matrix
    w = fakelinux.series(tmp_path, monkeypatch, INC_BASE, [INC_V1, INC_V2], tag="inc")

    def build(work: str) -> dict:
        rc = cli.main(["build", "--spec", str(w["spec"]), "--tree", str(w["tree"]), "--source", str(w["src"]),
                       "--work-dir", str(tmp_path / work), "--targets", "x86_64", "--json"])
        doc = json.loads(capsys.readouterr().out)
        assert rc == 1, doc
        return doc
    once = build("once")
    own = matrix._base  # each version's base built for its own files
    monkeypatch.setattr(matrix, "_base", lambda bd, wr, commit, objs, every, stats, tree:
                        own(bd, wr, commit, objs, None, stats, tree))
    each = build("each")
    assert (once["stats"]["built_states"], each["stats"]["built_states"]) == (7, 8)
    assert once["stats"]["cached_results"] == each["stats"]["cached_results"] + 1

    def cells(doc):
        return [{k: v for k, v in c.items() if k not in ("cached", "seconds", "reproduce")} for c in doc["results"]]
    assert cells(once) == cells(each)
    assert any(c["new_warnings"] for c in once["results"] if c["version"] == 2)  # b.c's, against the base


def test_a_state_restricted_to_some_objects_keeps_only_what_they_and_no_object_said():
    from arena_patches.kbuild import diagnostics as dg
    from arena_patches.kbuild.state import CommitState, restrict
    w = lambda f, m: dg.parse(f"{f}:1:1: warning: {m} [-Wx]")[0]
    st = CommitState(True, (), (w("<stdin>", "z"), w("a.c", "x"), w("b.c", "y")), ("kernel/c.c",), "", 3, 1.0,
                     by_object=(("kernel/a.o", (w("a.c", "x"),)), ("kernel/b.o", (w("b.c", "y"),))),
                     loose=(w("<stdin>", "z"),))
    mine = restrict(st, ["kernel/b.o"])
    assert [d.file for d in mine.warnings] == ["<stdin>", "b.c"] and mine.not_built == ()
    assert restrict(st, ["kernel/c.o"]).not_built == ("kernel/c.c",)
    assert restrict(st, ["kernel/a.o", "kernel/b.o", "kernel/c.o"]).warnings == st.warnings
    from dataclasses import replace
    assert restrict(replace(st, by_object=None), ["kernel/b.o"]) is None  # cached before: not known


def test_a_tarball_is_hashed_once_until_it_changes(tmp_path, monkeypatch):
    from arena_patches.tree import tarball
    monkeypatch.setenv("ARENA_PATCHES_CACHE", str(tmp_path / "cache"))
    tb = tmp_path / "k.tar"
    tb.write_bytes(b"a" * 4096)
    first = tarball._digest(tb)
    assert first == tarball._sha256(tb) and len(list((tmp_path / "cache").rglob("*.json"))) == 1
    reads = []
    monkeypatch.setattr(tarball, "_sha256", lambda p: reads.append(p) or "0" * 64)
    assert tarball._digest(tb) == first and reads == []  # remembered, not read again
    tb.write_bytes(b"b" * 4096)  # same size, same path: another file
    assert tarball._digest(tb) == "0" * 64 and reads == [tb]


def test_a_deleted_header_its_untouched_users_still_include_fails_incrementally_too(tmp_path, monkeypatch, capsys):
    """No .c file of the version names d.c, so nothing but make's own rules can compile it
    again: the fake marks every target secondary as kbuild does on make < 4.4.1, where
    make alone would keep d.o and pass."""
    gone = VersionSpec(1, (
        PatchSpec("k: common changes", "", (Edit("include/common.h", "// common\n", "// common!\n"),)),
        PatchSpec("k: only_d.h gone", "d.c still includes it.", (Edit("include/only_d.h", "", "", delete=True),)),
    ))
    w = fakelinux.series(tmp_path, monkeypatch, INC_BASE, [gone], tag="gone")
    tree, src, spec = w["tree"], w["src"], w["spec"]
    docs = []
    for work, extra in (("inc", ()), ("cold", ("--from-scratch",))):
        rc = cli.main(["build", "--spec", str(spec), "--tree", str(tree), "--source", str(src), "--work-dir",
                       str(tmp_path / work), "--targets", "x86_64", "--json", *extra])
        docs.append(json.loads(capsys.readouterr().out))
        assert rc == 1, docs[-1]
    for doc in docs:
        assert [c["word"] for c in doc["results"]] == ["pass", "fail"]
        assert [e["message"] for e in doc["results"][1]["errors"]] == ["only_d.h: No such file or directory"]


# What each compile said is heard in the state's one make (its output grouped per recipe,
# make -O) and kept beside the objects: a state whose make did not compile a file of the
# version still knows that file's warnings, with no second make to hear them again.
HEARD_V1 = VersionSpec(1, (
    PatchSpec("k: warn a", "", (Edit("kernel/a.c", "int a;\n", "#warning kept\nint a;\n"),)),
    PatchSpec("k: touch b", "a.c is not compiled again: its warning is known all the same.",
              (Edit("kernel/b.c", "int b;\n", "int b = 1;\n"),)),
    PatchSpec("k: touch a", "a.c compiled again: its warning is heard again, and is not new.",
              (Edit("kernel/a.c", "int a;\n", "int a = 1;\n"),)),
))


def _makes(monkeypatch) -> list[tuple[str, ...]]:
    """Every make's goals, as the tool runs them."""
    from arena_patches.core import runner
    seen, real = [], runner.Runner.run

    def run(self, argv, **kw):
        argv = [str(a) for a in argv]
        if "make" in argv:
            seen.append(tuple(a for a in argv[argv.index("make"):] if a == "vmlinux" or a.startswith("kernel/")))
        return real(self, argv, **kw)
    monkeypatch.setattr(runner.Runner, "run", run)
    return seen


def test_a_state_knows_what_its_files_said_without_compiling_them_again(tmp_path, monkeypatch, capsys):
    w = fakelinux.series(tmp_path, monkeypatch, BASE, [HEARD_V1], tag="heard")
    makes = _makes(monkeypatch)

    def build(work: str, *extra) -> list:
        rc = cli.main(["build", "--spec", str(w["spec"]), "--tree", str(w["tree"]), "--source", str(w["src"]),
                       "--work-dir", str(tmp_path / work), "--targets", "x86_64", "--json", *extra])
        doc = json.loads(capsys.readouterr().out)
        assert rc == 0, doc  # a new warning is no failure
        return [(c["word"], [x["message"] for x in c["new_warnings"]]) for c in doc["results"]]

    assert build("inc") == [("warn", ["#warning kept"]), ("pass", []), ("pass", [])]
    states = [m for m in makes if "vmlinux" in m]
    assert len(states) == 4  # the base and three patches
    assert [m for m in makes if any(g.startswith("kernel/") for g in m)] == []  # no object compiled by name
    assert build("cold", "--from-scratch") == [("warn", ["#warning kept"]), ("pass", []), ("pass", [])]


def test_an_object_another_make_wrote_is_compiled_again_to_be_heard(tmp_path, monkeypatch, capsys):
    """What was heard speaks for an object only while it is the object it was heard for:
    written since by a make that did not group its output (the boot's make), and kept by
    the state's make, it is compiled again on its own to be heard."""
    import os
    w = fakelinux.series(tmp_path, monkeypatch, BASE, [HEARD_V1], tag="heard")
    argv = ["build", "--spec", str(w["spec"]), "--tree", str(w["tree"]), "--source", str(w["src"]),
            "--work-dir", str(w["work"]), "--targets", "x86_64", "--json", "--version", "1"]
    assert cli.main(argv) == 0
    first = json.loads(capsys.readouterr().out)["results"]
    last = max(w["work"].glob("trees/*/build-cache/*.json"), key=lambda p: p.stat().st_mtime_ns)
    said = json.loads(last.read_text())["entry"]["warnings"]
    assert [x["message"] for x in said] == ["#warning kept"]  # the last state: a.c's warning
    last.unlink()  # that state built again, on the O= it left
    (a,) = w["work"].glob("trees/*/builds/*/kernel/a.o")
    # another make wrote it after the state's checkout (here: an hour on), so make keeps it
    future = a.stat().st_mtime_ns + 3600 * 10**9
    os.utime(a, ns=(future, future))
    makes = _makes(monkeypatch)
    assert cli.main(argv) == 0
    again = json.loads(capsys.readouterr().out)["results"]
    assert [(c["word"], c["new_warnings"]) for c in again] == [(c["word"], c["new_warnings"]) for c in first]
    assert makes == [("vmlinux",), ("kernel/a.o",)]  # a.o heard again by name; b.o is known
    assert json.loads(last.read_text())["entry"]["warnings"] == said
