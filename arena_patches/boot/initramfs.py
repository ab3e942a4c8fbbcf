"""The test initramfs: the probe as /init, the assembled BPF programs, /dev/console."""
from __future__ import annotations

from pathlib import Path

from arena_patches.kbuild.targets import Target, Toolchain
from arena_patches.boot import bpfasm, cpio

PROBE_SRC = Path(__file__).resolve().parent / "probe.c"
BIG_ALLOC_PAGES = 2051  # above what one kmalloc_nolock() array holds: the series' big_alloc3
KFUNCS = ("bpf_arena_alloc_pages", "bpf_arena_free_pages")
CLANG_TRIPLES = {"x86_64": "x86_64-linux-gnu", "i386": "i686-linux-gnu", "arm": "arm-linux-gnueabihf",
                 "arm64": "aarch64-linux-gnu", "riscv64": "riscv64-linux-gnu",
                 "loongarch64": "loongarch64-linux-gnu"}


def probe_argv(t: Target, tc: Toolchain, src_tree: Path, headers: Path, out: Path) -> list[str]:
    """Compile the probe static, with the kernel tree's own nolibc and UAPI headers."""
    common = ["-static", "-nostdlib", "-fno-stack-protector", "-fno-asynchronous-unwind-tables",
              "-Os", "-I", str(headers), "-include", str(src_tree / "tools/include/nolibc/nolibc.h"),
              "-o", str(out), str(PROBE_SRC)]
    if tc.llvm is not None:
        return [tc.cc, f"--target={CLANG_TRIPLES[t.name]}", "-fuse-ld=lld", *common]
    return [tc.cc, *common, "-lgcc"]


def programs(ids: dict[str, int]) -> dict[str, bytes]:
    alloc, free = ids.get(KFUNCS[0], 0), ids.get(KFUNCS[1], 0)
    return {"alloc_free.bin": bpfasm.arena_alloc_free(alloc, free, 1),
            "big_alloc.bin": bpfasm.arena_alloc_free(alloc, free, BIG_ALLOC_PAGES)}


def image(probe: bytes, progs: dict[str, bytes]) -> bytes:
    entries = [cpio.directory("dev"), cpio.chardev("dev/console", 5, 1), cpio.directory("progs"),
               cpio.file("init", probe, executable=True)]
    entries += [cpio.file(f"progs/{name}", data) for name, data in sorted(progs.items())]
    return cpio.archive(entries)
