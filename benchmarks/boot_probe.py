#!/usr/bin/env python3
"""Boot + probe time per arch: builds the boot kernel of Debian's 6.12 (once; then from
the O= dir) and boots it in QEMU (TCG) with the arena probe, printing build seconds, boot
seconds (QEMU start to the probe's last line) and the probe's answers. Figures only.

    .venv/bin/python benchmarks/boot_probe.py [--targets x86_64,arm64,i386] [--runs 3]
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from arena_patches.demo import prepare as demo
from arena_patches.mail import spec as spec_mod
from arena_patches.kbuild import targets
from arena_patches.tree import repo as tree_mod, tarball
from arena_patches.boot import stage
from arena_patches.core.paths import cache_root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", default="x86_64,arm64,i386")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    kernel = cache_root() / "demo" / "linux-6.12"
    tarball.import_tarball(demo.TARBALL, kernel, checkout=False)
    spec = spec_mod.load()
    print(f"{'target':12} {'build s':>8} {'boot s (median of ' + str(a.runs) + ')':>22} {'min':>6} {'max':>6}  probe")
    with tree_mod.work_repo(tree_mod.open_user_tree(kernel)) as wr:
        head = wr.resolve("HEAD")
        for t in targets.select(a.targets):
            runs = [stage.boot_one(wr, t, None, head, spec.build.kconfig, {}, None, None, "before", 2)
                    for _ in range(a.runs)]
            secs = [r.boot_seconds for r in runs if r.boot_seconds]
            r = runs[0]
            answers = ", ".join(f"{k}={v}" for k, v in r.probe.items() if v and k != "verifier_log")
            if not secs:
                print(f"{t.name:12} {r.build_seconds:8.1f} {'-':>22} {'-':>6} {'-':>6}  {r.status.value}: {r.detail}")
                continue
            print(f"{t.name:12} {r.build_seconds:8.1f} {statistics.median(secs):22.2f} "
                  f"{min(secs):6.2f} {max(secs):6.2f}  {answers}")


if __name__ == "__main__":
    main()
