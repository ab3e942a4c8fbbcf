#!/usr/bin/env python3
"""The build matrix side by side with the loop maintainers write today, on the embedded
demo series (3 versions x 4 patches), the same targets and the same config:

  (a) per target, per version: `git rebase -x "make O=<target dir> vmlinux" <base>` in a
      clone, cold ccache, one O= dir per target (what a maintainer scripts by hand);
  (b) arena-patches cold: empty work dir, empty ccache, apply + build matrix;
  (c) arena-patches re-run (the result cache);
  (d) the lower bound: one cold base build per target, then each distinct tree state
      built once incrementally (timed in (a): the first time (a) built that state);
  (e) arena-patches cold with `--executor ray` (a local Ray instance on this machine);
  (g) with `--parts abcdefg`: (b) again with the per-patch checks (sparse riding on the
      matrix, then every check on every patch); g/b is their cost;
  (f) a series of 20 one-line patches (20 files of kernel/bpf/) on x86_64 after its base
      is built: the marginal cost per patch, beside `make vmlinux` after touching one .c
      file in the same O= dir (what the cost of a long series should grow with).

Prints seconds and the ratios b/a, c/a, b/d, e/b, and the peak RSS of this process (the
tool's own; make and the compilers are its children); writes the figures to --out (JSON).
Passes or fails on nothing. `--parts f` runs the series column alone.

    .venv/bin/python benchmarks/side_by_side.py [--targets x86_64,i386] [--parts abcdef] [--out figures.json]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from arena_patches.checks import registry as checks_registry, run as checks_run
from arena_patches.demo import prepare as demo
from arena_patches.core import executor
from arena_patches.verify import stages
from arena_patches.mail import spec as spec_mod
from arena_patches.kbuild import targets as targets_mod
from arena_patches.tree import repo as tree_mod
from arena_patches.kbuild.targets import make_argv, shell_line


def arena(d, spec, s, work: Path, targets: str, ex=None, checks: bool = False) -> tuple[float, dict]:
    """`checks`: (g), sparse riding on the matrix, then the whole registry on every patch."""
    t0 = time.monotonic()
    found = []
    with tree_mod.work_repo(tree_mod.open_user_tree(d.tree), work) as wr:
        applied = stages.apply_series(s, wr, [v.version for v in s.versions])
        t_apply = time.monotonic() - t0  # with the one checkout of the tree the builds use
        cells, stats = stages.build_series(spec, s, wr, applied, targets, None, None,
                                             os.cpu_count() or 2, False, executor=ex, sparse=checks)
        t_matrix = time.monotonic() - t0
        if checks:
            ctxs = checks_run.contexts(s, [v.version for v in s.versions], applied, wr, cells=tuple(cells))
            found = checks_run.run(checks_registry.select(None), ctxs)
    grid = {f"v{c.version} {c.patch}/{c.target}": c.status.value for c in cells}
    return time.monotonic() - t0, {"grid": grid, "compiler_invocations": stats.compiler_invocations,
                                   "built_states": stats.built_states, "cached": stats.cached_results,
                                   "matrix_seconds": t_matrix, "apply_seconds": t_apply,
                                   "checks": {f"v{r.version} {r.patch} {r.check}": r.status.value for r in found}}


def maintainer_loop(d, spec, s, work: Path, targets: str, config_from: Path) -> tuple[float, float, dict]:
    """(a), and from its own timings (d). Returns (a seconds, d seconds, details)."""
    env = {**os.environ, "CCACHE_DIR": str(work / "ccache-a"), "LC_ALL": "C"}
    scratch = work / "scratch"
    with tree_mod.work_repo(tree_mod.open_user_tree(d.tree), work / "w-a") as wr:
        applied = stages.apply_series(s, wr, [v.version for v in s.versions])
        subprocess.run(["git", "clone", "-q", "--shared", str(wr.repo), str(scratch)], check=True)
        heads = [(r.version, r.base, r.head) for r in applied if r.head]
        tree_of = {}
        for r in applied:
            for p in r.patches:
                if p.commit:
                    tree_of[p.commit] = wr.git("rev-parse", f"{p.commit}^{{tree}}").stdout.strip()
    t_all = time.monotonic()
    seen: set[str] = set()
    bound = 0.0
    steps = []
    for t in targets_mod.select(targets, targets_mod.ORDER):
        tc = t.toolchain(None)
        out = work / f"out-a-{t.name}"
        out.mkdir()
        subprocess.run(["git", "-C", str(scratch), "checkout", "-q", "--detach", heads[0][1]], check=True)
        cfg = next(config_from.glob(f"builds/{t.name}-*/.config"))
        shutil.copy(cfg, out / ".config")
        subprocess.run(make_argv(t, tc, scratch, out, ["olddefconfig"], os.cpu_count() or 2),
                       env=env, check=True, capture_output=True)
        log = work / f"times-{t.name}.log"
        for v, base, head in heads:
            make = shell_line(make_argv(t, tc, scratch, out, ["vmlinux"], os.cpu_count() or 2))
            # each exec line logs the commit and how long its make took, then goes on even when
            # the make fails (a broken patch is what the maintainer wants to see, not a stop)
            cmd = (f"s=$(date +%s.%N); {make} >/dev/null 2>&1; rc=$?; "
                   f"echo $(git rev-parse HEAD) $s $(date +%s.%N) $rc >> {log}")
            subprocess.run(["git", "-C", str(scratch), "checkout", "-q", "-B", f"v{v}", head], check=True)
            subprocess.run(["git", "-C", str(scratch), "-c", "user.name=m", "-c", "user.email=m@x",
                            "rebase", "-q", "-x", cmd, base], env=env, check=True, capture_output=True)
        first = True
        for line in log.read_text().splitlines():
            commit, start, end, _rc = line.split()
            took = float(end) - float(start)
            steps.append({"target": t.name, "commit": commit[:12], "seconds": round(took, 1)})
            tree = tree_of.get(commit, commit)
            if first or (t.name, tree) not in seen:
                bound += took  # the first make is the cold base build (plus patch 1)
            seen.add((t.name, tree))
            first = False
    return time.monotonic() - t_all, bound, {"steps": steps}


SERIES20 = ("core", "syscall", "verifier", "inode", "helpers", "tnum", "log", "token", "bpf_iter", "map_iter",
            "task_iter", "prog_iter", "link_iter", "hashtab", "arraymap", "percpu_freelist", "bpf_lru_list",
            "lpm_trie", "map_in_map", "bloom_filter")


def series20(kernel: Path, work: Path) -> dict:
    """(f): 20 one-line patches, one file each, on x86_64; the base built first (its
    cold build is not what this column measures), then the series: seconds per patch."""
    from arena_patches.demo import mkseries
    from arena_patches.demo.mkseries import Edit, PatchSpec, VersionSpec
    from arena_patches.kbuild import kconfig
    from arena_patches.kbuild.directory import BuildDir
    patches = tuple(PatchSpec(f"bpf: {name}: one line", "One line.", (Edit(
        f"kernel/bpf/{name}.c", "", f"static const int __maybe_unused side_by_side_{i} = {i};\n"),))
        for i, name in enumerate(SERIES20, 1))
    src = work / "series20"
    mkseries.write(kernel, "HEAD", "bpf: twenty lines", [VersionSpec(1, patches)], src, tag="twenty")
    spec = spec_mod.from_dict({"series": {"title": "bpf: twenty lines"},
                               "build": {"targets": ["x86_64"], "kconfig": list(spec_mod.load(str(demo.SPEC)).build.kconfig)}},
                              "twenty.toml")
    s = stages.load_series(spec, str(src))
    with tree_mod.work_repo(tree_mod.open_user_tree(kernel), work / "w-f") as wr:
        applied = stages.apply_series(s, wr, [1])
        t0 = time.monotonic()
        cells, _ = stages.build_series(spec, s, wr, applied, "x86_64", None, None, os.cpu_count() or 2, False)
        wall = time.monotonic() - t0
        per = [c.seconds for c in cells]
        t = targets_mod.select("x86_64")[0]
        bd = BuildDir.at(wr.root, t, None, kconfig.resolve(None, spec.build.kconfig).for_target(t), os.cpu_count() or 2)
        with wr.worktree(bd.worktree, applied[0].head):
            bd.make(["vmlinux"], 3600)
            (bd.source / "kernel/bpf/core.c").touch()
            t1 = time.monotonic()
            bd.make(["vmlinux"], 3600)
            touch = time.monotonic() - t1
    base = wall - sum(per)
    return {"patches": len(per), "wall_with_base": wall, "base_and_overhead": base,
            "per_patch_mean": sum(per) / len(per), "per_patch_max": max(per),
            "make_after_touching_one_c": touch, "grid": [c.status.value for c in cells]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", default="x86_64,i386")
    ap.add_argument("--out", default="side_by_side.json")
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--parts", default="abcdef", help="which columns: a-e (the matrix), f (20 patches), "
                                                       "g (the matrix with the per-patch checks)")
    ap.add_argument("--kernel", help="(f) only: an already imported 6.12 tree to write the 20 patches on "
                                     "(else the tarball is imported)")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="arena-side-"))
    try:
        os.environ["ARENA_PATCHES_CACHE"] = str(work / "cache")
        if a.kernel and "b" not in a.parts:
            fig = {"cpus": os.cpu_count(), "f_series20": series20(Path(a.kernel), work)}
            return _print(fig, a)
        d = demo.prepare(work / "demo")
        spec = spec_mod.load(str(d.spec))
        s = stages.load_series(spec, str(d.source))
        fig: dict = {"targets": a.targets, "cpus": os.cpu_count(), "series": "embedded demo, 3 versions x 4 patches"}
        if "f" in a.parts:
            fig["f_series20"] = series20(d.tree, work)
        if "b" in a.parts:
            _matrix_columns(fig, a, d, spec, s, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _print(fig, a)


def _matrix_columns(fig: dict, a, d, spec, s, work: Path) -> None:
    os.environ["CCACHE_DIR"] = str(work / "ccache-b")
    fig["b_cold"], fig["b_detail"] = arena(d, spec, s, work / "w-b", a.targets)
    fig["c_rerun"], _ = arena(d, spec, s, work / "w-b", a.targets)
    if "g" in a.parts:  # the matrix with the per-patch checks, cold like (b)
        os.environ["CCACHE_DIR"] = str(work / "ccache-g")
        fig["g_checks_cold"], fig["g_detail"] = arena(d, spec, s, work / "w-g", a.targets, checks=True)
        fig["g_same_grid"] = fig["g_detail"]["grid"] == fig["b_detail"]["grid"]
        fig["g/b"] = fig["g_checks_cold"] / fig["b_cold"]
    fig["a_loop"], fig["d_bound"], fig["a_detail"] = maintainer_loop(d, spec, s, work, a.targets,
                                                                    next((work / "w-b" / "trees").iterdir()))
    if not a.no_ray:
        os.environ["CCACHE_DIR"] = str(work / "ccache-e")
        ex = executor.RayExecutor(num_cpus=os.cpu_count() or 2)
        try:
            fig["e_ray_cold"], fig["e_detail"] = arena(d, spec, s, work / "w-e", a.targets, ex)
        finally:
            import ray
            ray.shutdown()
        fig["e_same_grid"] = fig["e_detail"]["grid"] == fig["b_detail"]["grid"]


def _print(fig: dict, a) -> None:
    fig["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"side by side: demo series, targets {a.targets}, {os.cpu_count()} cpus, cold = empty ccache")
    if "f_series20" in fig:
        f = fig["f_series20"]
        print(f"  (f) {f['patches']} one-line patches on x86_64: {f['per_patch_mean']:.1f} s per patch "
              f"(max {f['per_patch_max']:.1f}); make after touching one .c: {f['make_after_touching_one_c']:.1f} s")
    print(f"  peak RSS of this process (the tool's own): {fig['peak_rss_mb']:.0f} MB")
    if "b_cold" not in fig:
        Path(a.out).write_text(json.dumps(fig, indent=2) + "\n")
        print(f"  figures: {a.out}")
        return
    rows = [("(a) maintainer loop: git rebase -x make, per target", fig["a_loop"]),
            ("(b) arena-patches cold (apply + matrix)", fig["b_cold"]),
            ("(c) arena-patches re-run", fig["c_rerun"]),
            ("(d) lower bound: base + each distinct state once", fig["d_bound"])]
    if "e_ray_cold" in fig:
        rows.append(("(e) arena-patches cold, --executor ray", fig["e_ray_cold"]))
    if "g_checks_cold" in fig:
        rows.append(("(g) arena-patches cold, with the per-patch checks", fig["g_checks_cold"]))
    for label, sec in rows:
        print(f"  {label:55} {sec:8.1f} s")
    fig["ratios"] = {"b/a": fig["b_cold"] / fig["a_loop"], "c/a": fig["c_rerun"] / fig["a_loop"],
                     "b/d": fig["b_cold"] / fig["d_bound"]}
    if "e_ray_cold" in fig:
        fig["ratios"]["e/b"] = fig["e_ray_cold"] / fig["b_cold"]
    if "g_checks_cold" in fig:  # the per-patch checks' cost: (g) over (b), the same matrix without them
        fig["ratios"]["g/b"] = fig["g_checks_cold"] / fig["b_cold"]
    print("  " + ", ".join(f"{k} = {v:.2f}" for k, v in fig["ratios"].items()))
    # (a) and (d) build commits (b) applied, in a clone checked out before their clock starts:
    # (b) without its apply (which holds that checkout) is the like-for-like figure, shown too
    ap = fig["b_detail"].get("apply_seconds")
    if ap is not None:  # the cold matrix: issue 28's point 5 holds it against (a) and (d)
        m = fig["b_cold"] - ap
        fig["b_build_only"] = m
        fig["ratios"].update({"matrix/a": m / fig["a_loop"], "matrix/d": m / fig["d_bound"]})
        print(f"  (b) of which apply and the tree's one checkout {ap:.1f} s; the cold matrix alone {m:.1f} s: "
              f"{m / fig['a_loop']:.2f} x (a), {m / fig['d_bound']:.2f} x (d)")
    if "e_same_grid" in fig:
        print(f"  ray grid equals local grid: {fig['e_same_grid']}")
    if "g_same_grid" in fig:
        print(f"  grid with the checks equals the grid without: {fig['g_same_grid']}; "
              f"{len(fig['g_detail']['checks'])} checks run")
    Path(a.out).write_text(json.dumps(fig, indent=2) + "\n")
    print(f"  figures: {a.out}")


if __name__ == "__main__":
    main()
