#!/usr/bin/env python3
"""What making a git tree of a kernel source tarball costs (the first step of README's
demo, and of `tree import`), side by side with what a maintainer would otherwise run:

  (a) tar -xf alone (a tree to build, no git)
  (b) tar -xf, then git init, git add -A -f, git commit (a git tree the usual way)
  (c) arena-patches: the tarball streamed into git fast-import (tree/tarball.py), as shipped
  (d) the same stream into fast-import with git's own defaults (a delta tried against the
      blob before each blob, zlib's default level): what (c) chose not to do

Prints wall seconds and the size on disk of each; checks that (c) and (d) made the same
commit. Passes or fails on nothing.

    .venv/bin/python benchmarks/import_cost.py [--tarball /usr/src/linux-source-6.12.tar.xz]
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from arena_patches.core import runner as runner_mod
from arena_patches.tree import tarball

GIT = ["git", "-c", "user.name=m", "-c", "user.email=m@x"]


def _size(p: Path) -> int:
    return int(subprocess.run(["du", "-sb", str(p)], capture_output=True, text=True).stdout.split()[0])


def _timed(fn) -> float:
    t = time.monotonic()
    fn()
    return time.monotonic() - t


def _git_defaults(argv: list[str]) -> list[str]:
    """fast-import's command line without what tarball.py adds to it."""
    return [a for i, a in enumerate(argv) if a != "--depth=0" and a != "pack.compression=1"
            and not (a == "-c" and i + 1 < len(argv) and argv[i + 1] == "pack.compression=1")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tarball", default="/usr/src/linux-source-6.12.tar.xz")
    a = ap.parse_args()
    tb = Path(a.tarball)
    work = Path(tempfile.mkdtemp(prefix="arena-import-"))
    rows = []
    try:
        (work / "a").mkdir()
        t = _timed(lambda: subprocess.run(["tar", "-xf", str(tb), "-C", str(work / "a")], check=True))
        rows.append(("(a) tar -xf", t, _size(work / "a")))
        src = next((work / "a").iterdir())

        def by_hand():
            subprocess.run(["git", "init", "-q", str(src)], check=True)
            # -f: Debian's tarball ignores everything at its top (its .gitignore: "/*")
            subprocess.run(GIT + ["-C", str(src), "add", "-A", "-f"], check=True)
            subprocess.run(GIT + ["-C", str(src), "commit", "-q", "-m", "import"], check=True)
        t2 = _timed(by_hand)
        rows.append(("(b) tar -xf, git add -A -f, git commit", t + t2, _size(work / "a")))
        shutil.rmtree(work / "a")
        shipped = {}
        t = _timed(lambda: shipped.update(sha=tarball.import_tarball(tb, work / "c", checkout=False).commit))
        rows.append(("(c) arena-patches tree import (no checkout)", t, _size(work / "c")))
        real = runner_mod.Runner.feed
        runner_mod.Runner.feed = lambda self, argv, write, **kw: real(self, _git_defaults(list(argv)), write, **kw)
        try:
            plain = {}
            t = _timed(lambda: plain.update(sha=tarball.import_tarball(tb, work / "d", checkout=False).commit))
        finally:
            runner_mod.Runner.feed = real
        rows.append(("(d) the same, fast-import with git's defaults", t, _size(work / "d")))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"making a git tree of {tb.name}:")
    for label, sec, size in rows:
        print(f"  {label:48} {sec:7.1f} s  {size / 2**20:7.0f} MB")
    print(f"  (c) and (d) made the same commit: {shipped['sha'] == plain['sha']}")


if __name__ == "__main__":
    main()
