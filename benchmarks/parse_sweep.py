#!/usr/bin/env python3
"""The C layer on a whole kernel tree: how fast `parses` sweeps it, how many real files it
wrongly calls unparseable, and how many deleted `;` and `}` that are compile errors it
catches, per shape, for several seeds (invariants/deletions.py: anywhere in the files, file
scope too; --mutants adds mutants.py's deleted `)` inside function bodies). Prints figures;
never passes or fails on time.

    .venv/bin/python benchmarks/parse_sweep.py --tree ~/linux-7.2 [--dirs kernel,mm,net/core] \
        [--deletions 200] [--seeds 21,22,23] [--mutants 0]

--tree is a kernel git tree (e.g. `arena-patches tree import debian:linux-source-7.2 DEST`);
files are read from its HEAD, nothing is checked out.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from arena_patches.tree import repo as tree_mod
from arena_patches.invariants import cparse, deletions, mutants
from arena_patches.invariants.sources import CommitFiles


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tree", required=True)
    ap.add_argument("--dirs", default="kernel,mm,net/core")
    ap.add_argument("--deletions", type=int, default=200, help="per kind and seed")
    ap.add_argument("--seeds", default="21,22,23")
    ap.add_argument("--mutants", type=int, default=0, help="mutants.py's deleted `)`, per kind")
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
        small = sorted((p, t) for p, t in texts.items() if p not in failed and t.count("\n") < 2500)
        for seed in (int(x) for x in a.seeds.split(",") if x.strip()) if a.deletions else ():
            t0 = time.monotonic()
            got = deletions.rates(deletions.sample(small, files.dialect_for, a.deletions, seed))
            for kind in (";", "}"):
                caught, tried = got.get((kind, "all"), (0, 0))
                shapes = ", ".join(f"{s} {c}/{t}" for (k, s), (c, t) in sorted(got.items())
                                   if k == kind and s != "all")
                print(f"seed {seed}: deleted {kind!r} caught {caught}/{tried} "
                      f"({100 * caught / max(tried, 1):.1f} %): {shapes}")
            print(f"seed {seed}: {time.monotonic() - t0:.0f} s")
        if a.mutants:
            t0 = time.monotonic()
            sample = mutants.sample(small[::2], files.dialect_for, a.mutants, a.seed)
            for kind, (caught, tried) in mutants.rates(sample).items():
                print(f"mutants: deleted {kind!r} caught {caught}/{tried} ({100 * caught / tried:.1f} %)")
            print(f"mutants: {len(sample)} in {time.monotonic() - t0:.0f} s")

if __name__ == "__main__":
    main()
