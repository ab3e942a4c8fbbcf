#!/usr/bin/env python3
"""The C layer on a whole kernel tree: how fast `parses` sweeps it, how many real files it
wrongly calls unparseable, and how many seeded mutants (a deleted `;`, `}` or `)`) it
catches. Prints figures; never passes or fails on time.

    .venv/bin/python benchmarks/parse_sweep.py --tree ~/linux-7.2 [--dirs kernel,mm,net/core] [--mutants 300]

--tree is a kernel git tree (e.g. `arena-patches tree import debian:linux-source-7.2 DEST`);
files are read from its HEAD, nothing is checked out.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from arena_patches.tree import repo as tree_mod
from arena_patches.invariants import cparse, mutants
from arena_patches.invariants.sources import CommitFiles


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tree", required=True)
    ap.add_argument("--dirs", default="kernel,mm,net/core")
    ap.add_argument("--mutants", type=int, default=300)
    ap.add_argument("--seed", type=int, default=3)
    a = ap.parse_args()
    dirs = [d.strip("/") for d in a.dirs.split(",")]
    with tempfile.TemporaryDirectory() as work, \
            tree_mod.work_repo(tree_mod.open_user_tree(a.tree), Path(work)) as wr:
        files = CommitFiles(wr, wr.resolve("HEAD"))
        t0 = time.monotonic()
        files.dialect()
        t_dialect = time.monotonic() - t0
        names = [p for p in files._ls(*(d + "/" for d in dirs)) if p.endswith(".c")]
        texts = dict(zip(names, files._cat(names)))
        t0 = time.monotonic()
        failed = {}
        for path, text in texts.items():
            errs = cparse.parse(text, path, files.dialect_for(path)).parse_errors()
            if errs:
                failed[path] = errs[0]
        t_sweep = time.monotonic() - t0
        print(f"dialect: {files.dialect().source}, read in {t_dialect:.1f} s")
        print(f"sweep {','.join(dirs)}: {len(texts)} files, {len(failed)} do not parse "
              f"({100 * len(failed) / max(len(texts), 1):.2f} %), {len(texts) / t_sweep:.1f} files/s")
        for path, (fn, line, what) in sorted(failed.items()):
            print(f"  {path}: {fn}() line {line}: {what}")
        if a.mutants:
            small = sorted((p, t) for p, t in texts.items() if p not in failed and t.count("\n") < 2500)
            t0 = time.monotonic()
            sample = mutants.sample(small[::2], files.dialect_for, a.mutants, a.seed)
            for kind, (caught, tried) in mutants.rates(sample).items():
                print(f"mutants: deleted {kind!r} caught {caught}/{tried} ({100 * caught / tried:.1f} %)")
            print(f"mutants: {len(sample)} in {time.monotonic() - t0:.0f} s")


if __name__ == "__main__":
    main()
