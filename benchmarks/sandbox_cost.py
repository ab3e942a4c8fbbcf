#!/usr/bin/env python3
"""What the sandbox costs: the demo series on the real 6.12 kernel (x86_64), built inside
bwrap and unconfined, alternately (A B A B: a shared, loaded machine drifts):

  start    bwrap around `true`, against `true` alone (the fixed cost per command)
  incr     `make vmlinux` after touching kernel/bpf/arena.c, in a built O= dir
  cold     `make vmlinux` of the base in a fresh O= dir with a warm ccache (every compile
           runs, ccache serves it; hits counted both ways)
  matrix   (--matrix) the demo's x86_64 cells (3 versions x 4 patches) in a fresh O= dir with a
           warm ccache: every compile runs, ccache serves it (hits counted both ways)

Prints figures; passes or fails on nothing. Run it under nice on a shared machine.

    nice -n 10 .venv/bin/python benchmarks/sandbox_cost.py [--work DIR] [--rounds 1]
        [--tree ~/.cache/arena-patches-tests/linux-6.12]   (an imported 6.12 tree: no import)
        [--matrix]                                          (the whole matrix too: long)
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from arena_patches.core.runner import Runner
from arena_patches.core.sandbox import around
from arena_patches.demo import mkseries, prepare as demo
from arena_patches.kbuild import kconfig, targets as targets_mod
from arena_patches.kbuild.directory import BuildDir, ccache_counts
from arena_patches.mail import spec as spec_mod
from arena_patches.tree import repo as tree_mod
from arena_patches.verify import stages

MODES = {"bwrap": Runner(), "none": Runner(sandbox=False)}


def start_cost(reps: int = 20) -> dict[str, float]:
    box = around(["/tmp"])
    out = {}
    for name, r in MODES.items():
        times = [r.run(["true"], sandbox=box).seconds for _ in range(reps)]
        out[name] = statistics.median(times)
    return out


def incremental(bd: BuildDir, rounds: int) -> dict[str, list[float]]:
    arena = bd.source / "kernel/bpf/arena.c"
    out: dict[str, list[float]] = {m: [] for m in MODES}
    for _ in range(rounds):
        for name, r in MODES.items():
            os.utime(arena)
            rec = dataclasses.replace(bd, runner=r).make(["vmlinux"], 3600)
            assert rec.returncode == 0, rec.stderr[-2000:]
            out[name].append(rec.seconds)
    return out


def cold(bd: BuildDir, rounds: int) -> dict[str, tuple[list, list, list]]:
    """A fresh O= dir beside the matrix's (same depth under the work dir: the same ccache
    keys), config made, then `make vmlinux`: A B A B."""
    out: dict[str, tuple[list, list, list]] = {m: ([], [], []) for m in MODES}
    for _ in range(rounds):
        for name, r in MODES.items():
            fresh = dataclasses.replace(bd, out=bd.out.parent / f"bench-cold-{name}", runner=r)
            shutil.rmtree(fresh.out, ignore_errors=True)
            fresh.ensure_config()
            h0, m0 = ccache_counts()
            rec = fresh.make(["vmlinux"], 3600)
            h1, m1 = ccache_counts()
            assert rec.returncode == 0, rec.stderr[-2000:]
            out[name][0].append(rec.seconds)
            out[name][1].append(h1 - h0)
            out[name][2].append(m1 - m0)
            shutil.rmtree(fresh.out, ignore_errors=True)
    return out


def matrix(spec, s, wr, applied, rounds: int) -> dict[str, list]:
    out: dict[str, list] = {m: [] for m in MODES}
    for _ in range(rounds):
        for name, r in MODES.items():
            for cache in wr.root.glob("build-cache"):
                shutil.rmtree(cache)
            for o in wr.root.glob("builds/x86_64-*"):
                shutil.rmtree(o)
            t0 = time.monotonic()
            cells, st = stages.build_series(spec, s, dataclasses.replace(wr, runner=r), applied, "x86_64",
                                            None, None, 2, False)
            out[name].append((time.monotonic() - t0, st, [c.word for c in cells]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default=str(Path.home() / ".cache" / "arena-patches-bench-sandbox"))
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--tree", help="an imported 6.12 git tree (default: the demo imports its own)")
    ap.add_argument("--matrix", action="store_true")
    a = ap.parse_args()
    work = Path(a.work)
    if a.tree:
        tree, mails = Path(a.tree), work / "mails"
        mkseries.write(tree, "HEAD", demo.TITLE, demo.versions(), mails, tag="demo")
        spec = spec_mod.load(str(demo.SPEC))
    else:
        d = demo.prepare(work / "demo")
        tree, mails, spec = d.tree, d.source, spec_mod.load(str(d.spec))
    s = stages.load_series(spec, str(mails))
    print(f"sandbox cost: demo series on {tree.name}, x86_64, {os.cpu_count()} cpus, "
          f"load {os.getloadavg()[0]:.1f}, ccache {os.environ.get('CCACHE_DIR') or 'default'}")
    st = start_cost()
    print(f"start   bwrap {st['bwrap'] * 1000:.1f} ms, none {st['none'] * 1000:.1f} ms (median of 20 `true`)",
          flush=True)
    with tree_mod.work_repo(tree_mod.open_user_tree(tree), work) as wr:
        applied = stages.apply_series(s, wr, [v.version for v in s.versions])
        t = targets_mod.all_targets()["x86_64"]
        cfg = kconfig.resolve(None, spec.build.kconfig).for_target(t)
        bd = BuildDir.at(wr.root, t, None, cfg, 2, runner=wr.runner)
        with wr.worktree(bd.worktree, applied[-1].head):
            bd.ensure_config()
            bd.make(["vmlinux"], 3600)
            inc = incremental(bd, a.rounds + 1)
        for name, secs in inc.items():
            print(f"{'incr':7} {name:6} {statistics.median(secs):8.1f} s  (median of {len(secs)}: "
                  f"{', '.join(f'{x:.1f}' for x in secs)})", flush=True)
        with wr.worktree(bd.worktree, applied[0].base):
            for name, (wall, hits, misses) in cold(bd, a.rounds).items():
                print(f"{'cold':7} {name:6} {statistics.median(wall):8.1f} s  ccache {sum(hits)} hits / "
                      f"{sum(misses)} misses  ({', '.join(f'{x:.1f}' for x in wall)})", flush=True)
        if not a.matrix:
            return
        print(f"{'run':7} {'mode':6} {'wall s':>8} {'compiles':>9} {'ccache hits':>12} {'misses':>7}  grid",
              flush=True)
        for _ in range(a.rounds):
            for name, runs in matrix(spec, s, wr, applied, 1).items():
                for wall, stt, grid in runs:
                    print(f"{'matrix':7} {name:6} {wall:8.1f} {stt.compiler_invocations:9} {stt.ccache_hits:12} "
                          f"{stt.ccache_misses:7}  {' '.join(grid)}", flush=True)

if __name__ == "__main__":
    main()
