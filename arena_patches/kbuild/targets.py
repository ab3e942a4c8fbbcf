"""The one target table (targets/*.toml) and the pure functions that turn a target into
command lines. Adding an arch is adding a file; nothing here runs anything.
"""
from __future__ import annotations

import shlex
import shutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from arena_patches.core.errors import bad_input

TARGET_DIR = Path(__file__).resolve().parent / "targets"
ORDER = ("x86_64", "i386", "arm", "arm64", "riscv64", "loongarch64")


@dataclass(frozen=True)
class Toolchain:
    name: str  # gcc | llvm
    package: str  # Debian package(s) that provide the compiler
    cc: str
    cross_compile: str = ""
    llvm: str | None = None  # make LLVM= value ("-19": clang-19, ld.lld-19, ...)
    llvm_ias: bool = False


@dataclass(frozen=True)
class Qemu:
    binary: str
    package: str
    machine: str
    cpu: str
    memory: str
    console: str
    firmware: str | None = None
    firmware_package: str | None = None
    kconfig: tuple[str, ...] = ()
    unsupported: str | None = None  # why this machine cannot be booted here


@dataclass(frozen=True)
class Target:
    name: str
    arch: str
    bits: int
    image: str
    image_path: str
    default_toolchain: str
    toolchains: dict[str, Toolchain] = field(hash=False, compare=False)
    kconfig: tuple[str, ...] = ()
    qemu: Qemu | None = None

    def toolchain(self, name: str | None = None) -> Toolchain:
        want = name or self.default_toolchain
        if want not in self.toolchains:
            # loongarch has no gcc in Debian 12: it is llvm whatever was asked
            return self.toolchains[self.default_toolchain]
        return self.toolchains[want]


def _load(path: Path) -> Target:
    d = tomllib.loads(path.read_text())
    tcs = {name: Toolchain(name=name, package=t["package"], cc=t["cc"],
                           cross_compile=t.get("cross_compile", ""), llvm=t.get("llvm"),
                           llvm_ias=bool(t.get("llvm_ias", False)))
           for name, t in d.get("toolchains", {}).items()}
    q = d.get("qemu")
    qemu = Qemu(binary=q["binary"], package=q["package"], machine=q["machine"], cpu=q["cpu"],
                memory=q["memory"], console=q["console"], firmware=q.get("firmware"),
                firmware_package=q.get("firmware_package"),
                kconfig=tuple(q.get("kconfig", ())), unsupported=q.get("unsupported")) if q else None
    return Target(name=d["name"], arch=d["arch"], bits=int(d["bits"]), image=d["image"],
                  image_path=d["image_path"], default_toolchain=d["default_toolchain"],
                  toolchains=tcs, kconfig=tuple(d.get("kconfig", ())), qemu=qemu)


def all_targets() -> dict[str, Target]:
    found = {p.stem: _load(p) for p in sorted(TARGET_DIR.glob("*.toml"))}
    return {n: found[n] for n in sorted(found, key=lambda n: (ORDER.index(n) if n in ORDER else 99, n))}


def select(names: str | None, default: tuple[str, ...] = ORDER) -> list[Target]:
    table = all_targets()
    wanted = [n.strip() for n in names.split(",") if n.strip()] if names else list(default)
    unknown = [n for n in wanted if n not in table]
    if unknown:
        raise bad_input(f"--targets {names}", f"unknown target(s) {', '.join(unknown)}",
                        f"known: {', '.join(table)}")
    return [table[n] for n in wanted]


def missing_tool(t: Target, tc: Toolchain) -> str | None:
    """Why this toolchain cannot run here (the Debian package to install), or None."""
    if shutil.which(tc.cc) is None:
        return f"{tc.cc} not found: install the Debian package {tc.package}"
    if tc.llvm and shutil.which(f"ld.lld{tc.llvm}") is None:
        return f"ld.lld{tc.llvm} not found: install the Debian package {tc.package}"
    return None


def make_vars(t: Target, tc: Toolchain, ccache: bool = True) -> dict[str, str]:
    v = {"ARCH": t.arch}
    if tc.llvm is not None:
        v["LLVM"] = tc.llvm
        if tc.llvm_ias:
            v["LLVM_IAS"] = "1"
    elif tc.cross_compile:
        v["CROSS_COMPILE"] = tc.cross_compile
    if ccache and shutil.which("ccache"):
        v["CC"] = f"ccache {tc.cc}"
    return v


def make_argv(t: Target, tc: Toolchain, src: str | Path, out: str | Path, goals: list[str],
              jobs: int = 2, extra: dict[str, str] | None = None, ccache: bool = True) -> list[str]:
    """The make command line for these goals; pure, so tests check the list itself."""
    vars_ = {**make_vars(t, tc, ccache), **(extra or {})}
    return ["make", "-C", str(src), f"O={out}", f"-j{jobs}",
            *[f"{k}={v}" for k, v in vars_.items()], *goals]


def shell_line(argv: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)
