"""Fetching a Debian kernel source package without touching the machine's apt set-up."""
from pathlib import Path

import pytest

from arena_patches.tree import debian
from arena_patches.core.errors import UserError
from arena_patches.core.runner import FakeRunner


def test_the_archive_is_read_from_the_machines_own_sources(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: x\n\n"
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n")
    assert debian.system_mirror(tmp_path) == "http://mirror.example/debian"
    (tmp_path / "sources.list.d" / "debian.sources").unlink()
    (tmp_path / "sources.list").write_text("deb [arch=amd64] http://other.example/debian bookworm main\n")
    assert debian.system_mirror(tmp_path) == "http://other.example/debian"
    assert debian.system_mirror(tmp_path / "nowhere") is None


def test_private_apt_never_the_systems(tmp_path):
    seen = []

    def answer(argv, cwd):
        seen.append(argv)
        if argv[0] == "apt-cache" and "search" in argv:
            return 0, "linux-source-7.1 - Linux kernel source\nlinux-source-7.2 - Linux kernel source\n", ""
        if argv[0] == "apt-cache" and "policy" in argv:
            return 0, f"{argv[-1]}:\n  Candidate: {'7.2.13-1' if argv[-1].endswith('7.2') else '7.1.9-1'}\n", ""
        if argv[0] == "apt-get" and "download" in argv:
            Path(cwd, "linux-source-7.2_7.2.13-1_all.deb").write_bytes(b"deb")
            return 0, "", ""
        if argv[0] == "dpkg-deb":
            out = Path(argv[-1]) / "usr" / "src"
            out.mkdir(parents=True)
            (out / "linux-source-7.2.tar.xz").write_bytes(b"xz")
            return 0, "", ""
        return 0, "", ""

    r = FakeRunner(answer)
    got = debian.fetch("debian:linux-source-7", mirror="http://m.example/debian", runner=r, root=tmp_path)
    assert (got.package, got.version, got.downloaded) == ("linux-source-7.2", "7.2.13-1", True)
    assert got.tarball.read_bytes() == b"xz"
    for argv in seen:
        if argv[0].startswith("apt"):
            assert "Dir::Etc::sourceparts=/nonexistent" in argv
            assert any(a.startswith("Dir::Etc::sourcelist=" + str(tmp_path)) for a in argv)
            assert any(a.startswith("Dir::State::Lists=" + str(tmp_path)) for a in argv)
    assert "http://m.example/debian sid main" in (tmp_path / "sources.list").read_text()
    # named exactly and already unpacked: no apt at all (offline)
    seen.clear()
    again = debian.fetch("debian:linux-source-7.2", runner=FakeRunner(lambda a, c: (1, "", "offline")),
                         root=tmp_path)
    assert again.tarball == got.tarball and not again.downloaded


def test_not_a_kernel_package_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="not a Debian kernel source package"):
        debian.fetch("debian:bash", root=tmp_path)
