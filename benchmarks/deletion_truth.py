#!/usr/bin/env python3
"""Ground truth for invariants/deletions.py: is a deleted `;` or `}` a compile error? gcc says.

The seeder's rules (which deletions still compile) are checked against the real compiler:
a kernel source tree with an O= directory where `make defconfig prepare` ran, and the
compile command of one object (`make O=... kernel/fork.o V=1`), are used to run
`gcc -fsyntax-only` (without -Werror; the kernel's own -Werror=... flags stay) on each
mutated file, in its own directory (so `#include "x.h"` resolves). A file that does not
compile unmutated under this config is skipped; a mutant gcc accepts is checked once more
with an `@` put in place of the token: if gcc still accepts, the place is not compiled
under this config (an #ifdef branch) and the mutant says nothing either way.

    python benchmarks/deletion_truth.py --src /tmp/k/linux-source-7.2 --obj /tmp/k/o \\
        --cmd /tmp/k/cmd.txt [--dirs kernel,mm,net/core] [--n 300] [--seed 5]

Prints one line per mutant and the agreement per kind and shape.
"""
from __future__ import annotations

import argparse
import random
import re
import shlex
import subprocess
from collections import Counter
from pathlib import Path

from arena_patches.invariants import deletions


def gcc_accepts(flags: list[str], obj: Path, path: Path, text: str, rel: str) -> bool:
    mutant = path.with_name(".truth_" + path.name)
    mutant.write_text(text)
    mod = Path(rel).stem
    argv = [*flags, f"-I{path.parent}", f"-I{Path(rel).parent}", f"-DKBUILD_MODFILE=\"{rel[:-2]}\"",
            f"-DKBUILD_BASENAME=\"{mod}\"", f"-DKBUILD_MODNAME=\"{mod}\"", f"-D__KBUILD_MODNAME={mod}",
            "-fsyntax-only", str(mutant)]
    try:
        return subprocess.run(argv, cwd=obj, capture_output=True, timeout=120).returncode == 0
    finally:
        mutant.unlink()


def compile_flags(cmd: str) -> list[str]:
    """The object's gcc command without its dependency file, -Werror, output, source and
    per-directory flags."""
    argv = shlex.split(cmd.strip())
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == "-o":
            skip = True
            continue
        if a.startswith("-Wp,-MMD") or a in ("-Werror", "-c") or a.endswith(".c") \
                or re.match(r"-D(KBUILD_|__KBUILD_)", a) or (a.startswith("-I") and not a.startswith("-I/")
                                                            and "include" not in a) \
                or (a.startswith("-I/") and "include" not in a):
            continue
        out.append(a)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", required=True, type=Path)
    ap.add_argument("--obj", required=True, type=Path)
    ap.add_argument("--cmd", required=True, type=Path)
    ap.add_argument("--dirs", default="kernel,mm,net/core")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=5)
    a = ap.parse_args()
    flags = compile_flags(a.cmd.read_text())
    rng = random.Random(a.seed)
    files = sorted(p for d in a.dirs.split(",") for p in (a.src / d).rglob("*.c"))
    pool = []
    for f in files:
        text = f.read_text(errors="replace")
        pool += [(f, text, s) for s in deletions.seeds(text)]
    rng.shuffle(pool)
    base_ok: dict[Path, bool] = {}
    agree, seen = Counter(), Counter()
    done = 0
    for f, text, (at, kind, shape, error) in pool:
        if done >= a.n:
            break
        rel = str(f.relative_to(a.src))
        if f not in base_ok:
            base_ok[f] = gcc_accepts(flags, a.obj, f, text, rel)
        if not base_ok[f]:
            continue
        ok = gcc_accepts(flags, a.obj, f, text[:at] + text[at + 1:], rel)
        if ok and gcc_accepts(flags, a.obj, f, text[:at] + "@" + text[at + 1:], rel):
            verdict = "not compiled"
        else:
            verdict = "accepts" if ok else "error"
            done += 1
            seen[(kind, shape)] += 1
            agree[(kind, shape)] += (verdict == "error") == error
        line = text.count("\n", 0, at) + 1
        print(f"{rel}:{line} {kind} {shape} seeder={'error' if error else 'valid'} gcc={verdict}", flush=True)
    print(f"judged {done} mutants; files that compile unmutated: {sum(base_ok.values())} of {len(base_ok)}")
    for key in sorted(seen):
        print(f"  {key[0]} {key[1]:22s} seeder agrees with gcc {agree[key]}/{seen[key]}")
    print(f"agreement: {sum(agree.values())}/{sum(seen.values())}")


if __name__ == "__main__":
    main()
