"""Import a kernel source tarball as a one-commit git tree: the tarball is streamed into
`git fast-import` (no file extracted first, ignore rules irrelevant). Members outside the
tree, git's own files and links leading out of the tree are never imported; the commit
message lists them.
"""
from __future__ import annotations

import hashlib
import os
import re
import tarfile
from pathlib import Path
from typing import IO, NamedTuple

from arena_patches.core.cache import JsonCache
from arena_patches.core.errors import InfraError, bad_input
from arena_patches.core.paths import cache_root
from arena_patches.core.runner import DEFAULT, Runner
from arena_patches.tree.repo import GIT_ENV, remove_tree, git

_VERSION_RE = re.compile(rb"^(VERSION|PATCHLEVEL|SUBLEVEL|EXTRAVERSION)\s*=\s*(\S*)\s*$", re.M)


def _digest(path: Path) -> str:
    """The tarball's sha256, remembered by what stat says of the file (size, times, inode:
    the change time moves with any write), so that a re-run does not read 150 MB again."""
    st = path.stat()
    key = hashlib.sha256(f"{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_ino}"
                         .encode()).hexdigest()[:32]
    cache = JsonCache(cache_root() / "tarball-digests")
    hit = cache.get(key, lambda x: x if isinstance(x, str) and len(x) == 64 else None)
    if hit:
        return hit
    digest = _sha256(path)
    cache.put(key, digest)
    return digest


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Imported(NamedTuple):
    commit: str
    created: bool
    left_out: tuple[str, ...] = ()  # "path: why" for members never imported


_LEFT_OUT = "Left out of the import:\n"


def _left_out(message: str) -> tuple[str, ...]:
    if _LEFT_OUT not in message:
        return ()
    return tuple(l.strip() for l in message.split(_LEFT_OUT, 1)[1].splitlines() if l.startswith("  "))


def import_tarball(tarball: str | Path, dest: str | Path, checkout: bool = True,
                   runner: Runner = DEFAULT, progress=None) -> Imported:
    """Stream a source tarball into `dest` as a git tree with one commit on `main`.
    Idempotent: a dest already holding this tarball's import is left as it is. Members
    outside the tree (`../`, absolute), git's own files (`.git/`) and links leading out of
    the tree are never imported; the commit message lists them (so does the answer)."""
    tarball, dest = Path(tarball), Path(os.path.abspath(dest))
    if not tarball.is_file():
        raise bad_input(str(tarball), "no such file",
                        "Debian's kernel source: apt-get install linux-source-6.12")
    digest = _digest(tarball)
    if (dest / ".git").exists() or (dest / "HEAD").exists():
        r = git(runner, dest, "log", "-1", "--format=%H%x00%B", "refs/heads/main", check=False)
        if r.returncode == 0 and f"tarball-sha256: {digest}" in r.stdout:
            return Imported(r.stdout.split("\x00")[0], False, _left_out(r.stdout))
        raise bad_input(str(dest), "already a git tree, not an import of this tarball",
                        "choose a new DEST")
    if dest.exists() and not dest.is_dir():
        raise bad_input(str(dest), "exists and is not a directory", "choose a new DEST")
    if dest.exists() and any(dest.iterdir()):
        raise bad_input(str(dest), "exists and is not empty")
    dest.parent.mkdir(parents=True, exist_ok=True)
    # made whole beside DEST, then renamed onto it: DEST is either absent (or as empty as
    # it was) or a complete import, never half-made (a later run would call it imported)
    work = dest.with_name(f".{dest.name}.importing-{os.getpid()}")
    remove_tree(work)
    try:
        work.mkdir()
        sha, msg = _import_into(work, tarball, digest, checkout, runner, progress)
        os.rename(work, dest)
    except (tarfile.TarError, EOFError, OSError) as e:
        remove_tree(work)
        raise bad_input(str(tarball), f"not a readable source tarball ({e})")
    except BaseException:
        remove_tree(work)  # an interrupted or failed import leaves nothing half-made
        raise
    return Imported(sha, True, _left_out(msg))


def _import_into(work: Path, tarball: Path, digest: str, checkout: bool, runner: Runner,
                 progress) -> tuple[str, str]:
    git(runner, work, "init", "--quiet", "--initial-branch=main")
    mtime = int(tarball.stat().st_mtime)
    # fast-import reads the stream straight from tarfile: nothing is extracted to
    # disk before the one commit exists. No deltas (fast-import tries each blob against
    # the one before it, which for a tree of distinct files saves nothing: 275 MB either
    # way for 6.12) and zlib's fastest level: the 6.12 import in 18 s, not 51 s, for a
    # pack of 325 MB, not 275 MB (benchmarks/import_cost.py)
    r = runner.feed(["git", "-c", "pack.compression=1", "-C", str(work), "fast-import", "--quiet", "--done",
                     "--depth=0"],
                    lambda out: _stream_tar(tarball, out, digest, mtime, progress), env=GIT_ENV)
    if r.returncode != 0:
        raise InfraError(f"git fast-import failed importing {tarball}", r.stderr.strip()[-1000:])
    sha = git(runner, work, "rev-parse", "refs/heads/main").stdout.strip()
    if checkout:
        git(runner, work, "checkout", "--quiet", "-f", "main", timeout=1800)
    return sha, git(runner, work, "log", "-1", "--format=%B", sha).stdout


def _stream_tar(tarball: Path, out: IO[bytes], digest: str, mtime: int, progress) -> str:
    """Write one fast-import commit from the tarball's members, read as a stream."""
    files = _Members(out, progress)
    with tarfile.open(tarball, mode="r|*") as tf:
        for member in tf:
            files.take(tf, member)
        files.finish()
        # a stream cut short exactly at a member boundary looks like the archive's end to
        # tarfile: read the compressed rest, whose own end marker must be there
        while tf.fileobj.read(1 << 20):
            pass
        decomp = getattr(tf.fileobj, "cmp", None)  # tarfile's decompressor (xz, gz, bz2)
        if decomp is not None and getattr(decomp, "eof", True) is False:
            raise EOFError("the compressed stream ends before its end marker: the file is cut short")
    if not files.version_fields:
        raise tarfile.ReadError("no top-level Makefile: not a kernel source tarball, or cut short")
    v = files.version_fields
    # the Makefile's bytes are a stranger's: a field that is not UTF-8 is shown, not fatal
    version = ".".join(x.decode(errors="replace") for x in (v.get(b"VERSION", b"?"), v.get(b"PATCHLEVEL", b"?"),
                                                            v.get(b"SUBLEVEL", b"?"))) \
        + v.get(b"EXTRAVERSION", b"").decode(errors="replace")
    left = files.left
    msg = (f"Linux {version} (imported from {tarball.name})\n\n"
           f"tarball-sha256: {digest}\nImported by arena-patches tree import.\n"
           + (f"\n{_LEFT_OUT}" + "".join(f"  {x}\n" for x in left[:200])
              + (f"  ... and {len(left) - 200} more\n" if len(left) > 200 else "") if left else "")
           ).encode()
    ident = f"arena-patches <arena-patches@localhost> {mtime} +0000"
    out.write(b"commit refs/heads/main\n")
    out.write(f"author {ident}\ncommitter {ident}\n".encode())
    out.write(b"data %d\n" % len(msg) + msg)
    for path, (m, mode) in sorted(files.marks.items()):
        out.write(f"M {mode} :{m} {_fi_path(path)}\n".encode())
    out.write(b"\ndone\n")
    return version


class _Members:
    """The tarball's members as fast-import blobs, with what was left out and why."""

    def __init__(self, out: IO[bytes], progress):
        self.out, self.progress = out, progress
        self.version_fields: dict[bytes, bytes] = {}
        self.marks: dict[str, tuple[int, str]] = {}
        self.left: list[str] = []
        self.links: dict[str, tuple[str, str]] = {}  # path -> (member name, link text)
        self.mark = 0

    def take(self, tf: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        parts = member.name.split("/", 1)
        if len(parts) < 2 or not parts[1]:
            return
        # `lib/./x.c`, `lib//x.c`: the same file as lib/x.c (git refuses such a path)
        words = [w for w in parts[1].split("/") if w not in ("", ".")]
        path = "/".join(words)
        if not path:
            return
        if ".." in words or member.name.startswith("/"):
            self.left.append(f"{member.name}: outside the tree")
        elif any(_gitlike(w) for w in words):
            self.left.append(f"{member.name}: git's own files")
        elif member.isfile():
            data = tf.extractfile(member).read()
            if path == "Makefile":
                self.version_fields = {k: v for k, v in _VERSION_RE.findall(data)}
            self.links.pop(path, None)
            self._blob(path, data, "100755" if member.mode & 0o111 else "100644")
        elif member.issym():
            # judged at the end, by where it resolves through every link of the tree
            self.marks.pop(path, None)
            self.links[path] = (member.name, member.linkname)
        elif member.islnk():
            target = "/".join(w for w in member.linkname.split("/", 1)[-1].split("/") if w not in ("", "."))
            if target in self.marks:
                self.marks[path] = self.marks[target]
            elif target in self.links:
                self.links[path] = (member.name, self.links[target][1])

    def finish(self) -> None:
        """The links that stay inside the tree, as blobs; the others left out, with why."""
        targets = {p: link for p, (_, link) in self.links.items()}
        for path, (name, link) in sorted(self.links.items()):
            where = _resolve(path.split("/")[:-1], link, targets, [0])
            if where is None:
                self.left.append(f"{name}: a link out of the tree ({link})")
            else:
                self._blob(path, link.encode(), "120000")

    def _blob(self, path: str, data: bytes, mode: str) -> None:
        self.mark += 1
        self.out.write(b"blob\nmark :%d\ndata %d\n" % (self.mark, len(data)) + data + b"\n")
        self.marks[path] = (self.mark, mode)
        if self.progress and len(self.marks) % 2000 == 0:
            self.progress(len(self.marks))


def _gitlike(word: str) -> bool:
    """A path component git treats as its own directory (.git, .GIT, `.git.`, NTFS git~1)."""
    w = word.lower().rstrip(". ")
    return w == ".git" or w == "git~1"


def _resolve(base: list[str], link: str, links: dict[str, str], hops: list[int]) -> list[str] | None:
    """Where the link text `link` in directory `base` leads, following the tree's links on
    the way (`t -> deep/er/s/..` with `deep/er/s -> ../..` leaves the tree though its text
    does not); None when it leaves the tree or loops."""
    if link.startswith("/"):
        return None
    here = list(base)
    for word in link.split("/"):
        if word in ("", "."):
            continue
        if word == "..":
            if not here:
                return None
            here.pop()
            continue
        here.append(word)
        inner = links.get("/".join(here))
        if inner is not None:
            hops[0] += 1
            if hops[0] > 40:  # the kernel's own limit on links in a path
                return None
            here = _resolve(here[:-1], inner, links, hops)
            if here is None:
                return None
    return here


def _fi_path(path: str) -> str:
    if any(c in path for c in '"\n\\') or path.startswith('"'):
        return '"' + path.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return path
