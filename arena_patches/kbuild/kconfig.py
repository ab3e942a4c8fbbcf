"""Build configurations: a base (tinyconfig, defconfig, allmodconfig) and a fragment on
top. The default is tinyconfig plus what the series needs (from the spec) plus what the
target needs (from its table entry), which keeps a cold kernel build to a few minutes.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from arena_patches.core.errors import bad_input
from arena_patches.kbuild.targets import Target

BASES = ("tinyconfig", "defconfig", "allmodconfig", "allnoconfig")
_LINE = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
_UNSET = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set$")


# What a kernel needs to boot the probe (boot/): KALLSYMS, the verifier finds a kfunc's
# address by name; NET, BPF_PROG_TEST_RUN for syscall programs lives in net/bpf/test_run.c
# and socket filters (the non-sleepable program type) in net/core/filter.c; BTF, kfunc
# calls name BTF ids. The target's console comes from its [qemu] entry.
BOOT_KCONFIG = ("CONFIG_PRINTK=y", "CONFIG_TTY=y", "CONFIG_BLK_DEV_INITRD=y", "CONFIG_KALLSYMS=y",
                "CONFIG_NET=y",
                "CONFIG_BINFMT_ELF=y", "CONFIG_BPF_JIT_ALWAYS_ON=y",
                "CONFIG_DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT=y", "CONFIG_DEBUG_INFO_BTF=y")


@dataclass(frozen=True)
class BuildConfig:
    name: str
    base: str  # the make target that makes the starting .config
    fragment: tuple[str, ...]  # CONFIG_X=y / CONFIG_X=n lines merged on top
    # Targets that are also booted: their build carries what the boot needs, so that one
    # kernel serves the matrix and the boot (no second, cold build of its own)
    boots: frozenset[str] = frozenset()

    def for_target(self, t: Target, boot: bool = False) -> "BuildConfig":
        boot = boot or t.name in self.boots
        extra = t.kconfig + ((*BOOT_KCONFIG, *(t.qemu.kconfig if t.qemu else ())) if boot else ())
        return BuildConfig(self.name, self.base, self.fragment + tuple(extra))

    @property
    def key(self) -> str:
        return hashlib.sha256("\n".join((self.base, *self.fragment)).encode()).hexdigest()[:12]


def parse_fragment(text: str, origin: str) -> tuple[str, ...]:
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or (line.startswith("#") and not _UNSET.match(line)):
            continue
        m = _UNSET.match(line)
        if m:
            out.append(f"{m.group(1)}=n")
        elif _LINE.match(line):
            out.append(line)
        else:
            raise bad_input(origin, f"line {n} is not a kconfig assignment: {line!r}")
    return tuple(out)


def resolve(arg: str | None, series_fragment: tuple[str, ...]) -> BuildConfig:
    """--config: nothing (tinyconfig + the series' options), a base name, or a fragment file."""
    if not arg or arg == "tiny":
        return BuildConfig("tiny", "tinyconfig", series_fragment)
    if arg in BASES:
        return BuildConfig(arg, arg, series_fragment)
    p = Path(arg)
    if not p.is_file():
        raise bad_input(f"--config {arg}", f"neither one of {', '.join(BASES)} nor a fragment file")
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise bad_input(f"--config {arg}", f"is not UTF-8 text (byte {e.start})",
                        "kconfig fragments are ASCII: save it as UTF-8") from None
    except OSError as e:
        raise bad_input(f"--config {arg}", f"cannot be read ({e.strerror or e})") from None
    return BuildConfig(p.stem, "tinyconfig", series_fragment + parse_fragment(text, str(p)))


def merge(dot_config: str, fragment: tuple[str, ...]) -> str:
    """The fragment's assignments replace the .config's own; `=n` is written as kconfig does."""
    names = {l.split("=", 1)[0] for l in fragment}
    kept = []
    for line in dot_config.splitlines():
        m = _LINE.match(line) or _UNSET.match(line)
        if m and m.group(1) in names:
            continue
        kept.append(line)
    for l in fragment:
        name, value = l.split("=", 1)
        kept.append(f"# {name} is not set" if value == "n" else l)
    return "\n".join(kept) + "\n"


def unmet(dot_config: str, fragment: tuple[str, ...]) -> list[str]:
    """Fragment lines the final .config does not honour (a dependency was missing)."""
    have = {}
    for line in dot_config.splitlines():
        m = _LINE.match(line)
        if m:
            have[m.group(1)] = m.group(2)
    out = []
    for l in fragment:
        name, value = l.split("=", 1)
        if (value == "n" and have.get(name) not in (None, "n")) or (value != "n" and have.get(name) != value):
            out.append(l)
    return out
