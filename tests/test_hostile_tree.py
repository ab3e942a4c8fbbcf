"""Hostile environments, planted files and wrong verdicts around the user's tree (issue 29,
items 1-6 and 13-17): each test reproduces one attack on small real git trees and asserts
the user's tree byte-identical (HEAD, index, refs, objects, alternates, worktree list, the
uncommitted edit), nothing outside the work dir touched, and the verdict right.

No kernel is needed."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from arena_patches import cli
from tests import gittree, mailgen
from tests.test_hostile import DEMO, SECRET, World, _files, _patch_mail, _tar, world  # noqa: F401


def _state(w: World) -> tuple:
    """Everything of the user's tree a run could change: git's view and every file's bytes."""
    files = {str(f.relative_to(w.tree)): hashlib.sha256(f.read_bytes()).hexdigest()
             for f in sorted(w.tree.rglob("*")) if f.is_file() and not f.is_symlink()}
    return gittree.snapshot(w.tree), files, _files(w.outside)


def _run(argv: list[str], capsys) -> tuple[int, dict]:
    rc = cli.main([*argv, "--json"])
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out, out.err[-2000:]
    return rc, json.loads(out.out)


# --- 1. git's own variables inherited from the caller (a hook, a shell) ------------------------

def _git_vars(w: World) -> list[tuple[str, str]]:
    t, g = str(w.tree), str(w.tree / ".git")
    return [("GIT_DIR", g), ("GIT_DIR", t), ("GIT_WORK_TREE", t), ("GIT_INDEX_FILE", f"{g}/index"),
            ("GIT_OBJECT_DIRECTORY", f"{g}/objects"), ("GIT_ALTERNATE_OBJECT_DIRECTORIES", f"{g}/objects"),
            ("GIT_COMMON_DIR", g), ("GIT_CEILING_DIRECTORIES", t), ("GIT_NAMESPACE", "evil"),
            ("GIT_CONFIG", f"{g}/config"), ("GIT_CONFIG_GLOBAL", f"{g}/config"),
            ("GIT_CONFIG_PARAMETERS", f"'core.worktree'='{t}'"), ("GIT_EXEC_PATH", t),
            ("GIT_CONFIG_COUNT", "1"), ("GIT_REF_PARANOIA", "1"), ("GIT_QUARANTINE_PATH", f"{g}/objects")]


@pytest.mark.parametrize("which", range(16))
def test_inherited_git_variable_never_reaches_the_users_tree(world, capsys, monkeypatch, which):
    name, value = _git_vars(world)[which]
    before = _state(world)
    monkeypatch.setenv(name, value)
    if name == "GIT_CONFIG_COUNT":
        monkeypatch.setenv("GIT_CONFIG_KEY_0", "core.worktree")
        monkeypatch.setenv("GIT_CONFIG_VALUE_0", str(world.tree))
    rc, doc = _run(["apply", *world.common()], capsys)
    assert rc == 0, doc
    assert _state(world) == before, f"{name}={value} changed the user's tree"
    assert not (world.tree / ".git" / "objects" / "info" / "alternates").exists()


def test_no_child_sees_a_git_variable_the_tool_did_not_set(world, monkeypatch):
    from arena_patches.core.runner import Runner
    for name, value in _git_vars(world):
        monkeypatch.setenv(name, value)
    seen = Runner().run(["env"], env={"GIT_TERMINAL_PROMPT": "0"}).stdout.splitlines()
    assert [v for v in seen if v.startswith("GIT_")] == ["GIT_TERMINAL_PROMPT=0"]
    fed = Runner().feed(["sh", "-c", "env >&2"], lambda out: None).stderr.splitlines()
    assert [v for v in fed if v.startswith("GIT_")] == []


def test_a_hooks_whole_environment_at_once(world, capsys, monkeypatch):
    """What git exports to a pre-push or post-merge hook run in the user's tree."""
    before = _state(world)
    g = world.tree / ".git"
    for k, v in (("GIT_DIR", str(g)), ("GIT_WORK_TREE", str(world.tree)), ("GIT_INDEX_FILE", str(g / "index")),
                 ("GIT_OBJECT_DIRECTORY", str(g / "objects")), ("GIT_PREFIX", "")):
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(world.tree)
    rc, doc = _run(["apply", *world.common()], capsys)
    assert rc == 0 and doc["versions"][0]["patches"][0]["status"] == "applied", doc
    assert _state(world) == before


# --- 2. links planted at the tool's own files in a work dir ------------------------------------

def _key_root(w: World) -> Path:
    from arena_patches.tree import repo
    return w.work / "trees" / repo.tree_key(repo.open_user_tree(w.tree))


PLANTS = {  # where a link is planted (relative to work/trees/<key>) -> what it points at
    "lock": "secret", "user-tree": "secret", ".writable": "secret", "repo.git": "dir",
    "wt": "dir", "apply-cache": "dir", "wt/build": "dir", "../../trees": "dir"}


@pytest.mark.parametrize("where", sorted(PLANTS))
def test_a_link_planted_at_the_tools_own_file_is_refused(world, capsys, where):
    rc, _ = _run(["apply", *world.common()], capsys) if where.startswith("wt/") else (0, None)
    assert rc == 0
    root = _key_root(world)
    plant = (root / where).resolve() if where.startswith("..") else root / where
    bait = world.outside / "bait"
    bait.mkdir()
    target = world.outside / "secret.c" if PLANTS[where] == "secret" else bait
    plant.parent.mkdir(parents=True, exist_ok=True)
    if plant.is_dir() and not plant.is_symlink():
        import shutil
        shutil.rmtree(plant)
    elif plant.exists():
        plant.unlink()
    os.symlink(target, plant)
    before = _state(world)
    rc, doc = _run(["apply", *world.common()], capsys)
    assert rc in (2, 3), doc
    assert str(plant) in doc["error"]["message"] and "symbolic link" in doc["error"]["message"], doc
    assert _state(world) == before and list(bait.iterdir()) == []


def test_a_hard_link_planted_at_the_lock_is_refused(world, capsys):
    root = _key_root(world)
    root.mkdir(parents=True)
    os.link(world.outside / "secret.c", root / "lock")
    rc, doc = _run(["apply", *world.common()], capsys)
    assert rc == 2 and "hard links" in doc["error"]["message"]
    assert (world.outside / "secret.c").read_text() == SECRET


def test_a_worktree_git_file_naming_the_users_repository_is_not_followed(world, capsys):
    """work/trees/<key>/wt/build/.git (where patches are applied) rewritten to name the user's .git: the tool's checkout
    there would move the user's HEAD and index. The tool makes its worktree anew instead."""
    assert _run(["apply", *world.common()], capsys)[0] == 0
    (_key_root(world) / "wt" / "build" / ".git").write_text(f"gitdir: {world.tree / '.git'}\n")
    import shutil
    shutil.rmtree(_key_root(world) / "apply-cache")  # so the worktree is used again
    before = _state(world)
    rc, doc = _run(["apply", *world.common()], capsys)
    assert rc == 0 and doc["versions"][0]["patches"][0]["status"] == "applied", doc
    assert _state(world) == before


# --- 3. the default work dir obeys the rule --work-dir obeys ------------------------------------

@pytest.mark.parametrize("var", ["HOME", "XDG_CACHE_HOME", "ARENA_PATCHES_CACHE"])
def test_a_default_work_dir_inside_the_tree_is_refused(world, capsys, monkeypatch, var):
    for v in ("HOME", "XDG_CACHE_HOME", "ARENA_PATCHES_CACHE"):
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setenv("HOME", str(world.root / "home"))
    monkeypatch.setenv(var, str(world.tree / ("cache" if var != "ARENA_PATCHES_CACHE" else ".git/ap")))
    before = _state(world)
    rc, doc = _run(["apply", *world.common()[:6]], capsys)
    assert rc == 2, doc
    assert var in doc["error"]["message"] and "inside the tree" in doc["error"]["message"], doc
    assert _state(world) == before


def test_the_tools_cache_inside_the_tree_is_refused_with_a_work_dir_outside(world, capsys, monkeypatch):
    monkeypatch.delenv("ARENA_PATCHES_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(world.tree / "cache"))
    rc, doc = _run(["apply", *world.common()], capsys)
    assert rc == 2 and "XDG_CACHE_HOME" in doc["error"]["message"], doc
    assert not (world.tree / "cache").exists()


@pytest.mark.parametrize("var", ["HOME", "CCACHE_DIR"])
def test_a_build_cache_inside_the_tree_is_refused(world, capsys, monkeypatch, var):
    monkeypatch.delenv("CCACHE_DIR", raising=False)
    monkeypatch.setenv(var, str(world.tree / "cache"))
    rc, doc = _run(["apply", *world.common()], capsys)
    assert rc == 2 and var in doc["error"]["message"] and "inside the tree" in doc["error"]["message"], doc


# --- 13. a cache entry copied over another's -----------------------------------------------------

def test_a_cache_entry_copied_over_anothers_is_a_miss(world, capsys):
    """Series A applies; series B (made on a tree this one lacks) is base-missing. B's apply
    cache entry replaced by A's must not make B `applied`."""
    good = world.mbox(mailgen.series(1, 1), "good.mbox")
    bad_body = mailgen.patch_body(1, 1).replace("1111111..2222222", "abcdef1..2222222").replace(
        " line one\n+added", " line zero\n+added")
    bad = world.mbox(_patch_mail("lib/demo.c", body=bad_body), "bad.mbox")
    rc, doc = _run(["apply", *world.common(bad)], capsys)
    assert rc == 1 and doc["versions"][0]["patches"][0]["status"] == "base-missing", doc
    cache = _key_root(world) / "apply-cache"
    bad_entry = next(cache.glob("*.json"))
    assert _run(["apply", *world.common(good)], capsys)[0] == 0
    good_entry = next(f for f in cache.glob("*.json") if f != bad_entry)
    bad_entry.write_bytes(good_entry.read_bytes())
    rc, doc = _run(["apply", *world.common(bad)], capsys)
    assert rc == 1 and doc["versions"][0]["patches"][0]["status"] == "base-missing", doc


def test_json_cache_reads_only_under_its_own_key(tmp_path):
    from arena_patches.core.cache import JsonCache
    c = JsonCache(tmp_path / "c")
    c.put("a", {"x": 1})
    c.put("b", {"x": 2})
    assert c.get("a") == {"x": 1}
    c.path("b").write_bytes(c.path("a").read_bytes())
    assert c.get("b") is None
    c.path("b").write_text('{"x": 2}')  # an entry without its key
    assert c.get("b") is None
    c.path("b").unlink()
    os.symlink(c.path("a"), c.path("b"))
    assert c.get("b") is None


# --- 14. a base-commit only the work dir's private clone holds ------------------------------------

def _verdict(doc: dict) -> list:
    return [(v["base_rule"], v["base"], [p["status"] for p in v["patches"]]) for v in doc["versions"]]


def test_a_base_commit_only_in_the_private_clone_is_not_used(world, capsys, tmp_path):
    """Series A applied in a work dir leaves its commit in the private clone; series B names
    that commit as its base-commit. A fresh and a used work dir must give B the same verdict."""
    rc, doc = _run(["apply", *world.common()], capsys)
    assert rc == 0
    private = doc["versions"][0]["patches"][0]["commit"]
    b = mailgen.series(1, 1)
    b[0].body += f"\nbase-commit: {private}\n"
    b[1].body = b[1].body.replace("Does a thing.", "Does another thing.").replace(
        "+added by patch 1 of v1", "+added again")
    src = world.mbox(b, "b.mbox")
    rc_used, used = _run(["apply", *world.common(src)], capsys)
    fresh_argv = [*world.common(src)[:6], "--work-dir", str(tmp_path / "fresh-work")]
    rc_fresh, fresh = _run(["apply", *fresh_argv], capsys)
    assert (rc_used, _verdict(used)) == (rc_fresh, _verdict(fresh))
    assert used["versions"][0]["base_rule"] != "base-commit" and private not in used["versions"][0]["base"]


# --- 15. git format-patch --binary ----------------------------------------------------------------

def test_binary_patches_from_git_format_patch_apply(world, capsys, tmp_path):
    """A binary hunk ends with a blank line; cutting the signature must not take it away."""
    clone = tmp_path / "author"
    gittree.run(tmp_path, "clone", "-q", str(world.tree), str(clone))
    blob = bytes(range(256)) * 3 + b"\0tail"
    (clone / "lib" / "blob.bin").write_bytes(blob)
    gittree.run(clone, "add", "-A")
    gittree.run(clone, "commit", "-q", "-m", "demo: add a blob")
    (clone / "lib" / "blob.bin").write_bytes(blob[:500] + b"changed" + blob[500:])
    gittree.run(clone, "commit", "-q", "-am", "demo: change the blob")
    gittree.run(clone, "format-patch", "-q", "--binary", "--thread", "--cover-letter", "-2", "-o",
                str(tmp_path / "fp"))
    src = tmp_path / "src"
    src.mkdir()
    (src / "s.mbox").write_bytes(b"".join(
        f.read_bytes().replace(b"*** SUBJECT HERE ***", b"demo: a series").rstrip(b"\n") + b"\n\n"
        for f in sorted((tmp_path / "fp").iterdir())))
    assert b"GIT binary patch" in (src / "s.mbox").read_bytes()
    before = _state(world)
    rc, doc = _run(["apply", *world.common(src)], capsys)
    assert rc == 0, doc
    assert [p["status"] for p in doc["versions"][0]["patches"]] == ["applied", "applied"], doc
    head = doc["versions"][0]["head"]
    from arena_patches.tree import repo
    root = _key_root(world)
    shown = repo.git(repo.DEFAULT, root / "repo.git", "cat-file", "blob", f"{head}:lib/blob.bin",
                     encoding="latin-1").stdout.encode("latin-1")
    assert shown == (clone / "lib" / "blob.bin").read_bytes()
    assert _state(world) == before


# --- 16. Received: dates ----------------------------------------------------------------------------

def _commit_time(w: World, commit: str) -> str:
    from arena_patches.tree import repo
    return repo.git(repo.DEFAULT, _key_root(w) / "repo.git", "log", "-1", "--format=%ad",
                    "--date=raw", commit).stdout.strip()


def test_received_dates_mixing_zones_do_not_make_a_mail_unreadable(world, capsys):
    recv = (("Received", "from a by b; Mon, 17 Nov 2025 16:02:00 -0000"),
            ("Received", "from c by d; Mon, 17 Nov 2025 16:03:00 +0000"),
            ("Received", "from e by f; not a date at all"))
    rc, doc = _run(["apply", *world.common(world.mbox(_patch_mail("lib/demo.c", recv)))], capsys)
    assert rc == 0 and doc["versions"][0]["patches"][0]["status"] == "applied", doc


def test_a_forged_received_date_is_not_the_commit_date(world, capsys):
    forged = (("Received", "from x by y; Sat, 01 Jan 2033 00:00:00 +0000"),)
    mails = _patch_mail("lib/demo.c", forged, date="Mon, 17 Nov 2025 16:01:44 +0100")
    rc, doc = _run(["apply", *world.common(world.mbox(mails))], capsys)
    assert rc == 0, doc
    assert _commit_time(world, doc["versions"][0]["head"]) == "1763391704 +0000"


def test_without_a_readable_date_the_latest_received_is_the_commit_date(world, capsys):
    recv = (("Received", "from a by b; Mon, 17 Nov 2025 16:02:00 -0000"),
            ("Received", "from c by d; Mon, 17 Nov 2025 16:03:00 +0000"))
    mails = _patch_mail("lib/demo.c", recv, date="sometime on a Tuesday")
    rc, doc = _run(["apply", *world.common(world.mbox(mails))], capsys)
    assert rc == 0, doc
    assert _commit_time(world, doc["versions"][0]["head"]) == "1763395380 +0000"


# --- 17. a mail git refuses as commit metadata ------------------------------------------------------

def _two_versions(w: World, bad: dict) -> Path:
    """v1 carries the hostile metadata in its patch mail, v2 is ordinary."""
    v1, v2 = mailgen.series(1, 1), mailgen.series(2, 1)
    p = v1[1]
    v1[1] = mailgen.Mail(p.msgid, bad.get("subject", p.subject), bad.get("body", p.body), p.in_reply_to,
                         p.references, sender=bad.get("sender", p.sender))
    return w.mbox(v1 + v2)


METADATA = {
    "nul_in_subject": {"subject": "=?utf-8?q?[PATCH_1/1]_demo:_a=00b?="},
    "sender_name_only_brackets": {"sender": '"<>" <jane@example.org>'},
    "sender_name_only_crud": {"sender": '"<.,;:>" <>'},
    "nul_in_the_message": {"body": mailgen.patch_body(1, 1, msg="Does\0 a thing.")},
    "in_body_from_only_brackets": {"body": "From: <> <>\n\n" + mailgen.patch_body(1, 1)},
}


@pytest.mark.parametrize("name", sorted(METADATA))
def test_metadata_git_refuses_is_made_safe_and_the_other_versions_go_on(world, capsys, name):
    before = _state(world)
    rc, doc = _run(["apply", *world.common(_two_versions(world, METADATA[name]))], capsys)
    assert rc in (0, 1), doc
    statuses = {v["version"]: [p["status"] for p in v["patches"]] for v in doc["versions"]}
    assert statuses[2] == ["applied"], doc
    assert statuses[1] == ["applied"], doc
    assert _state(world) == before


# --- 4. a patch that turns a file into a link out of the tree -------------------------------------------

def _format_patch(w: World, tmp: Path, change) -> Path:
    """A real `git format-patch` series of one patch made by `change(clone)` on the user's tree."""
    clone = tmp / "author"
    gittree.run(tmp, "clone", "-q", str(w.tree), str(clone))
    change(clone)
    gittree.run(clone, "add", "-A")
    gittree.run(clone, "commit", "-q", "-m", "demo: patch number 1")
    gittree.run(clone, "format-patch", "-q", "--thread", "--cover-letter", "-1", "-o", str(tmp / "fp"))
    src = tmp / "src"
    src.mkdir()
    (src / "s.mbox").write_bytes(b"".join(
        f.read_bytes().replace(b"*** SUBJECT HERE ***", b"demo: a series").rstrip(b"\n") + b"\n\n"
        for f in sorted((tmp / "fp").iterdir())))
    return src


@pytest.mark.parametrize("how", ["absolute", "relative", "through-a-new-link"])
def test_a_patch_leaving_a_link_out_of_the_tree_is_refused(world, capsys, tmp_path, how):
    def change(clone):
        (clone / "lib" / "demo.c").unlink()
        if how == "absolute":
            os.symlink(world.outside / "secret.c", clone / "lib" / "demo.c")
        elif how == "relative":
            os.symlink("../" * 12 + str(world.outside / "secret.c").lstrip("/"), clone / "lib" / "demo.c")
        else:  # a harmless link to the top, and one through it: "up/../../.." reads as inside
            os.symlink("..", clone / "lib" / "up")
            os.symlink("up/" + "../" * 12 + str(world.outside / "secret.c").lstrip("/"),
                       clone / "lib" / "demo.c")
    src = _format_patch(world, tmp_path, change)
    before = _state(world)
    rc, doc = _run(["apply", *world.common(src)], capsys)
    p = doc["versions"][0]["patches"][0]
    assert rc == 1 and p["status"] == "refused" and "lib/demo.c" in p["detail"], doc
    rc, _ = _run(["verify", *world.common(src), "--no-build", "--no-boot", "--mail"], capsys)
    out = capsys.readouterr()
    assert "SECRET" not in json.dumps(doc) + out.out + out.err
    assert _state(world) == before


# --- 5, 6. tree import: links judged by where they resolve, DEST never half-made -----------------------

KERNEL = [("linux-7.0/Makefile", b"VERSION = 7\n", None), ("linux-7.0/lib/demo.c", DEMO.encode(), None)]


def test_import_normalises_dot_components_and_links_resolving_out_stay_out(world):
    from arena_patches.tree import tarball
    f = _tar(world, KERNEL + [("linux-7.0/lib/./x.c", b"x\n", None), ("linux-7.0/deep/er/s", None, "../.."),
                              ("linux-7.0/t", None, "deep/er/s/.."), ("linux-7.0/ok", None, "deep/er/s/lib")])
    dest = world.root / "dest"
    sha, created, left = tarball.import_tarball(f, dest)
    assert created and left == ("linux-7.0/t: a link out of the tree (deep/er/s/..)",)
    assert (dest / "lib" / "x.c").read_text() == "x\n" and (dest / "ok" / "demo.c").read_text() == DEMO
    assert not (dest / "t").exists() and not (dest / "t").is_symlink()
    for link in dest.rglob("*"):
        if link.is_symlink():
            assert Path(os.path.realpath(link)).is_relative_to(dest.resolve()), link
    assert tarball.import_tarball(f, dest)[:2] == (sha, False)


def test_a_failed_import_leaves_no_dest_and_the_next_import_makes_it(world, monkeypatch):
    from arena_patches.core.errors import InfraError
    from arena_patches.tree import tarball
    f = _tar(world, KERNEL)
    dest = world.root / "dest"
    real = tarball.git

    def checkout_fails(runner, repo, *args, **kw):
        if args[0] == "checkout":
            raise InfraError("git exited 128: checkout")
        return real(runner, repo, *args, **kw)
    monkeypatch.setattr(tarball, "git", checkout_fails)
    with pytest.raises(InfraError):
        tarball.import_tarball(f, dest)
    assert not dest.exists() and list(world.root.glob(".dest.*")) == []
    monkeypatch.setattr(tarball, "git", real)
    sha, created, _ = tarball.import_tarball(f, dest)
    assert created and gittree.run(dest, "status", "--porcelain") == ""
    assert (dest / "lib" / "demo.c").read_text() == DEMO


def test_a_built_file_turned_into_a_link_out_is_never_compiled(tmp_path, capsys, monkeypatch):
    """The attack end to end on the fake kernel: kernel/a.c is built, then a patch makes it a
    link to a file outside whose text the compiler would print in its errors."""
    from tests import fakelinux
    from tests.test_build_fakelinux import BASE
    from tests.fakelinux import SPEC
    fakelinux.on_path(monkeypatch)
    monkeypatch.setenv("CCACHE_DIR", str(tmp_path / "ccache"))
    tree = fakelinux.tree(tmp_path / "linux", BASE)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "id_rsa").write_text("#error SECRET-KEY-MATERIAL\n")
    spec = tmp_path / "fake.toml"
    spec.write_text(SPEC.replace("k: fake", "demo: a series"))
    w = World(tmp_path, tree, tmp_path / "m", spec, tmp_path / "work", outside)

    def change(clone):
        (clone / "kernel" / "a.c").unlink()
        os.symlink("../" * 12 + str(outside / "id_rsa").lstrip("/"), clone / "kernel" / "a.c")
    src = _format_patch(w, tmp_path, change)
    argv = ["build", "--spec", str(spec), "--tree", str(tree), "--work-dir", str(w.work),
            "--targets", "x86_64", "--jobs", "2"]
    before = gittree.snapshot(tree)
    rc, first = _run(argv, capsys)  # the tree itself: kernel/a.c built
    assert rc in (0, 1) and first["results"], first
    rc, doc = _run([*argv, "--source", str(src)], capsys)
    text = json.dumps(doc)
    assert "SECRET" not in text and rc in (1, 3), text[-2000:]
    assert "not applied (refused)" in text, text
    assert gittree.snapshot(tree) == before


def test_an_object_the_trees_make_left_as_a_link_is_never_read_or_touched_through(tmp_path):
    """An object compiled again by name (state._same_mtime) is the tree's make's output: a
    link a patch's Makefile leaves there, before and after that make, leads nowhere."""
    import os
    from arena_patches.kbuild import state
    outside = tmp_path / "outside.txt"
    outside.write_text("not the tool's\n")
    os.utime(outside, ns=(10**18, 10**18))
    out = tmp_path / "O"
    (out / "kernel").mkdir(parents=True)
    obj = out / "kernel" / "a.o"
    obj.symlink_to(outside)
    with state._same_mtime(out, ["kernel/a.o"]):
        assert not obj.exists() and not obj.is_symlink()  # the link went, not what it names
        obj.symlink_to(outside)  # the make plants it again
        os.utime(outside, ns=(2 * 10**18, 2 * 10**18))  # and its owner touched the file meanwhile
    # read through the link, the file would have "come back the same" and got its old mtime
    assert outside.read_text() == "not the tool's\n" and outside.stat().st_mtime_ns == 2 * 10**18
    assert not obj.is_symlink()  # not made by `make vmlinux`: removed again
