"""Debian's kernel source packages, fetched without touching the machine's apt set-up.

`debian:linux-source-7.2` (or `debian:linux-source-7`, the newest 7.x) names a package of
another suite (sid by default). apt runs with a private sources list, private lists and a
private cache under the tool's cache dir (`Dir::Etc::sourcelist`, `Dir::Etc::sourceparts`,
`Dir::State::Lists`, `Dir::Cache`), so no suite is ever added to the system and nothing of
sid is installed: the package is only downloaded and unpacked with `dpkg-deb -x`. The
archive's address is read from the machine's own apt sources (or given), never written here.
"""
from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from arena_patches.core.errors import InfraError, bad_input
from arena_patches.core.paths import cache_root
from arena_patches.core.runner import DEFAULT, Runner

PREFIX = "debian:"
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
_NAME = re.compile(r"linux-source-(\d+)(?:\.(\d+))?")
LIST_TTL = 6 * 3600  # refresh the private package lists at most this often


@dataclass(frozen=True)
class Fetched:
    package: str
    version: str
    tarball: Path
    seconds: float
    downloaded: bool


def is_debian_ref(s: str) -> bool:
    return s.startswith(PREFIX)


def system_mirror(etc: Path = Path("/etc/apt")) -> str | None:
    """The Debian archive this machine installs from (its first `.../debian` URI)."""
    files = sorted((etc / "sources.list.d").glob("*.sources")) + [etc / "sources.list"] + \
        sorted((etc / "sources.list.d").glob("*.list"))
    for f in files:
        try:
            text = f.read_text(errors="replace")
        except OSError:
            continue
        uris = re.findall(r"^\s*URIs:\s*(\S+)", text, re.M) + \
            re.findall(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\S+", text, re.M)
        for u in uris:
            if re.search(r"/debian/?$", u):
                return u.rstrip("/")
    return None


class _Apt:
    def __init__(self, root: Path, mirror: str, suite: str, runner: Runner):
        self.root, self.runner = root, runner
        for d in ("lists/partial", "cache/archives/partial", "debs"):
            (root / d).mkdir(parents=True, exist_ok=True)
        self.sources = root / "sources.list"
        line = f"deb [signed-by={KEYRING}] {mirror} {suite} main\n"
        if not self.sources.exists() or self.sources.read_text() != line:
            self.sources.write_text(line)
            (root / "lists" / ".stamp").unlink(missing_ok=True)

    def opts(self) -> list[str]:
        return ["-o", f"Dir::Etc::sourcelist={self.sources}", "-o", "Dir::Etc::sourceparts=/nonexistent",
                "-o", f"Dir::State::Lists={self.root / 'lists'}", "-o", f"Dir::Cache={self.root / 'cache'}",
                "-o", "APT::Sandbox::User=root"]

    def run(self, tool: str, *args: str, cwd: Path | None = None, timeout: float = 900):
        r = self.runner.run([tool, *self.opts(), *args], cwd=cwd, timeout=timeout,
                            env={"LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"})
        if r.returncode != 0 or r.timed_out:
            raise InfraError(f"{tool} {' '.join(args)}: failed (private apt lists in {self.root})",
                             (r.stderr or r.stdout).strip()[-800:] or None)
        return r

    def update(self, force: bool = False) -> None:
        stamp = self.root / "lists" / ".stamp"
        if not force and stamp.exists() and time.time() - stamp.stat().st_mtime < LIST_TTL:
            return
        self.run("apt-get", "-q", "update")
        stamp.touch()

    def candidates(self, package: str) -> dict[str, str]:
        """package name -> candidate version, for names matching `package` (a 7 = any 7.x)."""
        m = _NAME.fullmatch(package)
        pattern = f"^linux-source-{m.group(1)}\\.[0-9]+$" if m and m.group(2) is None else f"^{re.escape(package)}$"
        names = self.run("apt-cache", "search", "--names-only", pattern).stdout.split("\n")
        out = {}
        for line in names:
            name = line.split(" - ")[0].strip()
            if not name:
                continue
            pol = self.run("apt-cache", "policy", name).stdout
            v = re.search(r"Candidate:\s*(\S+)", pol)
            if v and v.group(1) != "(none)":
                out[name] = v.group(1)
        return out


def _minor(name: str) -> tuple[int, int]:
    m = _NAME.fullmatch(name)
    return (int(m.group(1)), int(m.group(2) or 0)) if m else (0, 0)


def _cached(root: Path, package: str) -> tuple[str, str, Path] | None:
    """The newest unpacked copy of `package` (an exact name) already in the cache."""
    best = None
    for d in (root / "src").glob(f"{package}_*"):
        tarball = d / "usr" / "src" / f"{package}.tar.xz"
        if d.suffix != ".partial" and tarball.is_file():
            version = d.name.split("_", 1)[1]
            if best is None or d.stat().st_mtime > best[2].stat().st_mtime:
                best = (package, version, tarball)
    return best


def fetch(ref: str, suite: str = "sid", mirror: str | None = None, runner: Runner = DEFAULT,
          root: Path | None = None, refresh: bool = False) -> Fetched:
    """Download and unpack a Debian linux-source package; return its tarball. A package
    named exactly (linux-source-7.2) that is already unpacked in the cache is used as it
    is, offline, unless `refresh`."""
    package = ref[len(PREFIX):] if is_debian_ref(ref) else ref
    if not _NAME.fullmatch(package):
        raise bad_input(ref, "not a Debian kernel source package",
                        "name one as debian:linux-source-7.2 (or debian:linux-source-7 for the newest 7.x)")
    if not KEYRING.is_file():
        raise InfraError(f"{KEYRING}: missing", "apt-get install debian-archive-keyring")
    start = time.monotonic()
    root = root or cache_root() / "debian" / re.sub(r"[^\w.-]", "_", suite)
    if not refresh and _NAME.fullmatch(package).group(2) is not None and (hit := _cached(root, package)):
        return Fetched(hit[0], hit[1], hit[2], time.monotonic() - start, False)
    mirror = mirror or system_mirror()
    if not mirror:
        raise bad_input("/etc/apt", "no Debian archive among the machine's apt sources",
                        "pass --mirror URL")
    apt = _Apt(root, mirror, suite, runner)
    apt.update()
    found = apt.candidates(package)
    if not found:
        apt.update(force=True)
        found = apt.candidates(package)
    if not found:
        raise bad_input(ref, f"no such package in Debian {suite}",
                        f"apt-cache search linux-source in {suite}; try another --suite")
    name = max(found, key=_minor)
    version = found[name]
    unpacked = root / "src" / f"{name}_{version}"
    tarball = unpacked / "usr" / "src" / f"{name}.tar.xz"
    if tarball.is_file():
        return Fetched(name, version, tarball, time.monotonic() - start, False)
    debs = root / "debs"
    for old in debs.glob(f"{name}_*.deb"):
        old.unlink()
    apt.run("apt-get", "-q", "download", f"{name}={version}", cwd=debs, timeout=3600)
    deb = next(iter(sorted(debs.glob(f"{name}_*.deb"))), None)
    if deb is None:
        raise InfraError(f"apt-get download {name}: no .deb appeared in {debs}")
    tmp = unpacked.with_name(unpacked.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    r = runner.run(["dpkg-deb", "-x", str(deb), str(tmp)], timeout=1800)
    if r.returncode != 0 or not (tmp / "usr" / "src" / f"{name}.tar.xz").is_file():
        raise InfraError(f"dpkg-deb -x {deb}: failed", r.stderr.strip()[-800:] or None)
    tmp.rename(unpacked)  # only a complete unpack gets the final name
    deb.unlink()
    return Fetched(name, version, tarball, time.monotonic() - start, True)
