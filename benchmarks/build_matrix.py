#!/usr/bin/env python3
"""Build matrix speed: the demo series (3 versions x 4 patches) on x86_64, i386 and
loongarch64, cold (empty work dir and ccache) then warm (same again), printing wall
time, compiler invocations, ccache hit rate, and the lower bound: every unique
(file state, target) compiled once. Prints figures; passes or fails on nothing.

    .venv/bin/python benchmarks/build_matrix.py [--targets x86_64,i386] [--keep DIR]
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from arena_patches.demo import prepare as demo
from arena_patches.verify import stages
from arena_patches.mail import spec as spec_mod
from arena_patches.tree import repo as tree_mod


def lower_bound(wr, s, applied, targets, first_states: dict[str, int]) -> int:
    """A full base build per target plus each distinct touched .c content once per target
    that compiles it (header fan-out is not counted, so the true floor is a bit higher)."""
    total = 0
    for t in targets:
        states = set()
        for r in applied:
            v = s.version(r.version)
            for p in r.patches:
                if not p.commit or v is None:
                    continue
                for path in v.patch(p.number).paths if v.patch(p.number) else ():
                    if path.endswith(".c") and not path.startswith("tools/"):
                        blob = wr.git("rev-parse", f"{p.commit}:{path}", check=False).stdout.strip()
                        states.add((path, blob))
        total += first_states.get(t, 0) + len(states)
    return total


def run(targets: str, work: Path):
    os.environ["CCACHE_DIR"] = str(work / "ccache")
    os.environ["ARENA_PATCHES_CACHE"] = str(work / "cache")
    d = demo.prepare(work / "demo")
    spec = spec_mod.load(str(d.spec))
    s = stages.load_series(spec, str(d.source))
    rows = []
    with tree_mod.work_repo(tree_mod.open_user_tree(d.tree), work / "w") as wr:
        applied = stages.apply_series(s, wr, [v.version for v in s.versions])
        for label in ("cold", "warm"):
            t0 = time.monotonic()
            cells, stats = stages.build_series(spec, s, wr, applied, targets, None, None,
                                                 os.cpu_count() or 2, False)
            rows.append((label, time.monotonic() - t0, stats, len(cells)))
        base_compiles = {}
        for t in targets.split(","):
            logs = list((wr.root / "builds").glob(f"{t}-*"))
            base_compiles[t] = sum(1 for _ in logs[0].rglob("*.o")) if logs else 0
        bound = lower_bound(wr, s, applied, targets.split(","), base_compiles)
    print(f"build matrix: demo series, targets {targets}, {os.cpu_count()} cpus")
    print(f"{'run':5} {'wall s':>8} {'cells':>6} {'compiler calls':>15} {'ccache hits':>12} {'hit rate':>9} {'states built':>13} {'cached':>7}")
    for label, wall, st, n in rows:
        calls = st.ccache_hits + st.ccache_misses
        rate = f"{100 * st.ccache_hits / calls:.0f}%" if calls else "-"
        print(f"{label:5} {wall:8.1f} {n:6} {st.compiler_invocations:15} {st.ccache_hits:12} "
              f"{rate:>9} {st.built_states:13} {st.cached_results:7}")
    print(f"lower bound: {bound} compiles (a full base build per target, then each distinct "
          "touched .c file state once per target)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", default="x86_64,i386,loongarch64")
    ap.add_argument("--keep", help="use this work dir and keep it (default: a fresh temp dir)")
    a = ap.parse_args()
    if a.keep:
        run(a.targets, Path(a.keep))
        return
    work = Path(tempfile.mkdtemp(prefix="arena-bench-"))
    try:
        run(a.targets, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
