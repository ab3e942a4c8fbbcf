"""A fake kernel tree and fake compilers (tuxmake's test/fakelinux, in this project's
words): see the Makefile for what fails on request."""
from __future__ import annotations

import os
from pathlib import Path

from tests import gittree

HERE = Path(__file__).resolve().parent
BIN = HERE / "bin"


def tree(path: Path, files: dict[str, str]) -> Path:
    """A git tree with the fake kbuild Makefile and these files, one commit."""
    return gittree.make(path, {"Makefile": (HERE / "Makefile").read_text(), **files})


def on_path(monkeypatch) -> None:
    """The fake gcc and ccache first on PATH, and the FAKELINUX_* knobs let into the
    sandbox (which passes only what a build reads: ARENA_PATCHES_PASS_ENV names more)."""
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("ARENA_PATCHES_PASS_ENV", "FAKELINUX_FAIL,FAKELINUX_SLEEP,FAKELINUX_DISK_FULL")


SPEC = '[series]\ntitle = "k: fake"\n[build]\ntargets = ["x86_64"]\nkconfig = ["CONFIG_BPF=y"]\n'


def series(tmp_path: Path, monkeypatch, base: dict[str, str], versions: list, tag: str = "fake",
           spec: str = SPEC) -> dict:
    """A fake tree with `base`, the series `versions` written on it as mails, a spec, the
    fake compilers on PATH and a ccache dir of the test's own."""
    from arena_patches.demo import mkseries
    on_path(monkeypatch)
    monkeypatch.setenv("CCACHE_DIR", str(tmp_path / "ccache"))
    t = tree(tmp_path / "linux", base)
    src = tmp_path / "mails"
    mkseries.write(t, "HEAD", "k: fake", versions, src, tag=tag)
    (tmp_path / "fake.toml").write_text(spec)
    return {"tree": t, "src": src, "spec": tmp_path / "fake.toml", "work": tmp_path / "work", "tmp": tmp_path}
