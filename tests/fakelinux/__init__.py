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
    """The fake gcc and ccache first on PATH (the runner passes the environment on)."""
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ['PATH']}")
