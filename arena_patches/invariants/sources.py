"""Where the C layer reads files and the tree's dialect from: a commit of the work repo,
a directory on disk, or nothing (loose files: the built-in dialect)."""
from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from arena_patches.core.cache import JsonCache
from arena_patches.core.paths import confined
from arena_patches.invariants import dialect as dl

_GLOBS = [g.replace("**/", "") for g in dl.HEADER_GLOBS]  # fnmatch's * crosses /


@dataclass
class CommitFiles:
    """Files and headers of one commit, read through git (cat-file --batch, one process)."""
    wr: object  # tree.WorkRepo (not imported: the C layer does not depend on the tree room)
    commit: str
    cache_dir: Path | None = None
    _texts: dict[str, str | None] = field(default_factory=dict)
    _base: dl.Dialect | None = None

    def read(self, path: str) -> str | None:
        if path not in self._texts:
            r = self.wr.git("show", f"{self.commit}:{path}", check=False)
            self._texts[path] = r.stdout if r.returncode == 0 else None
        return self._texts[path]

    def _cat(self, paths: list[str]) -> list[str]:
        if not paths:
            return []
        r = self.wr.git("cat-file", "--batch", input="".join(f"{self.commit}:{p}\n" for p in paths).encode(),
                        check=False, timeout=600, encoding="latin-1")  # one char per byte: sizes hold
        data, out, i = r.stdout, [], 0
        while i < len(data):
            nl = data.find("\n", i)
            head = data[i:nl].split()
            if len(head) < 3 or head[1] != "blob":
                i = nl + 1
                continue
            size, start = int(head[2]), nl + 1
            out.append(data[start:start + size].encode("latin-1").decode("utf-8", "replace"))
            i = start + size + 1
        return out

    def _ls(self, *paths: str) -> list[str]:
        r = self.wr.git("ls-tree", "-r", "--name-only", self.commit, "--", *paths, check=False, timeout=600)
        return r.stdout.splitlines() if r.returncode == 0 else []

    def dialect(self) -> dl.Dialect:
        if self._base is not None:
            return self._base
        ids = self.wr.git("rev-parse", f"{self.commit}:include", f"{self.commit}:arch", check=False)
        key = hashlib.sha256(ids.stdout.encode()).hexdigest()[:24] if ids.returncode == 0 else None
        cache = JsonCache(self.cache_dir) if key and self.cache_dir else None
        if cache:
            self._base = cache.get(f"dialect-{key}", _load)
            if self._base is not None:
                return self._base
        names = [p for p in self._ls("include/linux", "include/asm-generic", "include/net", "include/kunit",
                                     "arch")
                 if p.endswith(".h") and any(fnmatch.fnmatch(p, g) for g in _GLOBS)]
        if not names or ids.returncode != 0:
            self._base = dl.BUILTIN
            return self._base
        self._base = dl.from_texts(self._cat(names), f"the tree's headers at {self.commit[:12]}")
        if cache:
            cache.put(f"dialect-{key}", _dump(self._base))
        return self._base

    def read_dir(self, d: str) -> list[str]:
        return self._cat([p for p in self._ls(d + "/") if p.endswith(".h") and p.count("/") == d.count("/") + 1])

    def dialect_for(self, path: str) -> dl.Dialect:
        return dl.for_file(self.dialect(), self.read_dir, path)


@dataclass
class DiskFiles:
    root: Path

    def read(self, path: str) -> str | None:
        for rel in (path, Path(path).name):
            cand = confined(self.root, rel)
            if cand is not None and cand.is_file():
                return cand.read_text(errors="replace")
        return None

    def dialect_for(self, path: str) -> dl.Dialect:
        base = _disk_dialect(self.root)
        if base is dl.BUILTIN:
            return base
        return dl.for_file(base, dl.disk_headers(self.root), path)


_DISK: dict[Path, dl.Dialect] = {}


def _disk_dialect(root: Path) -> dl.Dialect:
    if root not in _DISK:
        _DISK[root] = dl.from_directory(root) or dl.BUILTIN
    return _DISK[root]


def _dump(d: dl.Dialect) -> dict:
    return {"schema": 2, "source": d.source, "attrs": sorted(d.attrs), "attr_fns": sorted(d.attr_fns),
            "loops": sorted(d.loops), "decls": sorted(d.decls), "caps_attrs": sorted(d.caps_attrs)}


def _load(x: dict) -> dl.Dialect:
    if x.get("schema") != 2:  # 2: typedef'd declaration macros (DEFINE_SPINLOCK)
        raise ValueError("old dialect cache")
    return dl.Dialect(frozenset(x["attrs"]), frozenset(x["attr_fns"]), x["source"], frozenset(x["loops"]),
                      frozenset(x["decls"]), frozenset(x["caps_attrs"]))


Reader = Callable[[str], "str | None"]
