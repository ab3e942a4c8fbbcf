import io
import tarfile

import pytest

from arena_patches import cli
from arena_patches.tree import tarball
from arena_patches.core.errors import UserError
from tests import gittree


def make_tarball(path, top="linux-source-9.9"):
    with tarfile.open(path, "w:xz") as tf:
        def add(name, data=b"", mode=0o644, kind=tarfile.REGTYPE, link=""):
            ti = tarfile.TarInfo(f"{top}/{name}")
            ti.size, ti.mode, ti.type, ti.linkname = len(data), mode, kind, link
            tf.addfile(ti, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
        add("", kind=tarfile.DIRTYPE)
        add(".gitignore", b"*\n")  # like Debian's: ignores everything
        add("Makefile", b"VERSION = 9\nPATCHLEVEL = 9\nSUBLEVEL = 1\nEXTRAVERSION =\n")
        add("scripts/run.sh", b"#!/bin/sh\n", mode=0o755)
        add("kernel/a.c", b"int a;\n")
        add("kernel/link.c", kind=tarfile.SYMTYPE, link="a.c")
        add("kernel/hard.c", kind=tarfile.LNKTYPE, link=f"{top}/kernel/a.c")
        add("../evil", b"x")
    return path


def test_import_streams_one_commit_and_is_idempotent(tmp_path):
    tb = make_tarball(tmp_path / "k.tar.xz")
    sha, created, _ = tarball.import_tarball(tb, tmp_path / "k")
    assert created
    ls = gittree.run(tmp_path / "k", "ls-tree", "-r", "HEAD")
    entries = {l.split("\t")[1]: l.split()[0] for l in ls.splitlines()}
    assert entries == {".gitignore": "100644", "Makefile": "100644", "scripts/run.sh": "100755",
                       "kernel/a.c": "100644", "kernel/link.c": "120000", "kernel/hard.c": "100644"}
    assert gittree.run(tmp_path / "k", "log", "--format=%s").strip() == \
        "Linux 9.9.1 (imported from k.tar.xz)"
    assert (tmp_path / "k" / "kernel" / "a.c").read_text() == "int a;\n"
    assert gittree.run(tmp_path / "k", "status", "--porcelain") == ""
    assert tarball.import_tarball(tb, tmp_path / "k")[:2] == (sha, False)


def test_import_refuses_bad_input(tmp_path, capsys):
    with pytest.raises(UserError, match="no such file"):
        tarball.import_tarball(tmp_path / "none.tar.xz", tmp_path / "d")
    junk = tmp_path / "junk.tar.xz"
    junk.write_bytes(b"not a tarball at all")
    with pytest.raises(UserError, match="not a readable source tarball"):
        tarball.import_tarball(junk, tmp_path / "d")
    assert not (tmp_path / "d").exists()  # nothing half-made is left
    other = gittree.make(tmp_path / "other", {"x": "y\n"})
    tb = make_tarball(tmp_path / "k.tar.xz")
    assert cli.main(["tree", "import", str(tb), str(other)]) == 2
    assert "not an import of this tarball" in capsys.readouterr().err


def test_truncated_tarballs_and_git_members_are_refused_or_left_out(tmp_path):
    tb = make_tarball(tmp_path / "k.tar.xz")
    data = tb.read_bytes()
    for cut in (len(data) // 2, len(data) - 40):
        short = tmp_path / f"short{cut}.tar.xz"
        short.write_bytes(data[:cut])
        with pytest.raises(UserError, match="not a readable source tarball"):
            tarball.import_tarball(short, tmp_path / f"d{cut}")
        assert not (tmp_path / f"d{cut}").exists()
    # an uncompressed tar cut exactly at a member boundary, before its Makefile
    plain = tmp_path / "k.tar"
    with tarfile.open(plain, "w") as tf:
        ti = tarfile.TarInfo("linux-source-9.9/kernel/a.c")
        ti.size = 7
        tf.addfile(ti, io.BytesIO(b"int a;\n"))
    with pytest.raises(UserError, match="cut short"):
        tarball.import_tarball(plain, tmp_path / "p")
    # .git/ members are not source: left out, and the import is a plain one-commit tree
    gitty = tmp_path / "g.tar.xz"
    with tarfile.open(gitty, "w:xz") as tf:
        for name, body in (("Makefile", b"VERSION = 9\nPATCHLEVEL = 9\nSUBLEVEL = 1\n"),
                           (".git/HEAD", b"ref: refs/heads/evil\n"), ("sub/.git/config", b"[core]\n")):
            ti = tarfile.TarInfo(f"linux/{name}")
            ti.size = len(body)
            tf.addfile(ti, io.BytesIO(body))
    sha, created, _ = tarball.import_tarball(gitty, tmp_path / "g")
    assert created and gittree.run(tmp_path / "g", "ls-tree", "-r", "--name-only", "HEAD").split() == ["Makefile"]
