"""The boot stage's pure parts: cpio, BTF, BPF encoding, QEMU argv, console parsing."""
import shutil
import struct
import subprocess

import pytest

from arena_patches.kbuild import targets
from arena_patches.boot import bpfasm, btf, console, cpio, initramfs, qemu


def test_cpio_newc_is_read_by_real_cpio(tmp_path):
    data = initramfs.image(b"\x7fELF-probe", {"a.bin": b"12345678"})
    if shutil.which("cpio") is None:
        pytest.skip("cpio is not installed (scripts/setup installs it)")
    r = subprocess.run(["cpio", "-itv"], input=data, capture_output=True)
    assert r.returncode == 0, r.stderr
    listing = r.stdout.decode()
    names = [l.split()[-1] for l in listing.splitlines()]
    assert names == ["dev", "dev/console", "progs", "init", "progs/a.bin"]
    assert listing.splitlines()[1].startswith("crw") and "5,   1" in listing.splitlines()[1]
    out = tmp_path / "x"
    out.mkdir()
    subprocess.run(["cpio", "-id", "--no-absolute-filenames", "init", "progs/a.bin"], input=data,
                   cwd=out, check=True, capture_output=True)
    assert (out / "init").read_bytes() == b"\x7fELF-probe" and (out / "init").stat().st_mode & 0o111
    assert (out / "progs/a.bin").read_bytes() == b"12345678"
    with pytest.raises(ValueError):
        cpio.archive([cpio.file("../evil", b"")])


def _btf_blob(types: list[tuple[str, int, int, bytes]]) -> bytes:
    strings = b"\0"
    tbytes = b""
    for name, kind, vlen, extra in types:
        off = len(strings)
        strings += name.encode() + b"\0"
        tbytes += struct.pack("<III", off if name else 0, (kind << 24) | vlen, 0) + extra
    hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(tbytes), len(tbytes), len(strings))
    return hdr + tbytes + strings


def test_btf_func_ids_walk_every_kind():
    blob = _btf_blob([("int", 1, 0, b"\0" * 4), ("s", 4, 2, b"\0" * 24),
                      ("", 13, 1, b"\0" * 8), ("bpf_arena_alloc_pages", 12, 0, b""),
                      ("e", 6, 3, b"\0" * 24), ("bpf_arena_free_pages", 12, 0, b"")])
    assert btf.func_ids(blob, {"bpf_arena_alloc_pages", "bpf_arena_free_pages", "nope"}) == \
        {"bpf_arena_alloc_pages": 4, "bpf_arena_free_pages": 6}


def test_bpf_encoding():
    assert bpfasm.mov_imm(3, 7) == bytes.fromhex("b703000007000000")
    assert bpfasm.call_kfunc(0x1234) == bytes.fromhex("8520000034120000")
    prog = bpfasm.arena_alloc_free(10, 20, 2051)
    insns = [prog[i:i + 8] for i in range(0, len(prog), 8)]
    assert insns[0][:2] == b"\x18\x11" and insns[-1] == bpfasm.exit_()
    jeq = next(i for i, x in enumerate(insns) if x[0] == 0x15)
    off = struct.unpack_from("<h", insns[jeq], 2)[0]
    assert insns[jeq + 1 + off] == bpfasm.mov_imm(0, 0)  # the failure path returns 0
    assert bpfasm.mov_imm(3, 2051) in insns


def test_qemu_argv_from_the_table():
    t = targets.all_targets()
    x = qemu.argv(t["x86_64"], "/o/bzImage", "/o/i.cpio")
    assert x[:3] == ["qemu-system-x86_64", "-machine", "q35"] and "-no-reboot" in x
    assert x[x.index("-append") + 1].startswith("console=ttyS0 ")
    r = qemu.argv(t["riscv64"], "/o/Image", "/o/i.cpio")
    assert r[1:3] == ["-bios", "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin"]
    assert "LoongArch EFI firmware" in qemu.unavailable(t["loongarch64"])
    a = qemu.argv(t["arm64"], "/o/Image", "/o/i.cpio")
    assert a[a.index("-append") + 1].startswith("console=ttyAMA0 ") and a[a.index("-cpu") + 1] == "max"


CONSOLE = """[    0.512] Run /init as init process
ARENA-PROBE start
ARENA-PROBE arena_map=ok errno=0
ARENA-PROBE sleepable_kfunc=ok retval=1
ARENA-PROBE nonsleepable_kfunc=rejected
ARENA-PROBE verifier_log=program must be sleepable to call sleepable kfunc bpf_arena_alloc_pages
[    0.900] ------------[ cut here ]------------
[    0.901] WARNING: CPU: 0 PID: 1 at kernel/bpf/arena.c:300 arena_vm_fault+0x1a/0x30
[    0.902] Call Trace:
[    0.903]  <TASK>
[    0.904]  dump_stack_lvl+0x10/0x20
[    0.905]  arena_vm_fault+0x1a/0x30
[    0.906]  __do_fault+0x30/0x100
[    0.907]  handle_mm_fault+0x20/0x200
[    0.908] ---[ end trace 0000000000000000 ]---
[    0.950] ======================================================
[    0.951] WARNING: possible circular locking dependency detected
[    0.952]  arena_free_pages+0x10/0x80
ARENA-PROBE big_alloc=ok
ARENA-PROBE end
"""


def test_console_probe_answers_and_findings():
    a = console.probe(CONSOLE)
    assert a.ended and a.values["arena_map"] == "ok" and a.values["sleepable_kfunc_retval"] == "1"
    assert a.values["verifier_log"].startswith("program must be sleepable")
    f = console.findings(CONSOLE)
    assert [x.kind for x in f] == ["warning", "lockdep"]
    assert f[0].fingerprint == ("warning: kernel/bpf/arena.c:300 arena_vm_fault+…/… | "
                                "arena_vm_fault < __do_fault < handle_mm_fault")
    assert console.findings("Kernel panic - not syncing: Attempted to kill init! exitcode=0x0\n") == []
    assert not console.probe("ARENA-PROBE arena_map=ok errno=0\n").ended
