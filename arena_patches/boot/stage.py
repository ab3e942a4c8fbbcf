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

from arena_patches.build import matrix as build_mod
from arena_patches.build.kconfig import BuildConfig, unmet
from arena_patches.core.verdicts import BootState, ProbeAnswer, Severity, Status
from arena_patches.build.targets import Target, missing_tool, shell_line
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
    tc = t.toolchain(toolchain)
    state = BootState(state)

    def result(status: Status, **kw) -> BootResult:
        return BootResult(version, patch, t.name, state, status, **kw)

    why = missing_tool(t, tc) or qemu.unavailable(t)
    if why:
        return result(Status.SKIP, detail=why)
    cfg = boot_config(series_kconfig, t)
    name, suffix = build_mod.placement("build", t.name, separate)
    out = wr.root / "builds" / f"{t.name}-{tc.name}-boot-{cfg.key}{suffix}"
    env = build_mod.make_env(wr.root)
    ctx = build_mod._Ctx(wr, t, tc, cfg, out, wr.root / "wt" / name, jobs, False,
                         build_mod.toolchain_id(wr.runner, tc), build_mod.BuildStats(), env)
    start = time.monotonic()
    with wr.worktree(name, commit) as wt:
        try:
            build_mod._ensure_config(ctx)
        except build_mod._Infra as e:
            return result(Status.ERROR, detail=str(e), reproduce=shell_line(e.argv))
        if progress:
            progress(f"boot {t.name}: building {t.image}")
        r, argv = ctx.make([t.image, "headers"], build_mod.COLD_TIMEOUT)
        if r.returncode != 0:
            from arena_patches.build import diagnostics as dg
            roots = [str(wt), os.path.relpath(wt, out)]
            errs = [str(d) for d in dg.parse(r.stdout + r.stderr, roots) if d.severity is Severity.ERROR]
            return result(Status.ERROR, detail="the boot kernel does not build: " +
                          ("; ".join(errs[:3]) or dg.make_failure(r.stdout + r.stderr) or "make failed"),
                          reproduce=shell_line(argv))
        missing_opts = unmet((out / ".config").read_text(), cfg.fragment)
        probe_bin = out / "arena-probe"
        pr = wr.runner.run(initramfs.probe_argv(t, tc, wt, out / "usr" / "include", probe_bin),
                           env=env, timeout=300)
        if pr.returncode != 0:
            return result(Status.ERROR, detail="the probe does not build: " + pr.stderr.strip()[-400:],
                          reproduce=shell_line(list(pr.argv)))
    build_seconds = time.monotonic() - start
    ids = btf.kfunc_ids(out / "vmlinux", set(initramfs.KFUNCS)) if (out / "vmlinux").exists() else {}
    initrd = out / "arena-initramfs.cpio"
    initrd.write_bytes(initramfs.image(probe_bin.read_bytes(), initramfs.programs(ids)))
    qargv = qemu.argv(t, out / t.image_path, initrd)
    if progress:
        progress(f"boot {t.name}: QEMU")
    run = wr.runner.run(qargv, timeout=BOOT_TIMEOUT, until=lambda s: "ARENA-PROBE end" in s)
    text = run.stdout + run.stderr
    answers = console.probe(text)
    found = console.findings(text)
    probe = {k: answers.values.get(k) for k in PROBE_KEYS}
    probe.update({k: ProbeAnswer.read(v) for k, v in probe.items() if v is not None and k in ANSWER_KEYS})
    tail = "\n".join(text.splitlines()[-25:])
    common = dict(probe=probe, findings=tuple(found), boot_seconds=run.seconds,
                  build_seconds=build_seconds, reproduce=shell_line(qargv), console_tail=tail)
    if run.timed_out or not answers.ended:
        what = f"timed out after {BOOT_TIMEOUT:.0f} s" if run.timed_out else "the probe never finished"
        return result(Status.ERROR, detail=f"{what} (QEMU killed)", **common)
    mism = compare(probe, expect)
    detail = "; ".join(mism + [f.fingerprint for f in found])
    if missing_opts:
        detail = (detail + "; " if detail else "") + "config options not met: " + ", ".join(missing_opts)
    return result(Status.FAIL if mism or found else Status.PASS, mismatches=tuple(mism),
                  detail=detail, **common)


def expectations(spec_raw: dict, state: BootState, target: str) -> dict:
    return dict(spec_raw.get("boot", {}).get("expect", {}).get(state.value, {}).get(target, {}))


def boot_targets(wr: WorkRepo, spec, targets: list[Target], toolchain: str | None, commit: str,
                 state: BootState, version: int | None, patch: int | None, jobs: int,
                 progress=None, executor=None) -> list[BootResult]:
    """One boot per target; each is a unit of the executor (executor.py)."""
    state = BootState(state)
    from arena_patches.core.executor import LocalExecutor, UnitLost
    ex = executor or LocalExecutor()
    here = isinstance(ex, LocalExecutor)
    if not here:
        for t in targets:
            wr.prepare_worktree(build_mod.placement("build", t.name, True)[0], commit)
    units = [(wr, t, toolchain, commit, spec.build.kconfig, expectations(spec.raw, state, t.name),
              version, patch, state, jobs, progress if here else None, not here) for t in targets]
    out = []
    for t, got in zip(targets, ex.map(boot_one, units, [f"boot {t.name}" for t in targets], progress)):
        out.append(BootResult(version, patch, t.name, state, Status.ERROR, detail=f"{got.label}: {got.reason}")
                   if isinstance(got, UnitLost) else got)
    return out
