"""The sandbox around every process that runs code from the tree under test (make, the
tree's scripts, the probe's compile, QEMU): bubblewrap with its own user, PID, network,
IPC and UTS namespaces, no capabilities, the system directories read-only, a private
/tmp, and nothing else of the machine but the paths a caller names (its worktree, its
O= dir, the ccache dir), bound at the same place inside as outside so that compiler
paths, ccache keys and reproducers stay what they are without it.

A `Sandbox` is a record; `bwrap_argv` turns it into the command line, a pure function the
tests check as a list. Reading the machine (which top-level names are symlinks, where a
worktree's git objects live) happens once, in `around`.
"""
from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

# What the toolchains, make, perl, python3 and QEMU read. /run, /var, /home, /root, /srv,
# /mnt, /media and the rest are absent: no sockets of the machine's daemons, no homes.
SYSTEM_DIRS = ("/usr", "/etc", "/opt")
TOP_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# The tool runs as root in CI and the sandbox keeps the uid: hide what only root reads in /etc.
MASKED = ("/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-", "/etc/ssh",
          "/etc/ssl/private", "/etc/sudoers", "/etc/sudoers.d")
TMP_SIZE = 2 << 30  # the private /tmp is memory: bounded


class Isolation(enum.Enum):
    """What a run's tree code ran in: said in every JSON document and report."""
    BWRAP = "bwrap"
    NONE = "none (--no-sandbox)"


@dataclass(frozen=True)
class Sandbox:
    writable: tuple[str, ...] = ()
    readonly: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = ()  # (/bin, usr/bin): the machine's top-level symlinks
    system: tuple[str, ...] = SYSTEM_DIRS
    masked_files: tuple[str, ...] = ()
    masked_dirs: tuple[str, ...] = ()
    tmp_size: int = TMP_SIZE


def bwrap_argv(sb: Sandbox, argv: Sequence[str], cwd: str | None = None) -> list[str]:
    """The bwrap command line running `argv` in `sb`. Binds go shortest path first so a
    read-only path inside a writable one (a worktree's .git file) wins."""
    out = ["bwrap", "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
           "--cap-drop", "ALL", "--hostname", "arena-sandbox"]
    for d in sb.system:
        out += ["--ro-bind", d, d]
    for name, target in sb.links:
        out += ["--symlink", target, name]
    for f in sb.masked_files:
        out += ["--ro-bind", "/dev/null", f]
    for d in sb.masked_dirs:
        out += ["--tmpfs", d]
    out += ["--dev", "/dev", "--proc", "/proc", "--size", str(sb.tmp_size), "--tmpfs", "/tmp"]
    binds = [(p, "--bind") for p in sb.writable] + [(p, "--ro-bind") for p in sb.readonly]
    for path, how in sorted(binds, key=lambda b: (b[0].count("/"), b[0], b[1] == "--ro-bind")):
        out += [how, path, path]
    if cwd:
        out += ["--chdir", cwd]
    return [*out, "--", *argv]


def around(writable: Iterable[str | os.PathLike] = (), readonly: Iterable[str | os.PathLike] = (),
           planned: tuple[Path, Path] | None = None) -> Sandbox:
    """The sandbox for these paths. A path is bound under its own name and, when symlinks
    lead there, under its real name too; a writable git worktree brings its git dirs
    read-only, and its `.git` file stays read-only (the tool's own git, outside, follows
    it: a patch must not point it elsewhere). Missing read-only paths are left out.
    `planned`: (worktree, repository) for a worktree not made yet: a reproducer written
    from the cache names the sandbox the build had."""
    rw, ro = [], []
    for p in writable:
        rw += _names(p)
        ro += worktree_git(Path(p)) or (_planned_git(*planned) if planned and Path(p) == planned[0] else [])
    for p in (*readonly, *_tool_dirs()):
        if os.path.exists(p):
            ro += _names(p)
    rw = list(dict.fromkeys(rw))
    ro = [p for p in dict.fromkeys(ro) if p not in rw or p.endswith("/.git")]
    links = tuple((n, os.readlink(n)) for n in TOP_LINKS if os.path.islink(n))
    systems = tuple(d for d in SYSTEM_DIRS if os.path.isdir(d) and not os.path.islink(d))
    return Sandbox(tuple(rw), tuple(ro), links, systems,
                   tuple(m for m in MASKED if os.path.isfile(m)), tuple(m for m in MASKED if os.path.isdir(m)))


def _tool_dirs() -> list[str]:
    """The directories of PATH outside the system's and outside the home (a toolchain
    unpacked in /work/x-tools/bin, a test's fake compilers): make finds its compilers
    there, read-only. Nothing in or above the home: a PATH entry must not bring the home
    (and a home's shims, pyenv's, need the rest of it: the system's python3 is used)."""
    home = os.path.realpath(os.path.expanduser("~"))
    out = []
    for d in os.environ.get("PATH", "").split(os.pathsep):
        real = os.path.realpath(d) if os.path.isabs(d) and os.path.isdir(d) else None
        if not real or real == "/" or any(real == s or real.startswith(s + "/") for s in SYSTEM_DIRS):
            continue
        if home == real or home.startswith(real.rstrip("/") + "/") or real.startswith(home + "/"):
            continue
        out.append(d)
    return out


def _names(p: str | os.PathLike) -> list[str]:
    plain = os.path.abspath(p)
    real = os.path.realpath(p)
    return [plain] if real == plain else [plain, real]


def _planned_git(wt: Path, repo: Path) -> list[str]:
    """What worktree_git will find once `wt` is a worktree of `repo`."""
    if wt.exists() or not repo.is_dir():
        return []
    return [str(wt / ".git"), str(repo.resolve()), *_borrowed(repo.resolve())]


def _borrowed(common: Path) -> list[str]:
    out = []
    alt = common / "objects" / "info" / "alternates"
    if alt.is_file():
        for line in alt.read_text(errors="replace").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                objs = (common / "objects" / line).resolve()
                if objs.is_dir():
                    out.append(str(objs))
    return out


def worktree_git(wt: Path) -> list[str]:
    """What git needs to read a worktree: its `.git` file, the common git dir, and the
    object stores that dir borrows from (alternates: the user's repository, read-only)."""
    dot = wt / ".git"
    if not dot.is_file() or dot.is_symlink():
        return []
    text = dot.read_text(errors="replace").strip()
    if not text.startswith("gitdir:"):
        return []
    gitdir = (wt / text[len("gitdir:"):].strip()).resolve()
    common = gitdir
    if (gitdir / "commondir").is_file():
        common = (gitdir / (gitdir / "commondir").read_text().strip()).resolve()
    return [str(dot), str(common), *_borrowed(common)]
