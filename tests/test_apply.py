"""Apply on small real git trees: statuses, commit chains, base rules, bad input, faults.
The 6.12 kernel versions of these are in test_apply_kernel.py."""
import json
import os
import threading

import pytest

from arena_patches import cli
from arena_patches.demo import mkseries
from arena_patches.verify import stages
from arena_patches.mail import spec as spec_mod
from arena_patches.tree import repo as tree_mod
from arena_patches.tree.base import BaseRule
from arena_patches.core.verdicts import ApplyStatus
from arena_patches.core.errors import InfraError, UserError
from arena_patches.demo.mkseries import Edit, PatchSpec, VersionSpec
from tests import gittree, mailgen

C = "lib/demo.c"
TEXT = "".join(f"line {i}\n" for i in range(1, 40))


def p(subject, *edits):
    return PatchSpec(subject, "Body of " + subject, tuple(edits))


def series_spec(tmp_path, title="t: series"):
    f = tmp_path / "spec.toml"
    f.write_text(f'[series]\ntitle = "{title}"\n')
    return spec_mod.load(str(f))


@pytest.fixture
def user_tree(tmp_path):
    t = gittree.make(tmp_path / "user", {C: TEXT, "README": "hello\n"})
    # A dirty user tree is fine: it is never touched.
    (t / "README").write_text("local edit\n")
    (t / "untracked.txt").write_text("mine\n")
    return t


def three_versions():
    a = p("demo: one", Edit(C, "line 3\n", "line 3 changed\n"))
    b = p("demo: two", Edit(C, "line 20\n", "line 20 changed\n"))
    c = p("demo: three", Edit(C, "line 20 changed\n", "line 20 changed twice\n"))
    a2 = p("demo: one", Edit(C, "line 20\n", "line 20 edited after two was made\n"))
    return [VersionSpec(1, (a, b, c)),
            VersionSpec(2, (a, b, c), drop=(2,)),
            VersionSpec(3, (a, b, c), sent_instead={1: a2})]


def run_apply(user_tree, tmp_path, versions, base=None):
    src = tmp_path / "mails"
    mkseries.write(user_tree, "HEAD", "t: series", versions, src, tag="t")
    spec = series_spec(tmp_path)
    s = stages.load_series(spec, str(src))
    ut = tree_mod.open_user_tree(user_tree)
    with tree_mod.work_repo(ut, tmp_path / "work") as wr:
        res = stages.apply_series(s, wr, [v.version for v in s.versions], base)
        return s, res, wr


def test_statuses_chain_and_user_tree_untouched(user_tree, tmp_path):
    before = gittree.snapshot(user_tree)
    s, res, wr = run_apply(user_tree, tmp_path, three_versions())
    assert gittree.snapshot(user_tree) == before
    got = {r.version: [x.status for x in r.patches] for r in res}
    A, C3, S, SUB = ApplyStatus.APPLIED, ApplyStatus.CONFLICT, ApplyStatus.SKIPPED, ApplyStatus.SUBSTITUTED
    # v2 2/3 is missing, but v1 2/3's post-image is exactly v2 3/3's pre-image: it stands in
    assert got == {1: [A, A, A], 2: [A, SUB, A], 3: [A, C3, S]}
    sub = res[1].patches[1]
    assert sub.stands_in == "t-v1-2@arena-patches.invalid" and "v1 2/3 <t-v1-2@arena-patches.invalid> stands in" in sub.detail
    assert "is v2 3/3's pre-image" in sub.detail
    v1 = res[0]
    assert v1.base_rule is BaseRule.BLOB_GUESS and v1.base == before["head"].strip()
    # patch k's commit has 1..k-1 under it, and carries the mail's author, date, message
    chain = gittree.run(wr.repo, "rev-list", "--reverse", f"{v1.base}..{v1.head}").split()
    assert chain == [x.commit for x in v1.patches]
    log = gittree.run(wr.repo, "log", "-1", "--format=%an <%ae>|%ad|%s|%b", "--date=unix",
                      v1.patches[1].commit)
    assert log.startswith("Demo Author <demo@arena-patches.invalid>|1767312002|demo: two|Body of demo: two\n\n"
                          "Signed-off-by: Demo Author <demo@arena-patches.invalid>\n"
                          "Link: <t-v1-2@arena-patches.invalid>\n")
    assert "missing from the source" in sub.detail
    conflict = res[2].patches[1]
    assert [(c.file, c.hunk.split(" @@")[0]) for c in conflict.conflicts] == [(C, "@@ -17,7 +17,7")]
    assert "patch failed: lib/demo.c:17" in conflict.detail


def test_commits_are_deterministic_and_cached(user_tree, tmp_path):
    _, first, _ = run_apply(user_tree, tmp_path, three_versions()[:1])
    (tmp_path / "mails").rename(tmp_path / "mails-old")
    _, again, wr = run_apply(user_tree, tmp_path, three_versions()[:1])
    assert [x.commit for x in again[0].patches] == [x.commit for x in first[0].patches]
    assert list((wr.root / "apply-cache").glob("*.json"))


def test_base_rules(user_tree, tmp_path):
    gittree.run(user_tree, "commit", "-q", "--allow-empty", "-m", "newer")
    old = gittree.run(user_tree, "rev-parse", "HEAD~1").strip()
    a = p("demo: one", Edit(C, "line 3\n", "line 3 changed\n"))
    versions = [VersionSpec(1, (a,)), VersionSpec(2, (a,), base_commit_trailer=True)]
    src = tmp_path / "mails"
    mkseries.write(user_tree, old, "t: series", versions, src, tag="t")
    s = stages.load_series(series_spec(tmp_path), str(src))
    ut = tree_mod.open_user_tree(user_tree)
    with tree_mod.work_repo(ut, tmp_path / "work") as wr:
        r1, r2 = stages.apply_series(s, wr, [1, 2])
        (flag,) = stages.apply_series(s, wr, [1], base="HEAD")
    assert (r1.base_rule, r2.base_rule, r2.base, flag.base_rule) == (
        BaseRule.BLOB_GUESS, BaseRule.BASE_COMMIT, old, BaseRule.FLAG)
    assert r1.base == gittree.run(user_tree, "rev-parse", "HEAD").strip()  # newest match


def test_head_rule_warns_and_missing_base_is_not_a_conflict(user_tree, tmp_path):
    f = tmp_path / "s.mbox"
    f.write_bytes(mailgen.mbox(mailgen.series(1, 1)))  # index 1111111: no such blob
    s = stages.load_series(series_spec(tmp_path, "demo: a series"), str(f))
    with tree_mod.work_repo(tree_mod.open_user_tree(user_tree), tmp_path / "w") as wr:
        (r,) = stages.apply_series(s, wr, [1])
    assert r.base_rule is BaseRule.HEAD and "using HEAD" in r.warnings[0]
    assert r.patches[0].status is ApplyStatus.BASE_MISSING
    assert "lib/demo.c 1111111" in r.patches[0].detail


def test_paths_outside_the_tree_are_refused(user_tree, tmp_path):
    mails = mailgen.series(1, 2)
    mails[1].body = mails[1].body.replace("a/lib/demo.c", "a/../../evil.c").replace(
        "b/lib/demo.c", "b/../../evil.c")
    mails[2].body = mails[2].body.replace("lib/demo.c", "/etc/passwd")
    f = tmp_path / "evil.mbox"
    f.write_bytes(mailgen.mbox(mails))
    s = stages.load_series(series_spec(tmp_path, "demo: a series"), str(f))
    with tree_mod.work_repo(tree_mod.open_user_tree(user_tree), tmp_path / "w") as wr:
        (r,) = stages.apply_series(s, wr, [1])
        s2 = stages.load_series(series_spec(tmp_path, "demo: a series"), str(f))
    assert [x.status for x in r.patches] == [ApplyStatus.REFUSED, ApplyStatus.SKIPPED]
    assert r.patches[0].conflicts[0].file == "../../evil.c"
    assert not (tmp_path / "evil.c").exists() and not (tmp_path.parent / "evil.c").exists()
    assert s2.version(1).patch(2) is not None
    from arena_patches.tree.apply import unsafe_paths
    assert unsafe_paths(s2.version(1).patch(2)) == ["/etc/passwd"]


def test_bad_trees(tmp_path):
    with pytest.raises(UserError, match="no such directory"):
        tree_mod.open_user_tree(tmp_path / "nope")
    (tmp_path / "plain").mkdir()
    with pytest.raises(UserError, match="not a git tree"):
        tree_mod.open_user_tree(tmp_path / "plain")
    gittree.run(tmp_path, "init", "-q", "empty")
    with pytest.raises(UserError, match="no commit"):
        tree_mod.open_user_tree(tmp_path / "empty")


def test_bare_repo_works(user_tree, tmp_path):
    bare = tmp_path / "bare.git"
    gittree.run(tmp_path, "clone", "-q", "--bare", str(user_tree), str(bare))
    before = gittree.snapshot(bare)
    a = p("demo: one", Edit(C, "line 3\n", "line 3 changed\n"))
    mkseries.write(bare, "HEAD", "t: series", [VersionSpec(1, (a,))], tmp_path / "m", tag="t")
    s = stages.load_series(series_spec(tmp_path), str(tmp_path / "m"))
    with tree_mod.work_repo(tree_mod.open_user_tree(bare), tmp_path / "w") as wr:
        (r,) = stages.apply_series(s, wr, [1])
    assert r.patches[0].status is ApplyStatus.APPLIED
    assert gittree.snapshot(bare) == before


def test_two_runs_on_one_work_dir(user_tree, tmp_path, monkeypatch):
    """A second run on a busy work dir waits for the first; past the wait it is an
    infrastructure error naming the holder, never a traceback or a shared clone."""
    ut = tree_mod.open_user_tree(user_tree)
    monkeypatch.setattr(tree_mod, "LOCK_WAIT", 0.5)
    with tree_mod.work_repo(ut, tmp_path / "w"):
        errors = []

        def second():
            try:
                with tree_mod.work_repo(ut, tmp_path / "w"):
                    pass
            except InfraError as e:
                errors.append(str(e))
        t = threading.Thread(target=second)
        t.start()
        t.join()
    assert errors and "another arena-patches run" in errors[0] and f"pid {os.getpid()}" in errors[0]
    monkeypatch.setattr(tree_mod, "LOCK_WAIT", 30)
    done = []

    def third():
        with tree_mod.work_repo(ut, tmp_path / "w"):
            done.append(True)
    with tree_mod.work_repo(ut, tmp_path / "w"):
        t = threading.Thread(target=third)
        t.start()
        t.join(1.0)
        assert t.is_alive() and not done  # waiting for the lock
    t.join(30)
    assert done  # got it once the first run let go


def test_interrupted_run_leaves_nothing_stale(user_tree, tmp_path, monkeypatch):
    import arena_patches.tree.apply as apply_mod
    versions = three_versions()[:1]
    src = tmp_path / "mails"
    mkseries.write(user_tree, "HEAD", "t: series", versions, src, tag="t")
    s = stages.load_series(series_spec(tmp_path), str(src))
    ut = tree_mod.open_user_tree(user_tree)
    before = gittree.snapshot(user_tree)
    real = apply_mod._commit
    calls = []

    def ctrl_c(wt, wr, patch):
        calls.append(patch.number)
        if len(calls) == 2:  # as if git died under Ctrl-C, leaving its lock behind
            (wt.parent.parent / "repo.git" / "worktrees" / tree_mod.SHARED_WORKTREE / "index.lock").write_text("")
            raise KeyboardInterrupt
        return real(wt, wr, patch)
    monkeypatch.setattr(apply_mod, "_commit", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        with tree_mod.work_repo(ut, tmp_path / "w") as wr:
            stages.apply_series(s, wr, [1])
    monkeypatch.setattr(apply_mod, "_commit", real)
    with tree_mod.work_repo(ut, tmp_path / "w") as wr:  # the lock was released
        (r,) = stages.apply_series(s, wr, [1])
        wt_status = gittree.run(wr.root / "wt" / tree_mod.SHARED_WORKTREE, "status", "--porcelain")
    assert [x.status for x in r.patches] == [ApplyStatus.APPLIED] * 3
    assert wt_status == ""
    assert gittree.snapshot(user_tree) == before


def test_cli_apply_json(user_tree, tmp_path, capsys):
    src = tmp_path / "mails"
    mkseries.write(user_tree, "HEAD", "t: series", three_versions(), src, tag="t")
    spec = tmp_path / "spec.toml"
    spec.write_text('[series]\ntitle = "t: series"\n')
    rc = cli.main(["apply", "--spec", str(spec), "--source", str(src), "--tree", str(user_tree),
                   "--work-dir", str(tmp_path / "w"), "--version", "3", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 1  # a conflict is a finding
    (v,) = doc["versions"]
    assert v["version"] == 3 and v["base_rule"] == "blob-guess" and len(v["base"]) == 40
    assert [x["status"] for x in v["patches"]] == ["applied", "conflict", "skipped"]
    assert v["patches"][1]["conflicts"][0]["file"] == C and v["patches"][0]["commit"]
    assert cli.main(["apply", "--spec", str(spec), "--source", str(src), "--tree",
                     str(tmp_path / "nope")]) == 2


def test_merge_commit_of_the_series_yields_the_last_changelog(tmp_path, capsys):
    """Maintainers merge a series with its cover letter: v2->v3 is only there."""
    t = gittree.make(tmp_path / "t", {C: TEXT})
    gittree.run(t, "checkout", "-q", "-b", "topic")
    (t / C).write_text(TEXT + "more\n")
    gittree.run(t, "commit", "-q", "-am", "demo: patch")
    gittree.run(t, "checkout", "-q", "main")
    gittree.run(t, "merge", "-q", "--no-ff", "topic", "-m",
                "Merge branch 'demo: a series'\n\nCover letter text.\n\n"
                "Changes in v2->v3:\nPatch 1:\n\t- Rename the helper (Reviewer)\n")
    f = tmp_path / "s.mbox"
    f.write_bytes(mailgen.mbox(mailgen.series(2, 1, changelog="Changes in v1->v2:\n- First (AI)\n")))
    spec = tmp_path / "spec.toml"
    spec.write_text('[series]\ntitle = "demo: a series"\n[merged]\nversion = 3\n')
    assert cli.main(["series", "--spec", str(spec), "--source", str(f), "--tree", str(t),
                     "--work-dir", str(tmp_path / "w"), "--json"]) == 0
    claims = json.loads(capsys.readouterr().out)["claims"]
    merge = gittree.run(t, "rev-parse", "HEAD").strip()
    assert [(c["from"], c["to"], c["patch"], c["text"], c["asked_by"]) for c in claims] == [
        (1, 2, None, "First", "ai"), (2, 3, 1, "Rename the helper", "reviewer")]
    assert claims[1]["sources"] == [merge]


def test_partial_patch_and_per_file_base(tmp_path):
    """A patch whose other file's base is not in the tree: the files that apply are
    applied (partial, the rest named), the chain goes on and says so; the base is the
    commit holding most of the pre-image blobs."""
    B = "include/other.h"
    made = gittree.make(tmp_path / "made", {C: TEXT, B: "int other;\n"})
    one = p("demo: both", Edit(C, "line 3\n", "line 3 changed\n"), Edit(B, "int other;\n", "long other;\n"))
    two = p("demo: more", Edit(C, "line 30\n", "line 30 changed\n"))
    src = tmp_path / "mails"
    mkseries.write(made, "HEAD", "t: series", [VersionSpec(1, (one, two))], src, tag="t")
    user = gittree.make(tmp_path / "user", {"README": "x\n"})
    (user / C).parent.mkdir(parents=True)
    (user / C).write_text(TEXT)
    gittree.run(user, "add", "-A")
    gittree.run(user, "commit", "-q", "-m", "the C file only")
    (user / "README").write_text("later\n")
    gittree.run(user, "commit", "-q", "-am", "a later commit")
    s = stages.load_series(series_spec(tmp_path), str(src))
    with tree_mod.work_repo(tree_mod.open_user_tree(user), tmp_path / "work") as wr:
        (r,) = stages.apply_series(s, wr, [1])
        assert r.base_rule is BaseRule.BLOB_GUESS and "1 of 2 pre-image blobs" in r.base_detail
        assert "not in any commit: include/other.h" in r.base_detail
        first, second = r.patches
        assert first.status is ApplyStatus.PARTIAL and first.left_out == (B,)
        assert f"applied {C}; left out {B} (base blob" in first.detail
        assert second.status is ApplyStatus.APPLIED and second.on_partial == 1
        assert "on top of the partial 1/2" in second.detail
        assert "line 3 changed" in gittree.run(wr.repo, "show", f"{second.commit}:{C}")
        assert "line 30 changed" in gittree.run(wr.repo, "show", f"{second.commit}:{C}")
