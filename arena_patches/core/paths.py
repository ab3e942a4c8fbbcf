"""Where the tool keeps its cache and work files (never inside the user's tree)."""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from arena_patches.core.errors import UserError


def cache_root() -> Path:
    env = os.environ.get("ARENA_PATCHES_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "arena-patches"


def default_work_dir() -> Path:
    return cache_root() / "work"


def default_work_dir_origin() -> str:
    """The variable that placed the default work dir, as NAME=value (for an error)."""
    for name in ("ARENA_PATCHES_CACHE", "XDG_CACHE_HOME"):
        if os.environ.get(name):
            return f"{name}={os.environ[name]}"
    return f"HOME={Path.home()}"


def ccache_dir() -> Path:
    """Where kernel builds keep ccache's files (shared by every work dir)."""
    return Path(os.environ.get("CCACHE_DIR") or Path.home() / ".cache" / "arena-patches-ccache")


def ccache_dir_origin() -> str:
    return f"CCACHE_DIR={os.environ['CCACHE_DIR']}" if os.environ.get("CCACHE_DIR") else f"HOME={Path.home()}"


# The tool's own files under its work dir are made and opened without following links,
# and checked to be its own: a work dir others can write to (or a key anyone can compute)
# must not turn "truncate my lock" into "truncate a file outside".

def not_own(path: Path, why: str) -> UserError:
    return UserError(f"{path}: {why}, not a file of the tool's own (planted?); the tool never "
                     "follows links among its own files", "remove it, or pass another --work-dir",
                     str(path))


def _check_own(path: Path, st: os.stat_result, want_dir: bool) -> None:
    if stat.S_ISLNK(st.st_mode):
        raise not_own(path, "a symbolic link")
    if want_dir != stat.S_ISDIR(st.st_mode) or (not want_dir and not stat.S_ISREG(st.st_mode)):
        raise not_own(path, "a directory" if not want_dir else "not a directory")
    if st.st_uid != os.geteuid():
        raise not_own(path, f"owned by uid {st.st_uid}")
    if not want_dir and st.st_nlink != 1:
        raise not_own(path, f"a file with {st.st_nlink} hard links")


def own_dir(path: Path) -> Path:
    """`path` made if missing (its parent must exist), then checked: a real directory of ours."""
    try:
        os.mkdir(path, 0o755)
    except FileExistsError:
        pass
    _check_own(path, os.lstat(path), True)
    return path


def open_own(path: Path, flags: int = os.O_RDWR | os.O_CREAT) -> int:
    """A file descriptor on a regular file of ours, opened without following a link."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise not_own(path, "a symbolic link") from None
        raise
    try:
        _check_own(path, os.fstat(fd), False)
    except UserError:
        os.close(fd)
        raise
    return fd


def write_own(path: Path, data: bytes) -> None:
    """Written whole through a new temporary file renamed over `path` (a link there is
    replaced, never followed)."""
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def no_links_in(root: Path, depth: int = 2) -> None:
    """No symbolic link among the tool's own entries of `root` (and of its subdirectories,
    `depth` levels down: trees/<key>/wt/<name>, builds/<dir>)."""
    try:
        entries = list(os.scandir(root))
    except OSError:
        return
    for e in entries:
        if e.is_symlink():
            raise not_own(Path(e.path), "a symbolic link")
        if depth > 1 and e.is_dir(follow_symlinks=False) and e.name in ("wt", "builds"):
            no_links_in(Path(e.path), depth - 1)


def confined(root: Path, rel: str) -> Path | None:
    """root/rel, only when it stays inside root: no absolute path, no `..`, and no symlink
    on the way (a patch or a spec names the path; strangers write both). None otherwise."""
    if not rel or rel.startswith("/") or "\0" in rel:
        return None
    parts = [x for x in rel.split("/") if x not in ("", ".")]
    if not parts or ".." in parts:
        return None
    here = root
    for part in parts:
        here = here / part
        if here.is_symlink():
            return None
    try:
        here.resolve().relative_to(root.resolve())
    except ValueError:
        return None
    return here


_C_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def unquote(name: str) -> str:
    """A path as git writes it in a diff: `"a/\\303\\251t\\303\\251.c"` (C-quoted, octal
    bytes in UTF-8) becomes `a/été.c`; an unquoted name is itself."""
    if len(name) < 2 or not (name.startswith('"') and name.endswith('"')):
        return name
    out, i, body = bytearray(), 0, name[1:-1]
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in "0123" and i + 3 < len(body) and all(x in "01234567" for x in body[i + 1:i + 4]):
                out.append(int(body[i + 1:i + 4], 8))
                i += 4
                continue
            out.append(_C_ESCAPES.get(nxt, ord(nxt)))
            i += 2
            continue
        out += c.encode()
        i += 1
    return out.decode("utf-8", errors="replace")


def read_regular(path: Path) -> bytes:
    """A file the tree's code could have replaced (in an O= dir): read only as itself,
    never through a symlink a patch planted there to reach outside its sandbox."""
    with os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb") as f:
        return f.read()

