"""A small BPF assembler: just the instructions the arena probe needs, encoded as the
kernel's struct bpf_insn (8 bytes: code, dst|src<<4, s16 off, s32 imm; little endian)."""
from __future__ import annotations

import struct

BPF_PSEUDO_MAP_FD = 1
BPF_PSEUDO_KFUNC_CALL = 2
NUMA_NO_NODE = -1


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def ld_map_fd(dst: int, fd: int = 0) -> bytes:
    """ld_imm64 dst, map (the probe patches in the real fd at run time)."""
    return insn(0x18, dst, BPF_PSEUDO_MAP_FD, 0, fd) + insn(0, 0, 0, 0, 0)


def mov_imm(dst: int, imm: int) -> bytes:
    return insn(0xB7, dst, 0, 0, imm)


def mov_reg(dst: int, src: int) -> bytes:
    return insn(0xBF, dst, src)


def call_kfunc(btf_id: int) -> bytes:
    return insn(0x85, 0, BPF_PSEUDO_KFUNC_CALL, 0, btf_id)


def jeq_imm(dst: int, imm: int, off: int) -> bytes:
    return insn(0x15, dst, 0, off, imm)


def exit_() -> bytes:
    return insn(0x95)


def arena_alloc_free(alloc_id: int, free_id: int, pages: int) -> bytes:
    """r0 = 1 when bpf_arena_alloc_pages(map, NULL, pages, NUMA_NO_NODE, 0) returned memory,
    which is then given back with bpf_arena_free_pages(); 0 when it returned NULL."""
    tail = mov_imm(0, 1) + exit_()
    free = (mov_reg(2, 0) + ld_map_fd(1) + mov_imm(3, pages) + call_kfunc(free_id) + tail)
    body = (ld_map_fd(1) + mov_imm(2, 0) + mov_imm(3, pages) + mov_imm(4, NUMA_NO_NODE)
            + mov_imm(5, 0) + call_kfunc(alloc_id))
    fail = mov_imm(0, 0) + exit_()
    skip = len(free) // 8  # jump over the free path to the failure return
    return body + jeq_imm(0, 0, skip) + free + fail
