"""A cpio "newc" archive writer: what the kernel unpacks as an initramfs. No external tools."""
from __future__ import annotations

import stat
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    path: str  # inside the archive, without a leading /
    mode: int  # full st_mode, e.g. stat.S_IFREG | 0o755
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)  # (major, minor) of a device node


def _header(ino: int, e: Entry) -> bytes:
    name = e.path.encode() + b"\0"
    fields = [ino, e.mode, 0, 0, 1 if not stat.S_ISDIR(e.mode) else 2, 0, len(e.data),
              0, 0, e.rdev[0], e.rdev[1], len(name), 0]
    return b"070701" + b"".join(f"{x:08x}".encode() for x in fields) + name


def _pad(n: int) -> bytes:
    return b"\0" * ((4 - n % 4) % 4)


def archive(entries: list[Entry]) -> bytes:
    out = bytearray()
    for ino, e in enumerate(entries, 1):
        if e.path.startswith("/") or ".." in e.path.split("/"):
            raise ValueError(f"cpio: unsafe path {e.path!r}")
        h = _header(ino, e)
        out += h + _pad(len(h)) + e.data + _pad(len(e.data))
    trailer = _header(0, Entry("TRAILER!!!", 0))
    out += trailer + _pad(len(trailer))
    return bytes(out)


def directory(path: str) -> Entry:
    return Entry(path, stat.S_IFDIR | 0o755)


def file(path: str, data: bytes, executable: bool = False) -> Entry:
    return Entry(path, stat.S_IFREG | (0o755 if executable else 0o644), data)




def chardev(path: str, major: int, minor: int) -> Entry:
    return Entry(path, stat.S_IFCHR | 0o600, b"", (major, minor))
