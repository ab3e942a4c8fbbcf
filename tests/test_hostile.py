"""Hostile and careless input, case by case: each case runs one command as a user would
(with --json) and asserts the exit code, that the answer names the input at fault, that no
traceback appears, that the user's tree is byte-identical (HEAD, index, refs, worktree
list, every file under .git, status), and that nothing outside the work dir and the named
inputs was opened, listed or written (an audit hook watches every open() of the process;
a sentinel directory beside the tree holds a "secret" a patch path points at).

No kernel is needed: small real git trees and synthetic mails."""
from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import tarfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from arena_patches import cli
from tests import gittree, mailgen

DEMO = "line one\nline two\nline three\n"
SECRET = "line one\nSECRET two\nline three\n"


@dataclass
class World:
    root: Path
    tree: Path
    mails: Path
    spec: Path
    work: Path
    outside: Path

    def mbox(self, mails: list, name: str = "s.mbox") -> Path:
        d = self.root / f"src-{name}"
        d.mkdir(exist_ok=True)
        (d / name).write_bytes(mailgen.mbox(mails))
        return d

    def spec_text(self, text: str) -> Path:
        f = self.root / f"spec-{abs(hash(text))}.toml"
        f.write_text(text)
        return f

    def common(self, src: Path | None = None, spec: Path | None = None) -> list[str]:
        return ["--spec", str(spec or self.spec), "--source", str(src or self.mails),
                "--tree", str(self.tree), "--work-dir", str(self.work)]


# the audit hook: every path this process opens or lists while a case runs
_SEEN: list[str] | None = None


def _audit(event: str, args: tuple) -> None:
    if _SEEN is not None and event in ("open", "os.listdir", "os.scandir", "os.mkdir", "os.remove",
                                       "os.rename", "os.symlink", "shutil.rmtree", "os.chmod"):
        p = args[0] if args else None
        if isinstance(p, (str, bytes, os.PathLike)):
            _SEEN.append(os.path.abspath(os.fsdecode(p)))


sys.addaudithook(_audit)


def _files(d: Path) -> dict[str, str]:
    return {str(f.relative_to(d)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(d.rglob("*")) if f.is_file() and not f.is_symlink()}


@pytest.fixture
def world(tmp_path) -> World:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.c").write_text(SECRET)
    tree = gittree.make(tmp_path / "user", {"lib/demo.c": DEMO, "README": "hello\n"})
    os.symlink("../../outside/secret.c", tree / "lib" / "link.c")
    gittree.run(tree, "add", "-A")
    gittree.run(tree, "commit", "-q", "-m", "a symlink that leaves the tree")
    (tree / "README").write_text("a local edit\n")  # dirty: still never touched
    w = World(tmp_path, tree, tmp_path / "mails", tmp_path / "spec.toml", tmp_path / "work", outside)
    w.mails.mkdir()
    (w.mails / "s.mbox").write_bytes(mailgen.mbox(mailgen.series(1, 1)))
    w.spec.write_text('[series]\ntitle = "demo: a series"\n')
    return w


CASES: dict[str, Callable[[World], tuple[list[str], set[int], str]]] = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


def _patch_mail(path: str, extra_headers=(), date=None, body=None) -> list:
    mails = mailgen.series(1, 1)
    b = body or mailgen.patch_body(1, 1, path=path)
    mails[1] = mailgen.Mail(mails[1].msgid, mails[1].subject, b, mails[1].in_reply_to,
                            mails[1].references, headers=tuple(extra_headers),
                            date=date or mails[1].date)
    return mails


# --- mails, mboxes, MIME, numbering, dates -----------------------------------------------

@case
def source_missing(w):
    return ["series", "--spec", str(w.spec), "--source", str(w.root / "nowhere")], {2}, "nowhere"


@case
def source_empty_dir(w):
    (w.root / "empty").mkdir()
    return ["series", "--spec", str(w.spec), "--source", str(w.root / "empty")], {2}, "empty"


@case
def source_binary_mbox(w):
    d = w.root / "bin"
    d.mkdir()
    (d / "x.mbox").write_bytes(bytes(range(256)) * 64)
    return ["series", "--spec", str(w.spec), "--source", str(d)], {2}, "bin"


@case
def mail_without_message_id(w):
    m = mailgen.series(1, 1)
    raw = mailgen.mbox(m).replace(b"Message-ID: <v1-1@example.org>\n", b"")
    d = w.root / "noid"
    d.mkdir()
    (d / "a.mbox").write_bytes(raw)
    return ["series", *w.common(d)[:4]], {0}, "demo: patch number 1"


@case
def mail_non_utf8_bytes(w):
    raw = mailgen.mbox(mailgen.series(1, 1)).replace(b"Does a thing.", b"Does \xff\xfe a thing \x80.")
    d = w.root / "latin"
    d.mkdir()
    (d / "a.mbox").write_bytes(raw)
    return ["apply", *w.common(d)], {0}, "applied"


@case
def mail_mime_base64_patch(w):
    import base64
    m = mailgen.series(1, 1)
    body = base64.encodebytes(m[1].body.encode()).decode()
    m[1] = mailgen.Mail(m[1].msgid, m[1].subject, body, m[1].in_reply_to, m[1].references,
                        headers=(("MIME-Version", "1.0"), ("Content-Type", "text/plain; charset=utf-8"),
                                 ("Content-Transfer-Encoding", "base64")))
    return ["apply", *w.common(w.mbox(m))], {0}, "applied"


@case
def mail_malformed_date(w):
    return ["apply", *w.common(w.mbox(_patch_mail("lib/demo.c", date="Tuesday, sometime")))], {0}, "applied"


@case
def mail_numbered_above_count(w):
    m = mailgen.series(1, 1)
    m.append(mailgen.Mail("v1-7@example.org", "[PATCH 7/1] demo: seven", mailgen.patch_body(1, 7),
                          m[0].msgid, (m[0].msgid,)))
    return ["series", *w.common(w.mbox(m))[:4]], {0}, "7/1"


@case
def mail_zero_of_n_with_a_diff(w):
    m = mailgen.series(1, 1)
    m[0].body = mailgen.patch_body(1, 0) + m[0].body
    return ["series", *w.common(w.mbox(m))[:4]], {0}, "carries a diff"


@case
def mail_subject_with_shell_metacharacters(w):
    pwn = w.root / "pwned"
    m = mailgen.series(1, 1, title=f"demo: $(touch {pwn}) `touch {pwn}`; touch {pwn}")
    spec = w.spec_text(f'[series]\ntitle = "demo: $(touch {pwn}) `touch {pwn}`; touch {pwn}"\n')
    return ["apply", *w.common(w.mbox(m), spec)], {0}, "applied"


# --- patch paths ---------------------------------------------------------------------------

@case
def path_dot_dot(w):
    return ["apply", *w.common(w.mbox(_patch_mail("../outside/secret.c")))], {1}, "../outside/secret.c"


@case
def path_absolute(w):
    body = mailgen.patch_body(1, 1).replace("a/lib/demo.c", f"a{w.outside}/secret.c").replace(
        "b/lib/demo.c", f"b{w.outside}/secret.c")
    return ["apply", *w.common(w.mbox(_patch_mail("", body=body)))], {1}, "secret.c"


@case
def path_c_quoted(w):
    body = mailgen.patch_body(1, 1).replace("a/lib/demo.c", '"a/\\056\\056/outside/secret.c"').replace(
        "b/lib/demo.c", '"b/\\056\\056/outside/secret.c"')
    return ["apply", *w.common(w.mbox(_patch_mail("", body=body)))], {1}, "conflict"


@case
def path_into_dot_git(w):
    return ["apply", *w.common(w.mbox(_patch_mail(".git/config")))], {1}, ".git/config"


@case
def path_through_a_symlink(w):
    return ["apply", *w.common(w.mbox(_patch_mail("lib/link.c")))], {1}, "lib/link.c"


@case
def backport_dot_dot_reads_nothing_outside(w):
    return ["backport", "--spec", str(w.spec), "--source", str(w.mbox(_patch_mail("../outside/secret.c"))),
            "--to", str(w.tree), "--work-dir", str(w.work)], {1}, "../outside/secret.c"


@case
def backport_symlink_reads_nothing_outside(w):
    return ["backport", "--spec", str(w.spec), "--source", str(w.mbox(_patch_mail("lib/link.c"))),
            "--to", str(w.tree), "--work-dir", str(w.work)], {1}, "lib/link.c"


# --- specs -----------------------------------------------------------------------------------

def _spec_case(text: str, named: str, command: str = "series"):
    def run(w):
        spec = str(w.spec_text(text))
        if command == "check":
            return ["check", "--tree", str(w.tree), "--spec", spec, "--work-dir", str(w.work)], {2}, named
        return ["series", "--spec", spec, "--source", str(w.mails)], {2}, named
    return run


TITLE = '[series]\ntitle = "demo: a series"\n'
RULE = '[[invariants]]\nid = "r"\nfile = "lib/demo.c"\n'
for _name, _text, _named, _cmd in (
        ("spec_not_toml", "[series\ntitle = ", "spec-", "series"),
        ("spec_title_not_a_string", "[series]\ntitle = 7\n", "title", "series"),
        ("spec_author_a_number", '[series]\ntitle = "demo: a series"\nauthor = 7\n', "author", "series"),
        ("spec_reviews_a_string", 'reviews = "x"\n' + TITLE, "reviews", "series"),
        ("spec_reviews_maintainers_a_number", TITLE + "[reviews]\nmaintainers = 3\n", "maintainers", "series"),
        ("spec_build_a_number", "build = 3\n" + TITLE, "build", "series"),
        ("spec_versions_a_number", "versions = 3\n" + TITLE, "versions", "series"),
        ("spec_invariants_a_number", "invariants = 3\n" + TITLE, "invariants", "check"),
        ("spec_boot_targets_a_number", TITLE + "[boot]\ntargets = 5\n", "boot", "series"),
        ("spec_expect_a_number", "expect = 5\n" + TITLE, "expect", "series"),
        ("spec_invariant_bad_regex", TITLE + RULE + 'kind = "not-calls"\nfunction = "f"\ncallee = "(("\n',
         "callee", "check"),
        ("spec_invariant_missing_argument", TITLE + RULE + 'kind = "not-calls"\nfunction = "f"\n',
         "callee", "check"),
        ("spec_invariant_unknown_kind", TITLE + RULE + 'kind = "telepathy"\n', "telepathy", "check"),
        ("spec_invariant_file_outside", TITLE + '[[invariants]]\nid = "r"\nfile = "../outside/secret.c"\n'
         'kind = "parses"\n', "../outside/secret.c", "check")):
    CASES[_name] = _spec_case(_text, _named, _cmd)


@case
def spec_missing(w):
    return ["series", "--spec", str(w.root / "nope.toml"), "--source", str(w.mails)], {2}, "nope.toml"


@case
def spec_is_a_directory(w):
    empty = w.root / "not-a-series"  # a directory without the spec.toml of a series directory
    empty.mkdir(exist_ok=True)
    return ["series", "--spec", str(empty), "--source", str(w.mails)], {2}, str(empty)


# --- trees -----------------------------------------------------------------------------------

@case
def tree_missing(w):
    return ["apply", "--spec", str(w.spec), "--source", str(w.mails), "--tree", str(w.root / "gone"),
            "--work-dir", str(w.work)], {2}, "gone"


@case
def tree_not_git(w):
    (w.root / "plain").mkdir()
    return ["apply", "--spec", str(w.spec), "--source", str(w.mails), "--tree", str(w.root / "plain"),
            "--work-dir", str(w.work)], {2}, "plain"


@case
def tree_a_file(w):
    return ["check", "--tree", str(w.spec), "--spec", str(w.spec)], {2}, str(w.spec)


@case
def tree_empty_repo(w):
    gittree.run(w.root, "init", "-q", "empty-repo")
    return ["apply", "--spec", str(w.spec), "--source", str(w.mails), "--tree", str(w.root / "empty-repo"),
            "--work-dir", str(w.work)], {2}, "empty-repo"


@case
def tree_bare(w):
    gittree.run(w.root, "clone", "-q", "--bare", str(w.tree), "bare.git")
    return ["apply", "--spec", str(w.spec), "--source", str(w.mails), "--tree", str(w.root / "bare.git"),
            "--work-dir", str(w.work)], {0}, "applied"


@case
def tree_linked_worktree(w):
    gittree.run(w.tree, "worktree", "add", "-q", "--detach", str(w.root / "linked"))
    return ["apply", "--spec", str(w.spec), "--source", str(w.mails), "--tree", str(w.root / "linked"),
            "--work-dir", str(w.work)], {0}, "applied"


@case
def base_that_does_not_exist(w):
    return ["apply", *w.common(), "--base", "no-such-ref"], {2}, "no-such-ref"


@case
def base_with_shell_metacharacters(w):
    return ["apply", *w.common(), "--base", f"$(touch {w.root}/pwned)"], {2}, "pwned"


# --- work dirs and report dirs -------------------------------------------------------------

@case
def work_dir_a_file(w):
    w.work.write_text("x")
    return ["apply", *w.common()], {2}, "--work-dir"


@case
def work_dir_read_only(w):
    if os.geteuid() == 0:
        return ["apply", *w.common()[:6], "--work-dir", "/proc/self/ap-work"], {2}, "--work-dir"
    w.work.mkdir()
    w.work.chmod(0o500)
    return ["apply", *w.common()], {2}, "--work-dir"


@case
def work_dir_under_proc(w):
    return ["apply", *w.common()[:6], "--work-dir", "/proc/ap-work"], {2}, "--work-dir"


@case
def work_dir_inside_the_users_tree(w):
    return ["apply", *w.common()[:6], "--work-dir", str(w.tree / "work")], {2}, "--work-dir"


@case
def report_dir_a_file(w):
    f = w.root / "report-file"
    f.write_text("x")
    return ["verify", *w.common(), "--no-build", "--no-boot", "--report-dir", str(f)], {2}, "report-file"


# --- tarballs (tree import) ----------------------------------------------------------------

def _tar(w: World, members: list[tuple[str, bytes | None, str | None]], name="k.tar.gz") -> Path:
    f = w.root / name
    with tarfile.open(f, "w:gz") as t:
        for path, data, link in members:
            ti = tarfile.TarInfo(path)
            if link is not None:
                ti.type, ti.linkname = tarfile.SYMTYPE, link
                t.addfile(ti)
            else:
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
    return f


KERNEL = [("linux-7.0/Makefile", b"VERSION = 7\n", None), ("linux-7.0/lib/demo.c", DEMO.encode(), None)]


@case
def tarball_truncated(w):
    f = _tar(w, KERNEL + [(f"linux-7.0/f{i}.c", os.urandom(3000), None) for i in range(20)])
    f.write_bytes(f.read_bytes()[:len(f.read_bytes()) // 2])
    return ["tree", "import", str(f), str(w.root / "dest")], {2}, "k.tar.gz"


@case
def tarball_dot_dot_member(w):
    f = _tar(w, KERNEL + [("linux-7.0/../../outside/secret.c", b"owned\n", None)])
    return ["tree", "import", str(f), str(w.root / "dest")], {0}, "outside/secret.c: outside the tree"


@case
def tarball_absolute_member(w):
    f = _tar(w, KERNEL + [(f"{w.outside}/secret.c", b"owned\n", None)])
    return ["tree", "import", str(f), str(w.root / "dest")], {0}, "secret.c: outside the tree"


@case
def tarball_git_members(w):
    f = _tar(w, KERNEL + [("linux-7.0/.git/config", b"[core]\n\tfsmonitor = touch pwned\n", None)])
    return ["tree", "import", str(f), str(w.root / "dest")], {0}, ".git/config: git's own files"


@case
def tarball_symlink_leaving(w):
    f = _tar(w, KERNEL + [("linux-7.0/lib/out", None, "../../../outside/secret.c")])
    return ["tree", "import", str(f), str(w.root / "dest")], {0}, "lib/out: a link out of the tree"


@case
def tarball_symlink_chain_leaving(w):
    f = _tar(w, KERNEL + [("linux-7.0/deep/er/s", None, "../.."), ("linux-7.0/t", None, "deep/er/s/..")])
    return ["tree", "import", str(f), str(w.root / "dest")], {0}, "linux-7.0/t: a link out of the tree"


@case
def tarball_symlink_chain_before_its_link(w):
    f = _tar(w, KERNEL + [("linux-7.0/t", None, "deep/er/s/../secret"), ("linux-7.0/deep/er/s", None, "../..")])
    return ["tree", "import", str(f), str(w.root / "dest")], {0}, "linux-7.0/t: a link out of the tree"


@case
def tarball_symlink_loop(w):
    f = _tar(w, KERNEL + [("linux-7.0/a", None, "b/x"), ("linux-7.0/b", None, "a/x")])
    return ["tree", "import", str(f), str(w.root / "dest")], {0}, "linux-7.0/a: a link out of the tree"


@case
def tarball_dot_component(w):
    f = _tar(w, KERNEL + [("linux-7.0/lib/./x.c", b"x\n", None), ("linux-7.0/lib//y.c", b"y\n", None)])
    return ["tree", "import", str(f), str(w.root / "dest")], {0}, '"created": true'


@case
def tarball_git_dir_in_another_case(w):
    f = _tar(w, KERNEL + [("linux-7.0/sub/.GIT/config", b"[core]\n", None), ("linux-7.0/.git./HEAD", b"x\n", None)])
    return ["tree", "import", str(f), str(w.root / "dest")], {0}, ".GIT/config: git's own files"


@case
def tarball_not_a_tarball(w):
    f = w.root / "k.tar.xz"
    f.write_bytes(b"not a tarball at all\n" * 10)
    return ["tree", "import", str(f), str(w.root / "dest")], {2}, "k.tar.xz"


@case
def import_onto_a_file(w):
    f = _tar(w, KERNEL)
    (w.root / "dest").write_text("x")
    return ["tree", "import", str(f), str(w.root / "dest")], {2}, "dest"


# --- options -------------------------------------------------------------------------------

@case
def version_that_does_not_exist(w):
    return ["apply", *w.common(), "--version", "99"], {2}, "99"


@case
def version_not_a_number(w):
    return ["apply", *w.common(), "--version", "v1; rm -rf /"], {2}, "rm -rf"


@case
def targets_unknown(w):
    return ["build", *w.common(), "--targets", "x86_64,vax"], {2}, "vax"


@case
def jobs_zero(w):
    return ["build", *w.common(), "--jobs", "0", "--targets", "x86_64"], {2}, "--jobs"


@case
def check_files_missing(w):
    spec = w.spec_text('[series]\ntitle = "demo: a series"\n[[invariants]]\nid = "r"\n'
                       'file = "lib/demo.c"\nkind = "parses"\n')
    return ["check", "--files", str(w.root / "nofiles"), "--spec", str(spec)], {2}, "nofiles"


# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_input(name, world, capsys, monkeypatch):
    global _SEEN
    argv, codes, named = CASES[name](world)
    monkeypatch.chdir(world.root)
    before = gittree.snapshot(world.tree)
    outside = _files(world.outside)
    pwned = world.root / "pwned"
    _SEEN = []
    try:
        rc = cli.main([*argv, "--json"])
    finally:
        seen, _SEEN = _SEEN, None
    out = capsys.readouterr()
    assert "Traceback" not in out.err and "Traceback" not in out.out, out.err[-2000:]
    doc = json.loads(out.out)  # one JSON document, errors too
    assert rc in codes, (rc, out.out[-1500:], out.err[-1500:])
    said = out.out if rc != 2 else doc["error"]["message"] + " " + str(doc["error"].get("input"))
    assert named in said, said[-1500:]
    assert gittree.snapshot(world.tree) == before, "the user's tree changed"
    assert _files(world.outside) == outside and not pwned.exists()
    touched = [p for p in seen if p.startswith(str(world.outside))]
    assert touched == [], touched


def test_there_are_at_least_forty_cases():
    assert len(CASES) >= 40


def test_two_runs_on_one_work_dir_at_once(world, capsys):
    """Concurrent runs on one work dir: each finishes with a recorded answer (one waits for
    the other's lock or says the work dir is busy); neither corrupts the other."""
    codes: list[int] = []

    def one():
        codes.append(cli.main(["apply", *world.common(), "--json"]))
    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(codes) in ([0, 0], [0, 3])
    assert cli.main(["apply", *world.common(), "--json"]) == 0


def test_an_interrupt_leaves_no_lock_and_the_rerun_resumes(world, capsys, monkeypatch):
    from arena_patches.tree import apply as apply_mod
    calls = {"n": 0}
    real = apply_mod.apply_version

    def interrupted(*a, **kw):
        calls["n"] += 1
        raise KeyboardInterrupt
    from arena_patches.verify import stages
    monkeypatch.setattr(stages, "apply_version", interrupted)
    rc = cli.main(["apply", *world.common(), "--json"])
    out = capsys.readouterr()
    assert rc == 130 and "Traceback" not in out.err and calls["n"] == 1
    monkeypatch.setattr(stages, "apply_version", real)
    before = gittree.snapshot(world.tree)
    assert cli.main(["apply", *world.common(), "--json"]) == 0
    assert gittree.snapshot(world.tree) == before
