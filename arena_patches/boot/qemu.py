"""QEMU command lines per target, as pure functions of the target table (tested as lists,
printed as reproducers)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from arena_patches.kbuild.targets import Target

APPEND = "panic=-1 oops=panic rdinit=/init loglevel=7"


def argv(t: Target, kernel: str | Path, initrd: str | Path, accel: str = "tcg") -> list[str]:
    q = t.qemu
    if q is None:
        raise ValueError(f"{t.name}: the target table has no [qemu] entry")
    args = [q.binary, "-machine", q.machine, "-cpu", q.cpu, "-m", q.memory, "-smp", "1",
            "-accel", accel, "-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio",
            "-kernel", str(kernel), "-initrd", str(initrd),
            "-append", f"console={q.console} {APPEND}"]
    if q.firmware:
        args[1:1] = ["-bios", q.firmware]
    return args


def unavailable(t: Target) -> str | None:
    """Why this target cannot be booted here, or None."""
    q = t.qemu
    if q is None:
        return f"{t.name}: no QEMU entry in the target table"
    if q.unsupported:
        return q.unsupported
    if shutil.which(q.binary) is None:
        return f"{q.binary} not found: install the Debian package {q.package}"
    if q.firmware and not os.path.exists(q.firmware):
        return f"firmware {q.firmware} not found: install the Debian package {q.firmware_package}"
    return None
