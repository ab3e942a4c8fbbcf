"""The gate never lies: one exit policy, nothing judged is never "pass", JSON errors are
documents, and the user's git config, a relative work dir or a stranger's Date: header do
not change what a run does."""
import json

import pytest

from arena_patches import cli
from arena_patches.demo import mkseries
from arena_patches.core.verdicts import Status, exit_code, overall
from arena_patches.verify.compose import StageOutcome, Verification
from tests import gittree
from tests.test_apply import C, TEXT, three_versions


def test_one_exit_policy():
    P, W, F, S, E = Status.PASS, Status.WARN, Status.FAIL, Status.SKIP, Status.ERROR
    assert [exit_code(x) for x in ([P, W], [P, F, E], [P, E], [S, S], [], [W, S])] == [0, 1, 3, 3, 3, 0]
    assert overall([S, S]) is S  # nothing judged: never pass


def test_verify_that_judged_no_code_is_not_a_pass():
    v = Verification(None, (), (StageOutcome("series", Status.PASS, ""), StageOutcome("apply", Status.SKIP, ""),
                                StageOutcome("build", Status.SKIP, ""), StageOutcome("invariants", Status.SKIP, ""),
                                StageOutcome("diff", Status.WARN, "")))
    assert v.status is Status.SKIP
    v = Verification(None, (), (StageOutcome("apply", Status.PASS, ""), StageOutcome("build", Status.ERROR, "")))
    assert v.status is Status.ERROR


def test_json_errors_are_documents(tmp_path, capsys):
    rc = cli.main(["series", "--spec", str(tmp_path / "nope.toml"), "--source", str(tmp_path), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 2 and doc["error"]["kind"] == "input" and "nope.toml" in doc["error"]["message"]


@pytest.fixture
def series_on_tree(tmp_path):
    t = gittree.make(tmp_path / "user", {C: TEXT})
    src = tmp_path / "mails"
    mkseries.write(t, "HEAD", "t: series", three_versions()[:1], src, tag="t")
    spec = tmp_path / "spec.toml"
    spec.write_text('[series]\ntitle = "t: series"\n')
    return t, src, spec


def test_user_git_config_and_relative_work_dir(series_on_tree, tmp_path, capsys, monkeypatch):
    t, src, spec = series_on_tree
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[commit]\n\tgpgsign = true\n[apply]\n\twhitespace = error\n"
                                     "[gpg]\n\tprogram = /bin/false\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    before = gittree.snapshot(t)
    rc = cli.main(["apply", "--spec", str(spec), "--source", str(src), "--tree", str(t),
                   "--work-dir", "rel-work", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0, doc
    assert [p["status"] for p in doc["versions"][0]["patches"]] == ["applied"] * 3
    assert (tmp_path / "rel-work" / "trees").is_dir()
    assert not list((tmp_path / "rel-work").rglob("rel-work"))  # the clone did not nest itself
    assert gittree.snapshot(t) == before


def test_a_malformed_date_header_does_not_stop_apply(series_on_tree, tmp_path, capsys):
    t, src, spec = series_on_tree
    for f in src.rglob("*"):
        if f.is_file():
            f.write_bytes(f.read_bytes().replace(b"\nDate: ", b"\nDate: not a date at all -- ", 1))
    rc = cli.main(["apply", "--spec", str(spec), "--source", str(src), "--tree", str(t),
                   "--work-dir", str(tmp_path / "w"), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0 and [p["status"] for p in doc["versions"][0]["patches"]] == ["applied"] * 3


@pytest.mark.parametrize("rule, message", [
    ({"kind": "not-calls", "function": "f"}, "needs callee"),
    ({"kind": "not-calls", "function": "f", "calee": "x", "callee": "y"}, "calee: not an argument"),
    ({"kind": "called-after", "function": "f", "first": "a(", "then": "b"}, "not a regular expression"),
    ({"kind": "include", "header": 3}, "header must be a string"),
    ({"kind": "error-path-calls", "function": "f", "after": "a", "callees": "b"}, "callees must be a list"),
    ({"kind": "calls", "function": "f", "callee": "g", "claimed_in": "v3"}, "claimed_in must be"),
])
def test_rule_arguments_are_checked_when_the_spec_is_read(rule, message, tmp_path, capsys):
    from arena_patches.invariants import rules
    from arena_patches.core.errors import UserError
    raw = {"invariants": [{"id": "r1", "file": "x.c", **rule}]}
    with pytest.raises(UserError, match=message):
        rules.from_spec(raw, "s.toml")


def test_parses_is_not_fooled_by_binary_or_empty_files():
    from arena_patches.invariants import rules
    r = rules.Rule("p", "parses", "x.c", "", None, None)
    assert rules.evaluate(r, "").status is Status.SKIP
    assert rules.evaluate(r, "\x00\x01ELF\x02" * 50).status is Status.FAIL
    assert rules.evaluate(r, "}{ not c at all ((( ;;").status is Status.FAIL
    assert rules.evaluate(r, "int f(void)\n{\n\treturn 0;\n}\n").status is Status.PASS


def test_every_run_judges_the_users_tree_as_it_is_now(tmp_path, capsys):
    t = gittree.make(tmp_path / "user", {"k/a.c": "int f(void)\n{\n\treturn good();\n}\n"})
    gittree.run(t, "checkout", "-q", "-b", "other")
    (t / "k/a.c").write_text("int f(void)\n{\n\treturn bad();\n}\n")
    gittree.run(t, "commit", "-q", "-am", "other")
    gittree.run(t, "checkout", "-q", "main")
    spec = tmp_path / "s.toml"
    spec.write_text('[series]\ntitle = "t"\n[[invariants]]\nid = "calls-good"\nfile = "k/a.c"\n'
                    'kind = "calls"\nfunction = "f"\ncallee = "good"\n')
    work = str(tmp_path / "w")

    def check():
        rc = cli.main(["check", "--tree", str(t), "--spec", str(spec), "--work-dir", work, "--json"])
        doc = json.loads(capsys.readouterr().out)
        return rc, doc["invariants"][0]["results"][0]["status"], doc["commit"]
    head = gittree.run(t, "rev-parse", "HEAD").strip()
    assert check() == (0, "pass", head)
    gittree.run(t, "checkout", "-q", "other")  # the user switches branch: the same work dir
    other = gittree.run(t, "rev-parse", "HEAD").strip()
    assert check() == (1, "fail", other)
    gittree.run(t, "checkout", "-q", "--detach", head)  # and detaches HEAD
    assert check() == (0, "pass", head)
    # history rewritten at the same path (a new repository): the private clone is remade
    import shutil
    shutil.rmtree(t)
    t2 = gittree.make(tmp_path / "user", {"k/a.c": "int f(void)\n{\n\treturn bad();\n}\n"})
    assert check() == (1, "fail", gittree.run(t2, "rev-parse", "HEAD").strip())


def test_base_may_name_a_tag_or_a_remote_tracking_branch(series_on_tree, tmp_path, capsys):
    t, src, spec = series_on_tree
    gittree.run(t, "tag", "v-base")
    gittree.run(t, "update-ref", "refs/remotes/origin/main", "HEAD")
    for base in ("v-base", "origin/main"):
        rc = cli.main(["apply", "--spec", str(spec), "--source", str(src), "--tree", str(t),
                       "--work-dir", str(tmp_path / "w"), "--base", base, "--json"])
        doc = json.loads(capsys.readouterr().out)
        assert rc == 0 and doc["versions"][0]["base_rule"] == "flag", base


def test_bad_work_dirs_and_specs_are_named_not_tracebacks(series_on_tree, tmp_path, capsys):
    t, src, spec = series_on_tree
    afile = tmp_path / "afile"
    afile.write_text("x")
    nospec = tmp_path / "nospec"  # a directory, but without the spec.toml a series directory holds
    nospec.mkdir()
    for argv, named in ((["apply", "--spec", str(spec), "--source", str(src), "--tree", str(t),
                          "--work-dir", str(afile)], "--work-dir"),
                        (["series", "--spec", str(nospec), "--source", str(src)], str(nospec)),
                        (["check", "--files", str(afile)], "--files")):
        rc = cli.main([*argv, "--json"])
        out = capsys.readouterr()
        doc = json.loads(out.out)
        assert rc == 2 and named in doc["error"]["message"] and "Traceback" not in out.err, argv


def test_rich_markup_in_names_and_mails_is_printed_not_parsed(tmp_path, capsys):
    d = tmp_path / "[bold]mails[" / "[/x]"
    d.mkdir(parents=True)
    (d / "[red]a[b].eml").write_text("From: A <a@b.example>\nSubject: [PATCH 1/2] x: [/bold] y\n"
                                   "Message-ID: <z@q>\nDate: Mon, 1 Dec 2025 10:00:00 +0000\n\nno diff here [/]\n")
    spec = tmp_path / "s.toml"
    spec.write_text('[series]\ntitle = "x: [/bold] y"\n')
    rc = cli.main(["series", "--spec", str(spec), "--source", str(tmp_path / "[bold]mails[")])
    out = capsys.readouterr()
    assert "Traceback" not in out.err and "MarkupError" not in out.err
    assert rc in (0, 2)


def test_numbering_and_duplicate_ids_are_said_not_silent(tmp_path):
    from arena_patches.verify import stages
    from arena_patches.mail import spec as spec_mod
    from tests import mailgen
    src = tmp_path / "m"
    src.mkdir()
    mails = mailgen.series(1, 2)
    mails[0].body = mailgen.patch_body(1, 0) + mails[0].body  # a 0/2 carrying a diff
    extra = mailgen.Mail("v1-5@example.org", "[PATCH 5/2] demo: patch number 5", mailgen.patch_body(1, 5),
                         in_reply_to=mails[0].msgid, references=(mails[0].msgid,))
    (src / "a.mbox").write_bytes(mailgen.mbox(mails + [extra]))
    (src / "b.mbox").write_bytes(mailgen.mbox(mails[1:2]).replace(b"Subject: ", b"Subject: changed ", 1))
    spec = spec_mod.from_dict({"series": {"title": "demo: a series"}}, "s.toml")
    said = [p.message for p in stages.load_series(spec, str(src)).problems]
    assert any("with a different subject or body: the first (in path order) is used" in m for m in said)
    assert any("0/2 carries a diff: read as the cover letter" in m for m in said)
    assert any("patch 5/2: numbered above the series' count" in m for m in said)
