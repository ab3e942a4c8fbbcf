"""Read type ids from a kernel's BTF: the .BTF section of vmlinux, parsed in Python.
Kfunc calls in BPF programs name their target by this id."""
from __future__ import annotations

import struct
from pathlib import Path

from arena_patches.core.errors import UserError

BTF_MAGIC = 0xEB9F
# Bytes that follow each btf_type, by kind: fixed part and per-member part (x vlen).
_EXTRA = {1: (4, 0), 2: (0, 0), 3: (12, 0), 4: (0, 12), 5: (0, 12), 6: (0, 8), 7: (0, 0),
          8: (0, 0), 9: (0, 0), 10: (0, 0), 11: (0, 0), 12: (0, 0), 13: (0, 8), 14: (4, 0),
          15: (0, 12), 16: (0, 0), 17: (4, 0), 18: (0, 0), 19: (0, 12)}
KIND_FUNC = 12


def elf_section(data: bytes, name: str) -> bytes | None:
    """One section's bytes from an ELF file (32 or 64 bit, little or big endian)."""
    if data[:4] != b"\x7fELF":
        raise UserError("not an ELF file")
    is64, end = data[4] == 2, "<" if data[5] == 1 else ">"
    if is64:
        shoff, = struct.unpack_from(end + "Q", data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from(end + "HHH", data, 0x3A)
    else:
        shoff, = struct.unpack_from(end + "I", data, 0x20)
        shentsize, shnum, shstrndx = struct.unpack_from(end + "HHH", data, 0x2E)

    def sh(i: int) -> tuple[int, int, int]:
        base = shoff + i * shentsize
        if is64:
            nm, _t, _f, _a, off, size = struct.unpack_from(end + "IIQQQQ", data, base)
        else:
            nm, _t, _f, _a, off, size = struct.unpack_from(end + "IIIIII", data, base)
        return nm, off, size
    _, stroff, strsize = sh(shstrndx)
    strtab = data[stroff:stroff + strsize]
    for i in range(shnum):
        nm, off, size = sh(i)
        if strtab[nm:strtab.index(b"\0", nm)].decode() == name:
            return data[off:off + size]
    return None


def func_ids(btf: bytes, names: set[str]) -> dict[str, int]:
    """BTF ids of the FUNC types with these names."""
    magic, = struct.unpack_from("<H", btf, 0)
    end = "<" if magic == BTF_MAGIC else ">"
    _m, _v, _f, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(end + "HBBIIIII", btf, 0)
    types = btf[hdr_len + type_off: hdr_len + type_off + type_len]
    strings = btf[hdr_len + str_off: hdr_len + str_off + str_len]
    found: dict[str, int] = {}
    pos, tid = 0, 1
    while pos < len(types):
        name_off, info, _size = struct.unpack_from(end + "III", types, pos)
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        fixed, per = _EXTRA.get(kind, (None, None))
        if fixed is None:
            raise UserError(f"BTF: unknown kind {kind} at type {tid}")
        if kind == KIND_FUNC:
            name = strings[name_off:strings.index(b"\0", name_off)].decode()
            if name in names:
                found[name] = tid
        pos += 12 + fixed + per * vlen
        tid += 1
    return found


def kfunc_ids(vmlinux: str | Path, names: set[str]) -> dict[str, int]:
    data = Path(vmlinux).read_bytes()
    sec = elf_section(data, ".BTF")
    if sec is None:
        raise UserError(f"{vmlinux}: no .BTF section (build with CONFIG_DEBUG_INFO_BTF=y and pahole)")
    return func_ids(sec, names)
