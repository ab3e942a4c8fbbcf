"""Boot a built kernel per target in QEMU and ask it, through the probe, what it does with
an arena map and the arena kfuncs; compare with what the series spec expects.

The boot kernel has its own O= directory per (target, toolchain): tinyconfig plus the
series' options plus a console, an initramfs and BTF (kfunc calls name BTF ids, read
here from vmlinux's .BTF section).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable

from arena_patches.kbuild import diagnostics as dg
from arena_patches.kbuild.directory import BuildDir, ConfigFailed, placement
from arena_patches.kbuild.kconfig import BuildConfig
from arena_patches.kbuild.state import COLD_TIMEOUT
from arena_patches.core.executor import LocalExecutor, UnitLost
from arena_patches.core.paths import write_own
from arena_patches.core.verdicts import BootState, ProbeAnswer, Severity, Status
from arena_patches.kbuild.targets import Target, missing_tool, shell_line
from arena_patches.tree.repo import WorkRepo
from arena_patches.boot import btf, console, initramfs, qemu

# KALLSYMS: the verifier finds a kfunc's address by name. NET: BPF_PROG_TEST_RUN for
# syscall programs lives in net/bpf/test_run.c, and socket filters (the non-sleepable
# program type) in net/core/filter.c.
BOOT_KCONFIG = ("CONFIG_PRINTK=y", "CONFIG_TTY=y", "CONFIG_BLK_DEV_INITRD=y", "CONFIG_KALLSYMS=y",
                "CONFIG_NET=y",
                "CONFIG_BINFMT_ELF=y", "CONFIG_BPF_JIT_ALWAYS_ON=y",
                "CONFIG_DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT=y", "CONFIG_DEBUG_INFO_BTF=y")
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


def boot_config(series_kconfig: tuple[str, ...], t: Target) -> BuildConfig:
    return BuildConfig("boot", "tinyconfig", tuple(series_kconfig) + BOOT_KCONFIG).for_target(t, boot=True)


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
        return BootResult(version, patch, t.name, state, status, **kw)

    bd = BuildDir.at(wr.root, t, toolchain, boot_config(series_kconfig, t), jobs, False, separate, wr.runner)
    why = missing_tool(t, bd.toolchain) or qemu.unavailable(t)
    if why:
        return result(Status.SKIP, detail=why)
    start = time.monotonic()
    with wr.worktree(bd.worktree, commit):
        failed = _build_boot_kernel(bd, commit, progress)
        if failed:
            return result(Status.ERROR, detail=failed[0], reproduce=failed[1])
        missing_opts = bd.unmet()
    build_seconds = time.monotonic() - start
    ids = btf.kfunc_ids(bd.out / "vmlinux", set(initramfs.KFUNCS)) if (bd.out / "vmlinux").exists() else {}
    initrd = bd.out / "arena-initramfs.cpio"
    write_own(initrd, initramfs.image((bd.out / "arena-probe").read_bytes(), initramfs.programs(ids)))
    qargv = qemu.argv(t, bd.out / t.image_path, initrd)
    if progress:
        progress(f"boot {t.name}: QEMU")
    run = wr.runner.run(qargv, timeout=BOOT_TIMEOUT, until=lambda s: "ARENA-PROBE end" in s)
    text = run.stdout + run.stderr
    answers = console.probe(text)
    found = console.findings(text)
    probe = {k: answers.values.get(k) for k in PROBE_KEYS}
    probe.update({k: ProbeAnswer.read(v) for k, v in probe.items() if v is not None and k in ANSWER_KEYS})
    common = dict(probe=probe, findings=tuple(found), boot_seconds=run.seconds, build_seconds=build_seconds,
                  reproduce=shell_line(qargv), console_tail="\n".join(text.splitlines()[-25:]))
    if run.timed_out or not answers.ended:
        what = f"timed out after {BOOT_TIMEOUT:.0f} s" if run.timed_out else "the probe never finished"
        return result(Status.ERROR, detail=f"{what} (QEMU killed)", **common)
    mism = compare(probe, expect)
    detail = "; ".join(mism + [f.fingerprint for f in found])
    if missing_opts:
        detail = (detail + "; " if detail else "") + "config options not met: " + ", ".join(missing_opts)
    return result(Status.FAIL if mism or found else Status.PASS, mismatches=tuple(mism),
                  detail=detail, **common)


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
    r = bd.make(list(goals), COLD_TIMEOUT)
    if r.returncode != 0:
        roots = [str(bd.source), os.path.relpath(bd.source, bd.out)]
        errs = [str(d) for d in dg.parse(r.stdout + r.stderr, roots) if d.severity is Severity.ERROR]
        return ("the boot kernel does not build: " + ("; ".join(errs[:3]) or dg.make_failure(r.stdout + r.stderr)
                                                      or "make failed"), bd.reproducer(commit, goals))
    pr = bd.runner.run(initramfs.probe_argv(bd.target, bd.toolchain, bd.source, bd.out / "usr" / "include",
                                            bd.out / "arena-probe"), env=bd.env, timeout=300)
    if pr.returncode != 0:
        return "the probe does not build: " + pr.stderr.strip()[-400:], shell_line(list(pr.argv))
    return None


def expectations(spec_raw: dict, state: BootState, target: str) -> dict:
    return dict(spec_raw.get("boot", {}).get("expect", {}).get(state.value, {}).get(target, {}))


def boot_targets(wr: WorkRepo, spec, targets: list[Target], toolchain: str | None, commit: str,
                 state: BootState, version: int | None, patch: int | None, jobs: int,
                 progress=None, executor=None) -> list[BootResult]:
    """One boot per target; each is a unit of the executor (executor.py)."""
    state = BootState(state)
    ex = executor or LocalExecutor()
    here = isinstance(ex, LocalExecutor)
    if not here:
        for t in targets:
            wr.prepare_worktree(placement("build", t.name, True)[0], commit)
    units = [(wr, t, toolchain, commit, spec.build.kconfig, expectations(spec.raw, state, t.name),
              version, patch, state, jobs, progress if here else None, not here) for t in targets]
    out = []
    for t, got in zip(targets, ex.map(boot_one, units, [f"boot {t.name}" for t in targets], progress)):
        out.append(BootResult(version, patch, t.name, state, Status.ERROR, detail=f"{got.label}: {got.reason}")
                   if isinstance(got, UnitLost) else got)
    return out
