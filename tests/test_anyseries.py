"""Any series, with no spec written for it: series/ at the top, the spec chosen by the
mails' Message-IDs (none when none names them), nothing booted that no spec asks for."""
import json

from arena_patches import cli
from arena_patches.core.verdicts import Status
from arena_patches.mail import spec as spec_mod
from arena_patches.verify import compose
from arena_patches.verify.options import BuildOptions
from tests import mailgen


def _mails(tmp_path, mails, name="mails"):
    d = tmp_path / name
    d.mkdir()
    (d / "s.mbox").write_bytes(mailgen.mbox(mails))
    return d


def test_series_dir_holds_the_shipped_specs():
    assert {"arena-kfuncs", "arena-demo"} <= set(spec_mod.shipped())
    assert spec_mod.load("arena-kfuncs").path.endswith("arena-kfuncs/spec.toml")


def test_empty_spec_name_is_an_input_error(tmp_path, capsys):
    src = _mails(tmp_path, mailgen.series(1, 2))
    assert cli.main(["series", "--spec", "", "--source", str(src), "--json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert "--spec ''" in doc["error"]["message"]  # named as the empty input it is


def test_a_series_no_spec_names_gets_no_spec(tmp_path, capsys):
    src = _mails(tmp_path, mailgen.series(1, 2, title="net: frob the widget"))
    assert cli.main(["series", "--source", str(src), "--json"]) == 0
    out = capsys.readouterr()
    doc = json.loads(out.out)
    assert doc["series"]["title"] == "net: frob the widget"
    assert "arena" not in out.out.lower() and "arena" not in out.err.lower()


def test_the_spec_whose_message_ids_the_source_holds_is_chosen(tmp_path, capsys):
    mails = mailgen.series(1, 2, domain="arena-patches.invalid")
    for m in mails:  # the demo spec names demo-v1-0@arena-patches.invalid as v1's cover
        m.msgid = m.msgid.replace("v1-", "demo-v1-")
    src = _mails(tmp_path, mails)
    assert cli.main(["series", "--source", str(src), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["series"]["title"] == spec_mod.load("arena-demo").title


def test_no_boot_without_a_boot_table(arena_spec):
    bare = spec_mod.from_dict({"series": {"title": "net: frob"}}, "bare.toml")
    assert not spec_mod.has_boot(bare) and spec_mod.has_boot(arena_spec)
    outcomes = []
    got = compose._boot_stage(bare, None, object(), (), BuildOptions(), outcomes, None)
    assert got == [] and outcomes[0].status is Status.SKIP and "no [boot]" in outcomes[0].reason


# ---------------------------------------------------------------- a series from its mails alone

def _doc(capsys, argv, rc=0):
    assert cli.main([*argv, "--json"]) == rc
    return json.loads(capsys.readouterr().out)


def _retag(mails, old, new):
    for m in mails:
        m.msgid = m.msgid.replace(old, new)
        m.in_reply_to = m.in_reply_to and m.in_reply_to.replace(old, new)
        m.references = tuple(r.replace(old, new) for r in m.references)
    return mails


def test_two_postings_with_one_tag_are_two_versions(tmp_path, capsys):
    v1 = mailgen.series(1, 2)
    v2a = mailgen.series(2, 2, date="Wed, 12 Nov 2025 10:00:00 +0000")
    v2b = _retag(mailgen.series(2, 2, date="Fri, 14 Nov 2025 10:00:00 +0000",
                                changelog="Changes in v2:\n- fix the frob (Bob)\n"), "v2-", "v2b-")
    v3 = mailgen.series(3, 2, date="Sat, 15 Nov 2025 10:00:00 +0000", changelog="v1: https://lore.kernel.org/all/v1-0@example.org/\n"
                                        "v2: https://lore.kernel.org/all/v2b-0@example.org/\n\n"
                                        "Changes in v2->v3:\n- rename foo to bar\n")
    doc = _doc(capsys, ["series", "--source", str(_mails(tmp_path, v1 + v2a + v2b + v3))])
    assert [v["label"] for v in doc["versions"]] == ["v1", "v2", "v2#2", "v3"]
    assert [v["tag"] for v in doc["versions"]] == [1, 2, 2, 3]
    assert [v["cover"]["message_id"] for v in doc["versions"]] == ["v1-0@example.org", "v2-0@example.org",
                                                                  "v2b-0@example.org", "v3-0@example.org"]
    assert all(not p["resent_message_ids"] for v in doc["versions"] for p in v["patches"])
    # "v2->v3" means the posting v3's cover links as v2: the second one
    (claim,) = [c for c in doc["claims"] if "rename" in c["text"]]
    assert (claim["from"], claim["to"]) == (3, 4)
    (claim,) = [c for c in doc["claims"] if "frob" in c["text"]]
    assert (claim["from"], claim["to"]) == (1, 3)  # "Changes in v2" of the second v2: since v1


def test_unrelated_series_are_split_and_the_asked_one_chosen(tmp_path, capsys):
    a = mailgen.series(1, 2, title="net: frob the widget") + mailgen.series(2, 2, title="net: frob the widget")
    b = mailgen.series(1, 1, title="mm: tidy the pages", domain="other.org")
    for m in b:
        m.sender = "Max Other <max@other.org>"
        m.subject = m.subject.replace("demo: patch number", "mm: page step")
    src = _mails(tmp_path, a + b)
    doc = _doc(capsys, ["series", "--source", str(src)], rc=2)
    assert "2 unrelated series" in doc["error"]["message"] and "mm: tidy the pages" in doc["error"]["message"]
    doc = _doc(capsys, ["series", "--source", str(src), "--series", "tidy pages"])
    assert doc["series"]["title"] == "mm: tidy the pages" and len(doc["versions"]) == 1
    assert {x["message_id"] for x in doc["left_out"]} == {m.msgid for m in a}
    assert all("another series: \"net: frob the widget\"" in x["why"] for x in doc["left_out"])


def test_versions_joined_by_change_id_and_by_threading(tmp_path, capsys):
    v1 = mailgen.series(1, 1, title="first title")
    v2 = mailgen.series(2, 1, title="a new title", changelog="change-id: 20251110-frob-abc\n")
    v1[0].body += "\nchange-id: 20251110-frob-abc\n"
    for m in v2[1:]:
        m.subject = m.subject.replace("demo: patch number", "demo: renamed patch")
    v3 = mailgen.series(3, 1, title="third title")
    v3[0].in_reply_to, v3[0].references = "v2-0@example.org", ("v2-0@example.org",)
    for m in v3[1:]:
        m.subject = m.subject.replace("demo: patch number", "demo: other patch")
    for m in v1 + v2 + v3:
        m.sender = "Jane Dev <jane@example.org>" if m in v1 else m.sender
    doc = _doc(capsys, ["series", "--source", str(_mails(tmp_path, v1 + v2 + v3))])
    assert [v["label"] for v in doc["versions"]] == ["v1", "v2", "v3"]


def test_patches_without_a_cover_and_a_cover_without_patches(tmp_path, capsys):
    v1 = mailgen.series(1, 2)[1:]  # no cover
    v2 = mailgen.series(2, 2, title="demo: another title",  # only the cover, linking v1's
                        changelog="v1: https://lore.kernel.org/all/v1-0@example.org/\n")[:1]
    doc = _doc(capsys, ["series", "--source", str(_mails(tmp_path, v1 + v2))])
    assert [v["label"] for v in doc["versions"]] == ["v1", "v2"]
    assert doc["versions"][0]["cover"]["present"] is False
    assert doc["versions"][1]["missing"] == [1, 2]


# ---------------------------------------------------------------- claims judged on the mails

def _patch(v, k, n, title, lines, trailers=(), msg="Does a thing."):
    body = (f"{msg}\n\n" + "".join(f"{t}\n" for t in trailers)
            + "Signed-off-by: Jane Dev <jane@example.org>\n---\n lib/demo.c | 1 +\n\n"
            f"diff --git a/lib/demo.c b/lib/demo.c\nindex 1111111..2222222 100644\n--- a/lib/demo.c\n"
            f"+++ b/lib/demo.c\n@@ -1,2 +1,{2 + len(lines)} @@\n line one\n"
            + "".join(f"+{l}\n" for l in lines) + " line two\n-- \n2.47.3\n")
    cover = f"v{v}-0@example.org"
    tag = f"PATCH v{v}" if v > 1 else "PATCH"
    return mailgen.Mail(f"v{v}-{k}@example.org", f"[{tag} {k}/{n}] {title}", body, in_reply_to=cover,
                        references=(cover,), date=f"Mon, {10 + v} Nov 2025 10:00:0{k} +0000")


def _cover(v, n, changelog):
    tag = f"PATCH v{v}" if v > 1 else "PATCH"
    return mailgen.Mail(f"v{v}-0@example.org", f"[{tag} 0/{n}] demo: frob", f"{changelog}\n\nFrob.\n",
                        date=f"Mon, {10 + v} Nov 2025 10:00:00 +0000")


def _claims_series(tmp_path):
    v1 = [_cover(1, 1, ""), _patch(1, 1, 1, "demo: frob", ["int frob_ctx(struct dev *ctx);",
                                                          "static int old_helper(void);"])]
    v2 = [_cover(2, 2, "Changes in v2:\n- Rename old_helper() to new_helper()\n"
                       "- Renamed ctx to priv\n- Use size_t for the count\n"
                       "- Added Reviewed-by from Bob\n- Make it go faster\n"),
          _patch(2, 1, 2, "demo: frob", ["int frob_ctx(struct dev *ctx);", "static int new_helper(void);",
                                        "size_t count;"], trailers=("Reviewed-by: Bob <bob@example.org>",)),
          _patch(2, 2, 2, "demo: more frob", ["int more;"])]
    v3 = [_cover(3, 2, "Changes in v3:\n- Drop new_helper()\n"),
          _patch(3, 1, 2, "demo: frob", ["int frob_ctx(struct dev *ctx);", "size_t count;"],
                 trailers=("Reviewed-by: Bob <bob@example.org>",)),
          _patch(3, 2, 2, "demo: more frob", ["int more;"], trailers=("Acked-by: Al <al@example.org>",))]
    return _mails(tmp_path, v1 + v2 + v3)


def test_each_claim_kind_judged_and_a_false_rename_contradicted(tmp_path, capsys):
    src = _claims_series(tmp_path)
    rc = cli.main(["diff", "--source", str(src), "--from", "1", "--to", "2", "--json"])
    doc = json.loads(capsys.readouterr().out)
    got = {c["text"]: (c["kind"], c["verdict"]) for c in doc["claims"]}
    assert got["Rename old_helper() to new_helper()"] == ("rename", "holds")
    assert got["Renamed ctx to priv"] == ("rename", "contradicted")
    assert got["Use size_t for the count"] == ("type-change", "holds")
    assert got["Added Reviewed-by from Bob"] == ("trailers", "holds")
    assert got["Make it go faster"] == ("other", "unjudged")
    (bad,) = [c for c in doc["claims"] if c["verdict"] == "contradicted"]
    assert bad["evidence"] == "v2 1/2 still adds ctx: int frob_ctx(struct dev *ctx);"
    assert rc == 1 and doc["status"] == "fail" and doc["claim_counts"] == {
        "holds": 3, "contradicted": 1, "unjudged": 1}
    (row,) = [p for p in doc["comparisons"][0]["patches"] if p["number"] == 2]
    assert (row["change"], row["flag"]) == ("added", "undocumented")


def test_trailers_that_appear_unclaimed_are_undocumented_and_a_range_counts_every_step(tmp_path, capsys):
    src = _claims_series(tmp_path)
    rc = cli.main(["diff", "--source", str(src), "--from", "2", "--to", "3", "--json"])
    doc = json.loads(capsys.readouterr().out)
    (row,) = [p for p in doc["comparisons"][0]["patches"] if p["number"] == 2]
    assert row["flag"] == "undocumented" and "Acked-by: Al" in row["reason"]
    assert [c["verdict"] for c in doc["claims"]] == ["holds"]  # "Drop new_helper()"
    assert rc == 0 and doc["status"] == "warn"
    cli.main(["diff", "--source", str(src), "--from", "1", "--to", "3", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert sum(doc["claim_counts"].values()) == 6  # v1->v2's five and v2->v3's one


def test_claims_none_of_which_could_be_judged_are_not_a_pass(tmp_path, capsys):
    same = ["int frob;"]
    v1 = [_cover(1, 1, ""), _patch(1, 1, 1, "demo: frob", same)]
    v2 = [_cover(2, 1, "Changes in v2:\n- Make it go faster\n"), _patch(2, 1, 1, "demo: frob", same)]
    rc = cli.main(["diff", "--source", str(_mails(tmp_path, v1 + v2)), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["claim_counts"] == {"holds": 0, "contradicted": 0, "unjudged": 1}
    assert doc["status"] == "skip" and rc == 3 and "not a pass" in doc["summary"]


# ---------------------------------------------------------------- spec draft

def test_spec_draft_and_a_run_without_a_spec_is_a_run_with_its_draft(tmp_path, capsys, monkeypatch):
    src = _claims_series(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["spec", "draft", "--source", str(src), "--name", "frob"]) == 0
    written = tmp_path / "series" / "frob" / "spec.toml"
    text = written.read_text()
    assert 'cover = "v2-0@example.org"' in text and "[boot]\n" not in text
    assert "# v1->v2: Renamed ctx to priv\n[[claims]]" in text and 'kind = "rename"' in text
    assert 'targets = ["x86_64", "i386", "arm64"]' in text
    spec = spec_mod.load(str(written))
    assert [v.cover for v in spec.versions] == ["v1-0@example.org", "v2-0@example.org", "v3-0@example.org"]
    capsys.readouterr()
    without = _doc(capsys, ["diff", "--source", str(src)], rc=1)
    with_draft = _doc(capsys, ["diff", "--source", str(src), "--spec", str(written)], rc=1)
    assert without == with_draft
    by_name = _doc(capsys, ["diff", "--source", str(src), "--spec", "frob"], rc=1)
    assert by_name == without
    # a draft never overwrites, and a name is a directory name
    assert cli.main(["spec", "draft", "--source", str(src), "--name", "frob", "--json"]) == 2
    assert "exists" in json.loads(capsys.readouterr().out)["error"]["message"]
    assert cli.main(["spec", "draft", "--source", str(src), "--name", "../x", "--json"]) == 2
    capsys.readouterr()


def test_a_lone_cover_is_said_and_a_diff_of_one_version_is_no_pass(tmp_path, capsys):
    src = _mails(tmp_path, mailgen.series(2, 3)[:1])
    doc = _doc(capsys, ["series", "--source", str(src)])
    assert any("a cover letter without patches" in p["message"] for p in doc["problems"])
    doc = _doc(capsys, ["diff", "--source", str(src)], rc=3)
    assert doc["status"] == "skip" and "nothing to compare" in doc["summary"]
    # boot says what is missing: no patch, not "patch 1 does not apply"
    from tests import gittree
    t = gittree.make(tmp_path / "user", {"lib/demo.c": "int x;\n"})
    spec = tmp_path / "s.toml"
    spec.write_text('[series]\ntitle = "demo: a series"\n[boot]\ntargets = ["x86_64"]\n')
    doc = _doc(capsys, ["boot", "--source", str(src), "--spec", str(spec), "--tree", str(t),
                        "--work-dir", str(tmp_path / "w")], rc=2)
    assert "v2 holds no patch (a cover letter alone)" in doc["error"]["message"]


def test_check_without_a_spec_assumes_no_invariants(tmp_path, capsys):
    (tmp_path / "c").mkdir()
    doc = _doc(capsys, ["check", "--files", str(tmp_path / "c")], rc=2)
    assert "no [[invariants]]" in doc["error"]["message"] and "--spec" in doc["error"]["hint"]


def test_verify_without_a_spec_applies_and_boots_nothing(tmp_path, capsys):
    from tests import gittree
    from tests.test_gate import C, TEXT, three_versions
    from arena_patches.demo import mkseries
    t = gittree.make(tmp_path / "user", {C: TEXT})
    src = tmp_path / "mails"
    mkseries.write(t, "HEAD", "t: series", three_versions()[:1], src, tag="t")
    before = gittree.snapshot(t)
    rc = cli.main(["verify", "--source", str(src), "--tree", str(t), "--work-dir", str(tmp_path / "w"),
                   "--no-build", "--json"])
    doc = json.loads(capsys.readouterr().out)
    stages = {s["name"]: s for s in doc["stages"]}
    assert stages["apply"]["status"] == "pass"
    assert stages["boot"]["status"] == "skip" and "no [boot]" in stages["boot"]["reason"]
    assert stages["invariants"]["status"] == "skip"
    assert doc["series"]["series"]["title"] == "t: series" and rc == 0
    assert gittree.snapshot(t) == before


def test_a_spec_naming_two_covers_of_one_tag_keeps_both(tmp_path, capsys):
    v2a = mailgen.series(2, 2, date="Wed, 12 Nov 2025 10:00:00 +0000")
    v2b = _retag(mailgen.series(2, 2, date="Fri, 14 Nov 2025 10:00:00 +0000"), "v2-", "v2b-")
    src = _mails(tmp_path, mailgen.series(1, 2) + v2a + v2b)
    spec = tmp_path / "s.toml"
    spec.write_text('[series]\ntitle = "demo: a series"\n' + "".join(
        f'[[versions]]\nversion = {v}\ncover = "{c}"\n' for v, c in
        ((1, "v1-0@example.org"), (2, "v2-0@example.org"), (2, "v2b-0@example.org"))))
    doc = _doc(capsys, ["series", "--source", str(src), "--spec", str(spec)])
    assert [v["label"] for v in doc["versions"]] == ["v1", "v2", "v2#2"]
    assert all(not p["resent_message_ids"] for v in doc["versions"] for p in v["patches"])


def test_version_is_picked_by_the_name_reports_show_not_the_internal_number(tmp_path, capsys):
    """Two postings tagged v2 renumber the versions 1..4: `--version 3` (or v3) is the
    posting tagged v3, never the second v2 (internal number 3); `v2#2` names that one."""
    from arena_patches.verify import stages
    v2a = mailgen.series(2, 2, date="Wed, 12 Nov 2025 10:00:00 +0000")
    v2b = _retag(mailgen.series(2, 2, date="Fri, 14 Nov 2025 10:00:00 +0000"), "v2-", "v2b-")
    v3 = mailgen.series(3, 2, date="Sat, 15 Nov 2025 10:00:00 +0000")
    src = _mails(tmp_path, mailgen.series(1, 2) + v2a + v2b + v3)
    bare = spec_mod.from_dict({"series": {"title": ""}}, "<no spec>")
    s = stages.load_series(bare, str(src))
    by_number = {v.version: v for v in s.versions}
    name = lambda picked: [by_number[n].name for n in picked]
    assert [v.name for v in s.versions] == ["v1", "v2", "v2#2", "v3"]
    assert name(stages.pick_versions(s, "3")) == name(stages.pick_versions(s, "v3")) == ["v3"]
    assert name(stages.pick_versions(s, "V2#2")) == ["v2#2"]
    assert name(stages.pick_versions(s, "v2")) == ["v2"]
    assert len(stages.pick_versions(s, "all")) == 4
    from tests import gittree
    t = gittree.make(tmp_path / "user", {"lib/demo.c": "int x;\n"})
    rc = cli.main(["apply", "--source", str(src), "--tree", str(t), "--work-dir", str(tmp_path / "w"),
                   "--version", "4", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 2 and doc["error"]["input"] == "--version 4"
    assert "v1, v2, v2#2, v3" in doc["error"]["message"]
