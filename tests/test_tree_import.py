import io
import tarfile

import pytest

from arena_patches import cli, tree as tree_mod
from arena_patches.errors import UserError
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
    sha, created = tree_mod.import_tarball(tb, tmp_path / "k")
    assert created
    ls = gittree.run(tmp_path / "k", "ls-tree", "-r", "HEAD")
    entries = {l.split("\t")[1]: l.split()[0] for l in ls.splitlines()}
    assert entries == {".gitignore": "100644", "Makefile": "100644", "scripts/run.sh": "100755",
                       "kernel/a.c": "100644", "kernel/link.c": "120000", "kernel/hard.c": "100644"}
    assert gittree.run(tmp_path / "k", "log", "--format=%s").strip() == \
        "Linux 9.9.1 (imported from k.tar.xz)"
    assert (tmp_path / "k" / "kernel" / "a.c").read_text() == "int a;\n"
    assert gittree.run(tmp_path / "k", "status", "--porcelain") == ""
    assert tree_mod.import_tarball(tb, tmp_path / "k") == (sha, False)


def test_import_refuses_bad_input(tmp_path, capsys):
    with pytest.raises(UserError, match="no such file"):
        tree_mod.import_tarball(tmp_path / "none.tar.xz", tmp_path / "d")
    junk = tmp_path / "junk.tar.xz"
    junk.write_bytes(b"not a tarball at all")
    with pytest.raises(UserError, match="not a readable source tarball"):
        tree_mod.import_tarball(junk, tmp_path / "d")
    assert not (tmp_path / "d").exists()  # nothing half-made is left
    other = gittree.make(tmp_path / "other", {"x": "y\n"})
    tb = make_tarball(tmp_path / "k.tar.xz")
    assert cli.main(["tree", "import", str(tb), str(other)]) == 2
    assert "not an import of this tarball" in capsys.readouterr().err
