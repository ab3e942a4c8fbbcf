"""The checks registry on fakes: selection, needs, skip naming the package, a hung
checker recorded as error, checkpatch's output read, commit tags, findings followed
across versions by identity."""
from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from arena_patches import cli
from arena_patches.checks import checkpatch, commit_tags, history, registry, run as checks_run
from arena_patches.core.errors import UserError
from arena_patches.core.findings import Finding, new_by_identity
from arena_patches.core.model import FileStat, Patch, Person, Version
from arena_patches.core.runner import Runner
from arena_patches.core.verdicts import Status
from arena_patches.tree import repo as tree_mod
from tests import gittree, mailgen

AUTHOR = Person("Jane Dev", "jane@example.org")


def _patch(trailers=(("Signed-off-by", "Jane Dev <jane@example.org>"),), k=1, author=AUTHOR) -> Patch:
    return Patch(k, 2, f"m{k}@x", "demo: a thing", author, "Mon, 17 Nov 2025 16:01:44 +0000", 0.0,
                 "Does a thing.", tuple(trailers), "diff --git a/a.c b/a.c\n", (), (), "mem")


def _ctx(p: Patch, tmp_path: Path, wr=None, v=1, **kw) -> registry.PatchContext:
    ver = Version(v, 2, None, None, (p,), (), (), None)
    return registry.PatchContext(ver, p, tmp_path / "work", Runner(), wr, **kw)


def test_registry_holds_each_check_once_with_its_declarations():
    checks = registry.all_checks()
    assert {"checkpatch", "commit-tags"} <= set(checks)
    for c in checks.values():
        assert c.name and isinstance(c.scope, registry.Scope) and c.needs
    assert [c.name for c in registry.select("commit-tags,checkpatch")] == ["commit-tags", "checkpatch"]
    assert registry.select(None, disabled=True) == []
    with pytest.raises(UserError, match="unknown check nope"):
        registry.select("checkpatch,nope")


def test_a_missing_tool_is_skip_naming_the_package_never_pass(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpatch.Checkpatch, "tool", ("perl-not-installed-here", "perl"))
    r = checkpatch.Checkpatch().judge(_ctx(_patch(), tmp_path))
    assert r.status is Status.SKIP and "apt-get install perl" in r.detail


def test_a_hung_checker_is_killed_and_recorded_as_error(tmp_path):
    class Hangs(registry.Check):
        name, timeout = "hangs", 0.5

        def run(self, ctx):
            registry.timed_out(ctx.runner.run(["sleep", "30"], timeout=self.timeout), "sleep")
            return []
    r = Hangs().judge(_ctx(_patch(), tmp_path))
    assert r.status is Status.ERROR and "timed out" in r.detail and r.seconds < 10


CHECKPATCH_OUT = """\
WARNING:LONG_LINE: line length of 84 exceeds 80 columns
#100: FILE: kernel/bpf/arena.c:149:
+\t\treturn something_long;

ERROR:SPACING: space required before the open parenthesis '('
#101: FILE: kernel/bpf/arena.c:543:
+\tif(x)

CHECK:SPACING: No space is necessary after a cast
#95: FILE: tools/a.c:46:
WARNING:COMMIT_MESSAGE: Missing commit description - Add an appropriate one

"""


def test_checkpatch_output_becomes_findings_with_type_file_and_no_line_in_identity():
    fs = checkpatch.parse(CHECKPATCH_OUT)
    assert [(f.status, f.type, f.file, f.line) for f in fs] == [
        (Status.WARN, "LONG_LINE", "kernel/bpf/arena.c", 149), (Status.FAIL, "SPACING", "kernel/bpf/arena.c", 543),
        (Status.WARN, "SPACING", "tools/a.c", 46), (Status.WARN, "COMMIT_MESSAGE", "", None)]
    moved = [Finding(f.check, f.status, f.type, f.file, f.message, (f.line or 0) + 7) for f in fs]
    assert new_by_identity(moved, fs) == []  # a patch that moved lines brings nothing new
    assert registry.status_of(fs) is Status.FAIL


def test_the_mail_checkpatch_reads_is_the_patch_as_format_patch_writes_it():
    text = checkpatch.mail_text(_patch((("Signed-off-by", "Jane Dev <jane@example.org>"),
                                        ("Fixes", 'abcdef123456 ("x")'))))
    assert text.startswith("From: Jane Dev <jane@example.org>\n")
    assert "Subject: [PATCH 1/2] demo: a thing\n\nDoes a thing.\n\nSigned-off-by: Jane Dev" in text
    assert "Fixes: abcdef123456 (\"x\")\n---\ndiff --git" in text


def test_commit_tags_signoff_fixes_form_and_reported_by(tmp_path):
    c = commit_tags.CommitTags()
    assert c.judge(_ctx(_patch(), tmp_path)).status is Status.PASS
    bad = _patch((("Reported-by", "Bot <bot@x>"), ("Fixes", "abc123 (demo)"),
                  ("Signed-off-by", "Someone Else <else@x>")))
    r = c.judge(_ctx(bad, tmp_path))
    assert r.status is Status.FAIL
    assert {f.type for f in r.findings} == {"NO_AUTHOR_SIGNOFF", "FIXES_FORMAT", "REPORTED_BY_NO_CLOSES"}
    ok = _patch((("Reported-by", "Bot <bot@x>"), ("Closes", "https://x/y"),
                 ("Signed-off-by", "jane dev <JANE@example.org>")))
    assert c.judge(_ctx(ok, tmp_path)).findings == ()


def test_fixes_resolves_in_the_tree_and_its_subject_must_match(tmp_path):
    tree = gittree.make(tmp_path / "t", {"a.c": "int a;\n"})
    sha = gittree.run(tree, "rev-parse", "HEAD").strip()
    with tree_mod.work_repo(tree_mod.open_user_tree(tree), tmp_path / "w") as wr:
        c = commit_tags.CommitTags()
        right = _patch((("Fixes", f'{sha[:12]} ("base")'), ("Signed-off-by", str(AUTHOR))))
        wrong = _patch((("Fixes", f'{sha[:12]} ("not the base")'), ("Signed-off-by", str(AUTHOR))))
        unknown = _patch((("Fixes", 'abcdefabcdef ("elsewhere")'), ("Signed-off-by", str(AUTHOR))))
        assert c.judge(_ctx(right, tmp_path, wr)).findings == ()
        (f,) = c.judge(_ctx(wrong, tmp_path, wr)).findings
        assert f.type == "FIXES_SUBJECT" and '"base"' in f.message
        assert c.judge(_ctx(unknown, tmp_path, wr)).findings == ()  # not in this tree: nothing said


def _result(v, k, *types, status=Status.WARN):
    fs = tuple(Finding("checkpatch", Status.WARN, t, "a.c", "m", version=v, patch=k) for t in types)
    return registry.CheckResult("checkpatch", v, k, status, fs)


def test_findings_are_followed_across_versions_by_identity():
    rs = [_result(1, 2, "A"), _result(2, 2, "A", "B"), _result(3, 2, "X", status=Status.SKIP),
          _result(4, 2, "B"), _result(4, 1, "A")]
    out = history.follow(rs, {(v, k): 4 for v in range(1, 5) for k in (1, 2)})
    a1, = out[0].findings
    assert (a1.first_seen, a1.gone_in) == ("v1 2/4", "v4 2/4")  # v3 did not judge: not where it went
    b2 = out[1].findings[1]
    assert (b2.first_seen, b2.gone_in) == ("v2 2/4", None)
    assert [f.type for f in out[3].fixed] == ["A"]  # what v4 fixed against v2 (v3 skipped)
    assert out[4].findings[0].first_seen == "v4 1/4"  # another patch: its own history


def test_checks_command_without_a_tree_runs_the_mail_checks_and_skips_the_rest(tmp_path, capsys):
    mails = mailgen.series(1, 2)
    mails[2].body = mails[2].body.replace("Signed-off-by: Jane Dev <jane@example.org>", "Signed-off-by: Other <o@x.org>")
    src = tmp_path / "s.mbox"
    src.write_bytes(mailgen.mbox(mails))
    spec = tmp_path / "s.toml"
    spec.write_text('[series]\ntitle = "demo: a series"\n')
    rc = cli.main(["checks", "--spec", str(spec), "--source", str(src), "--json",
                   "--work-dir", str(tmp_path / "w")])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 1
    by = {(r["check"], r["patch"]): r for r in doc["checks"]}
    assert by[("commit-tags", 1)]["status"] == "pass" and by[("commit-tags", 2)]["status"] == "fail"
    assert by[("checkpatch", 1)]["status"] == "skip" and "--tree" in by[("checkpatch", 1)]["summary"]
    (f,) = doc["findings"]
    assert {k: f[k] for k in ("check", "version", "patch", "status", "type", "new", "first_seen")} == {
        "check": "commit-tags", "version": 1, "patch": 2, "status": "fail", "type": "NO_AUTHOR_SIGNOFF",
        "new": True, "first_seen": "v1 2/2"}
    assert cli.main(["checks", "--spec", str(spec), "--source", str(src), "--no-checks"]) == 3


def test_checks_command_names_an_unknown_check_exit_2(tmp_path, capsys):
    assert cli.main(["checks", "--source", str(tmp_path), "--checks", "nope", "--json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert "nope" in doc["error"]["message"] and doc["error"]["kind"] == "input"


def test_outcome_is_the_one_summary_of_the_checks():
    st, line = checks_run.outcome([_result(1, 1, "A"), _result(1, 2, status=Status.PASS)])
    assert st is Status.WARN and "1 new findings" in line
    assert checks_run.outcome([])[0] is Status.SKIP


def test_messages_lose_the_line_numbers_they_name():
    from arena_patches.core.findings import without_lines
    assert without_lines("kfree (memcpy on line 12)") == "kfree (memcpy on line N)"
    assert without_lines("see kernel/bpf/arena.c:12:4 and x.h:3") == "see kernel/bpf/arena.c and x.h"
    assert without_lines("#12: bad") == "#N: bad"
    assert without_lines("line length of 84 exceeds 80 columns") == "line length of 84 exceeds 80 columns"


def test_the_demo_expects_each_planted_finding_on_its_patch_and_nowhere_else():
    from types import SimpleNamespace

    from arena_patches.demo import expect
    from arena_patches.mail import spec as spec_mod
    want = spec_mod.load("arena-demo").raw["expect"]
    assert want["checks"] == {"commit-tags": ["v1 2/4"], "sparse": ["v1 3/4"], "kernel-doc": ["v1 4/4"]}
    series = SimpleNamespace(versions=[SimpleNamespace(version=v, total=4) for v in (1, 2, 3)])

    def run(*where):
        rs = [registry.CheckResult(c, v, k, Status.WARN,
                                   (Finding(c, Status.WARN, "t", "a.c", "m", new=new),)) for c, v, k, new in where]
        return SimpleNamespace(series=series, checks=rs, apply=(), boot=(), invariants=(), build=())
    found = run(("commit-tags", 1, 2, True), ("sparse", 1, 3, True), ("sparse", 1, 4, False),
                ("kernel-doc", 1, 4, True))
    assert expect.mismatches(found, {"checks": want["checks"]}) == []
    elsewhere = run(("commit-tags", 1, 2, True), ("sparse", 1, 3, True), ("sparse", 2, 3, True))
    assert expect.mismatches(elsewhere, {"checks": want["checks"]}) == [
        "checks kernel-doc: expected new findings on ['v1 4/4'], got []",
        "checks sparse: expected new findings on ['v1 3/4'], got ['v1 3/4', 'v2 3/4']"]


def test_the_build_and_the_invariants_report_through_the_same_finding():
    from arena_patches.core.verdicts import InvariantVerdict
    from arena_patches.invariants.evaluate import Cell, InvariantResult
    from arena_patches.invariants.rules import Rule
    from arena_patches.kbuild import diagnostics as dg
    (d,) = dg.parse("kernel/bpf/arena.c:96:5: warning: unused variable 'x' [-Wunused-variable]\n")
    f = d.finding()
    assert (f.check, f.status, f.type, f.file, f.line) == ("build", Status.WARN, "-Wunused-variable",
                                                          "kernel/bpf/arena.c", 96)
    rule = Rule("tlb", "include", "kernel/bpf/arena.c", "includes tlbflush", 2, 4)
    r = InvariantResult(rule, (Cell(1, 4, Status.FAIL, "absent"), Cell(2, 4, Status.PASS, ""),
                               Cell(3, 4, Status.FAIL, "absent")), 2, InvariantVerdict.REGRESSED)
    fs = r.findings()
    assert [(x.version, x.patch) for x in fs] == [(1, 4), (3, 4)] and len({x.identity for x in fs}) == 1
    assert new_by_identity([f, *fs], fs) == [f]


def test_sparse_and_w1_read_the_build_cells_new_vs_the_parent(tmp_path):
    from arena_patches.checks import sparse, w1
    from arena_patches.kbuild import diagnostics as dg
    from arena_patches.kbuild.matrix import BuildCell
    log = ("kernel/bpf/arena.c:93:6: warning: symbol 'f' was not declared. Should it be static?\n"
           "kernel/bpf/arena.c:40:1: warning: old thing\n"
           "include/linux/bpf.h:10:1: warning: not this patch's file\n")
    before = dg.parse("kernel/bpf/arena.c:38:1: warning: old thing\n")
    new_w = dg.parse("kernel/bpf/arena.c:9:5: warning: unused variable 'x' [-Wunused-variable]\n")
    cell = BuildCell(1, 3, "x86_64", "tiny", "gcc", Status.WARN, "c", new_warnings=tuple(new_w),
                     checker=tuple(dg.parse(log)), checker_before=tuple(before), checked=True)
    p = replace(_patch(k=3), files=(FileStat("kernel/bpf/arena.c", 1, 0, "modified"),))
    ctx = _ctx(p, tmp_path, wr=object(), base="b", commit="c", parent="p", cells=(cell,))
    r = sparse.Sparse().judge(ctx)
    assert [(f.message, f.new, f.line) for f in r.findings] == [
        ("symbol 'f' was not declared. Should it be static?", True, 93), ("old thing", False, 40)]
    assert r.status is Status.WARN and len(r.new) == 1
    assert w1.W1().judge(ctx).status is Status.SKIP  # the build ran without W=1
    (f,) = w1.W1().judge(replace(ctx, w1=True)).findings
    assert (f.check, f.type, f.file) == ("w1", "-Wunused-variable", "kernel/bpf/arena.c")
    unchecked = replace(ctx, cells=(replace(cell, checked=False),))
    assert sparse.Sparse().judge(unchecked).status is Status.SKIP
    assert sparse.wanted(registry.select("sparse")) is (shutil.which("sparse") is not None)


def test_the_terminal_shows_new_findings_where_they_went_and_what_a_version_fixed(capsys):
    from arena_patches.report import text
    rs = history.follow([_result(1, 2, "A", "B"), _result(2, 2, "B")], {(1, 2): 4, (2, 2): 4})
    text.print_checks(rs)
    out = capsys.readouterr().out
    assert "a.c: A: m (gone in v2 2/4)" in out and "fixed in v2 2 a.c: A: m" in out
    assert "warn  checks: 2 checks run, 3 new findings" in out


def test_a_checker_whose_tool_fails_is_error_and_the_others_still_run(tmp_path):
    class Broken(registry.Check):
        name = "broken"

        def run(self, ctx):
            ctx.runner.run(["/nonexistent/tool"])
            return []
    rs = checks_run.run([Broken(), commit_tags.CommitTags()], [_ctx(_patch(), tmp_path)])
    assert [r.status for r in rs] == [Status.ERROR, Status.PASS] and "not found" in rs[0].detail


def test_the_base_scripts_archive_is_extracted_safely_without_pythons_data_filter(tmp_path, monkeypatch):
    """Debian 12's python3 (3.11.2) has no tarfile "data" filter: the same rules hold."""
    import io
    import tarfile
    from arena_patches.checks import basetree
    from arena_patches.checks.registry import Failed
    monkeypatch.delattr(tarfile, "data_filter", raising=False)

    def archive(*members):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            for name, kind, target in members:
                info = tarfile.TarInfo(name)
                if kind == "link":
                    info.type, info.linkname = tarfile.SYMTYPE, target
                    t.addfile(info)
                else:
                    info.size = len(b"x")
                    t.addfile(info, io.BytesIO(b"x"))
        buf.seek(0)
        return tarfile.open(fileobj=buf)
    root = tmp_path / "ok"
    root.mkdir()
    basetree._extract(archive(("scripts/a.pl", "file", ""),
                              ("scripts/dtc/prefixes/arm", "link", "../../arch/arm")), root)
    assert (root / "scripts/a.pl").read_bytes() == b"x" and (root / "scripts/dtc/prefixes/arm").is_symlink()
    for bad in ((("../evil", "file", ""),), (("scripts/x", "link", "/etc/passwd"),),
                (("scripts/x", "link", "../../../out"),)):
        d = tmp_path / f"bad{len(list(tmp_path.iterdir()))}"
        d.mkdir()
        with pytest.raises(Failed):
            basetree._extract(archive(*bad), d)
        assert not any(d.rglob("*"))
