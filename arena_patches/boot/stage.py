"""Boot a built kernel per target in QEMU and ask it, through the probe, what it does with
an arena map and the arena kfuncs; compare with what the series spec expects.

The boot kernel is built in the O= directory of (target, toolchain, config): tinyconfig
plus the series' options plus a console, an initramfs and BTF (kfunc calls name BTF ids,
read here from vmlinux's .BTF section). `verify` builds its matrix for a booted target in
that same directory (kconfig.BuildConfig.boots), so the boot only adds the image, the
UAPI headers and the probe to the state the matrix built last.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from dataclasses import dataclass, field
from typing import Callable

from arena_patches.kbuild import diagnostics as dg
from arena_patches.kbuild.directory import BuildDir, ConfigFailed, placement
from arena_patches.kbuild.kconfig import BuildConfig
from arena_patches.kbuild.stale import drop_stale
from arena_patches.kbuild.state import COLD_TIMEOUT
from arena_patches.core.cache import JsonCache
from arena_patches.core.executor import LocalExecutor, UnitLost
from arena_patches.core.model import RunRecord
from arena_patches.core.paths import read_regular, write_own
from arena_patches.core.sandbox import around
from arena_patches.core.verdicts import BootState, ProbeAnswer, Severity, Status
from arena_patches.kbuild.targets import Target, missing_tool, shell_line
from arena_patches.tree.repo import WorkRepo
from arena_patches.boot import btf, console, initramfs, qemu

BOOT_TIMEOUT = 300.0
PROBE_KEYS = ("arena_map", "sleepable_kfunc", "nonsleepable_kfunc", "verifier_log", "big_alloc")
ANSWER_KEYS = frozenset(PROBE_KEYS) - {"verifier_log"}  # closed words (ProbeAnswer); the log is text


@dataclass(frozen=True)
class BootResult:
    version: int | None
    patch: int | None
    target: str
    state: BootState
    status: Status
    probe: dict = field(default_factory=dict)
    findings: tuple[console.Finding, ...] = ()
    mismatches: tuple[str, ...] = ()
    boot_seconds: float = 0.0
    build_seconds: float = 0.0
    reproduce: str = ""
    detail: str = ""
    console_tail: str = ""
    built: bool = False  # a make ran for the boot kernel
    build_reused: bool = False  # the O= dir already held this tree's boot build: no make
    booted: bool = False  # QEMU ran
    boot_cached: bool = False  # the boot's answer came from the boot cache
    sandbox: str = ""  # what the build and QEMU ran in (core.sandbox.Isolation's word)


def boot_config(series_kconfig: tuple[str, ...], t: Target) -> BuildConfig:
    """tinyconfig, the series' options and what the boot needs (kconfig.BOOT_KCONFIG): the
    matrix's default config for a booted target (kconfig.BuildConfig.boots), the same O= dir."""
    return BuildConfig("tiny", "tinyconfig", tuple(series_kconfig)).for_target(t, boot=True)


def compare(probe: dict, expect: dict) -> list[str]:
    out = []
    for key, want in sorted(expect.items()):
        have = probe.get(key)
        if key == "verifier_log":
            if want not in (have or ""):
                out.append(f"verifier_log: expected it to contain {want!r}, got {have!r}")
        elif have != want:
            out.append(f"{key}: expected {want}, got {have}")
    return out


def boot_one(wr: WorkRepo, t: Target, toolchain: str | None, commit: str, series_kconfig: tuple[str, ...],
             expect: dict, version: int | None, patch: int | None, state: BootState, jobs: int,
             progress: Callable[[str], None] | None = None, separate: bool = False) -> BootResult:
    state = BootState(state)

    def result(status: Status, **kw) -> BootResult:
        return BootResult(version, patch, t.name, state, status, sandbox=wr.runner.isolation.value, **kw)

    bd = BuildDir.at(wr.root, t, toolchain, boot_config(series_kconfig, t), jobs, False, separate, wr.runner)
    why = unbootable(t, toolchain)
    if why:
        return result(Status.SKIP, detail=why)
    start = time.monotonic()
    what = _boot_build_id(bd, wr.git("rev-parse", f"{commit}^{{tree}}").stdout.strip())
    reused = bd.holds(what)
    if not reused:
        with wr.worktree(bd.worktree, commit):
            failed = _build_boot_kernel(bd, commit, progress)
            if failed:
                return result(Status.ERROR, detail=failed[0], reproduce=failed[1], built=True)
        bd.mark(what)
    missing_opts = bd.unmet()
    build_seconds = time.monotonic() - start
    ids = btf.kfunc_ids(bd.out / "vmlinux", set(initramfs.KFUNCS)) if _regular(bd.out / "vmlinux") else {}
    initrd = bd.out / "arena-initramfs.cpio"
    cpio_bytes = initramfs.image(read_regular(bd.out / "arena-probe"), initramfs.programs(ids))
    if initrd.is_symlink() or not initrd.is_file() or initrd.read_bytes() != cpio_bytes:
        write_own(initrd, cpio_bytes)  # a link there is replaced, never followed
    qargv = qemu.argv(t, bd.out / t.image_path, initrd)
    if progress:
        progress(f"boot {t.name}: QEMU")
    # the guest's kernel is the patch's: QEMU reads its image and nothing else of the machine
    box = around(readonly=(bd.out / t.image_path, initrd))
    run, cached = _boot(wr, qargv, bd.out / t.image_path, cpio_bytes, box)
    text = run.stdout + run.stderr
    answers = console.probe(text)
    found = console.findings(text)
    probe = {k: answers.values.get(k) for k in PROBE_KEYS}
    probe.update({k: ProbeAnswer.read(v) for k, v in probe.items() if v is not None and k in ANSWER_KEYS})
    common = dict(probe=probe, findings=tuple(found), boot_seconds=0.0 if cached else run.seconds,
                  build_seconds=build_seconds, reproduce=shell_line(wr.runner.confined(qargv, box)),
                  console_tail="\n".join(text.splitlines()[-25:]), built=not reused, build_reused=reused,
                  booted=not cached, boot_cached=cached)
    if run.timed_out or not answers.ended:
        why = f"timed out after {BOOT_TIMEOUT:.0f} s" if run.timed_out else "the probe never finished"
        return result(Status.ERROR, detail=f"{why} (QEMU killed)", **common)
    mism = compare(probe, expect)
    detail = "; ".join(mism + [f.fingerprint for f in found])
    if missing_opts:
        detail = (detail + "; " if detail else "") + "config options not met: " + ", ".join(missing_opts)
    return result(Status.FAIL if mism or found else Status.PASS, mismatches=tuple(mism),
                  detail=detail, **common)


def unbootable(t: Target, toolchain: str | None) -> str | None:
    """Why this target cannot be booted here (no compiler, no QEMU, no firmware), or None."""
    return missing_tool(t, t.toolchain(toolchain)) or qemu.unavailable(t)


def _boot_build_id(bd: BuildDir, tree_id: str) -> str:
    """What a finished boot build in this O= dir stands for: the tree, the config, the
    compiler, the goals (the image, the UAPI headers, the probe)."""
    probe = hashlib.sha256(initramfs.PROBE_SRC.read_bytes()).hexdigest()[:16]
    return f"boot {tree_id} {bd.config.key} {bd.toolchain_id} {bd.target.image} headers probe {probe}"


def _boot(wr: WorkRepo, qargv: list[str], image: Path, initrd: bytes, box) -> tuple[RunRecord, bool]:
    """QEMU's run, or the answer of the same boot before (True): keyed by the kernel
    image's and the initramfs' contents, QEMU's version and its command line. A boot that
    timed out or never finished the probe is not kept (it may be the machine's fault)."""
    version = wr.runner.run([qargv[0], "--version"], timeout=60).stdout.strip().splitlines()[:1]
    key = hashlib.sha256(json.dumps([hashlib.sha256(image.read_bytes()).hexdigest(),
                                     hashlib.sha256(initrd).hexdigest(), version, qargv]).encode())
    cache = JsonCache(wr.root / "boot-cache")
    hit = cache.get(key.hexdigest()[:32], lambda x: RunRecord(tuple(x["argv"]), None, x["returncode"],
                                                              x["stdout"], x["stderr"], x["seconds"]))
    if hit is not None:
        return hit, True
    run = wr.runner.run(qargv, timeout=BOOT_TIMEOUT, until=lambda s: "ARENA-PROBE end" in s, sandbox=box)
    if not run.timed_out and console.probe(run.stdout + run.stderr).ended:
        cache.put(key.hexdigest()[:32], {"argv": list(run.argv), "returncode": run.returncode,
                                         "stdout": run.stdout, "stderr": run.stderr, "seconds": run.seconds})
    return run, False


def _build_boot_kernel(bd: BuildDir, commit: str, progress) -> tuple[str, str] | None:
    """The image, the UAPI headers and the probe, in the checked-out worktree; on failure
    (why, reproducer)."""
    try:
        bd.ensure_config()
    except ConfigFailed as e:
        return str(e), e.reproduce
    if progress:
        progress(f"boot {bd.target.name}: building {bd.target.image}")
    goals = (bd.target.image, "headers")
    drop_stale(bd, commit)  # O= may hold objects of a file this commit deleted
    r = bd.make(list(goals), COLD_TIMEOUT)
    if r.returncode != 0:
        roots = [str(bd.source), os.path.relpath(bd.source, bd.out)]
        errs = [str(d) for d in dg.parse(r.stdout + r.stderr, roots) if d.severity is Severity.ERROR]
        return ("the boot kernel does not build: " + ("; ".join(errs[:3]) or dg.make_failure(r.stdout + r.stderr)
                                                      or "make failed"), bd.reproducer(commit, goals))
    pr = bd.run(initramfs.probe_argv(bd.target, bd.toolchain, bd.source, bd.out / "usr" / "include",
                                     bd.out / "arena-probe"), 300, readonly=(initramfs.PROBE_SRC,))
    if pr.returncode != 0:
        return "the probe does not build: " + pr.stderr.strip()[-400:], shell_line(list(pr.argv))
    return None


def _regular(p) -> bool:
    """A file the build left, as itself (not a symlink a patch planted to reach outside)."""
    return p.is_file() and not p.is_symlink()


def expectations(spec_raw: dict, state: BootState, target: str) -> dict:
    return dict(spec_raw.get("boot", {}).get("expect", {}).get(state.value, {}).get(target, {}))


def boot_targets(wr: WorkRepo, spec, targets: list[Target], toolchain: str | None, commit: str,
                 state: BootState, version: int | None, patch: int | None, jobs: int,
                 progress=None, executor=None) -> list[BootResult]:
    """One boot per target; each is a unit of the executor (executor.py)."""
    state = BootState(state)
    wr.runner.require_sandbox()  # refused here, before any build, when it cannot be had
    ex = executor or LocalExecutor()
    here = isinstance(ex, LocalExecutor)
    if not here:
        for t in targets:
            wr.prepare_worktree(placement("build", t.name, True)[0], commit)
    units = [(wr, t, toolchain, commit, spec.build.kconfig, expectations(spec.raw, state, t.name),
              version, patch, state, jobs, progress if here else None, not here) for t in targets]
    out = []
    for t, got in zip(targets, ex.map(boot_one, units, [f"boot {t.name}" for t in targets], progress)):
        out.append(BootResult(version, patch, t.name, state, Status.ERROR, detail=f"{got.label}: {got.reason}",
                              sandbox=wr.runner.isolation.value)
                   if isinstance(got, UnitLost) else got)
    return out
