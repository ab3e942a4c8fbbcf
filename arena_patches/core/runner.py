"""The one way to run a subprocess: an argv list (never a shell string), a cwd, extra
environment, a timeout. Every run is recorded (argv, rc, output, duration) and can be
printed as a reproducer line a human can paste.

Subjects, file names and Message-IDs come from strangers, so nothing here ever goes
through a shell; the reproducer quotes each word with shlex for display only.
"""
from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import IO, Callable, Mapping, Sequence

from arena_patches.core.errors import InfraError
from arena_patches.core.model import RunRecord
from arena_patches.core.sandbox import Isolation, Sandbox, around, bwrap_argv


def reproducer(argv: Sequence[str], cwd: str | None = None,
               env: Mapping[str, str] | None = None) -> str:
    words = [f"{k}={shlex.quote(v)}" for k, v in sorted((env or {}).items())]
    words += [shlex.quote(a) for a in argv]
    line = " ".join(words)
    return f"(cd {shlex.quote(cwd)} && {line})" if cwd else line


# What the tree's code (make, its scripts, QEMU) sees of the caller's environment in the
# sandbox: what a kernel build reads, nothing else. A token in the tool's environment
# would reach a patch's Makefile, whose `$(error $(TOKEN))` lands in the report.
SANDBOX_ENV = ("PATH", "LANG", "LANGUAGE", "TERM", "TZ", "SOURCE_DATE_EPOCH", "KCFLAGS", "KCPPFLAGS",
               "KAFLAGS", "KRUSTFLAGS", "HOSTCFLAGS", "HOSTLDFLAGS", "ARCH", "CROSS_COMPILE", "LLVM",
               "LLVM_IAS", "PAHOLE")
SANDBOX_ENV_PREFIXES = ("LC_", "CCACHE_", "KBUILD_")
PASS_ENV = "ARENA_PATCHES_PASS_ENV"  # more names to let into the sandbox, comma-separated


class Stopped(KeyboardInterrupt):
    """Raised in a thread whose run was stopped by `stop_all` (Ctrl-C, or a unit running
    beside it that failed): what it was running was killed, and its answer is not one."""


# Units running at once on threads (core.executor.LocalExecutor): Ctrl-C reaches only the
# main thread, and every child runs in its own session, so the others' children are
# found here and killed, and no new one starts until `resume`.
_LIVE: set[subprocess.Popen] = set()
_LIVE_LOCK = threading.Lock()
_STOPPING = threading.Event()


def stop_all() -> None:
    """Kill every child running now; a run that starts, or whose child was killed, raises
    Stopped in its thread."""
    with _LIVE_LOCK:
        _STOPPING.set()
        for proc in _LIVE:
            _kill_group(proc)


def raise_if_stopped() -> None:
    """Raise Stopped when stop_all has stopped the runs (a thread about to start one, or
    waiting for its turn to)."""
    if _STOPPING.is_set():
        raise Stopped()


def resume() -> None:
    """Runs may start again (every thread stop_all stopped has ended)."""
    _STOPPING.clear()


def _started(proc: subprocess.Popen) -> None:
    with _LIVE_LOCK:
        if _STOPPING.is_set():
            _kill_group(proc)
        _LIVE.add(proc)


def _ended(proc: subprocess.Popen, raising: bool = True) -> None:
    with _LIVE_LOCK:
        _LIVE.discard(proc)
    if raising:
        raise_if_stopped()


def sandbox_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a sandboxed child: the caller's variables a kernel build reads
    (SANDBOX_ENV, LC_*, CCACHE_*, KBUILD_*, and those named in $ARENA_PATCHES_PASS_ENV),
    never a GIT_* one, plus `env`."""
    more = {n.strip() for n in os.environ.get(PASS_ENV, "").split(",") if n.strip()}
    out = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")
           and (k in SANDBOX_ENV or k in more or k.startswith(SANDBOX_ENV_PREFIXES))}
    # some tools will not start without a HOME (spatch: "Fatal error: exception Not_found");
    # the sandbox has no home, its /tmp is its own
    out["HOME"] = "/tmp"
    out.update(env or {})
    return out


def child_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of every child: the caller's, less every GIT_* variable, plus `env`.
    Inside a git hook (or a shell that exported GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE,
    GIT_OBJECT_DIRECTORY, GIT_CONFIG_PARAMETERS...) an inherited GIT_* would point the
    tool's git at the user's tree; only what the tool sets for the call reaches git."""
    out = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    out.update(env or {})
    return out


class Runner:
    """Runs commands for real. Subclass or replace with FakeRunner in unit tests.
    `sandbox=False` (--no-sandbox): what callers ask to run sandboxed runs as it is."""

    sandboxing = True  # the class's default too: FakeRunner (a dataclass) has no __init__ of ours

    def __init__(self, sandbox: bool = True):
        self.sandboxing = sandbox

    @property
    def isolation(self) -> Isolation:
        return Isolation.BWRAP if self.sandboxing else Isolation.NONE

    def confined(self, argv: Sequence[str], sandbox: Sandbox | None, cwd: str | None = None) -> list[str]:
        """The command line that runs: `argv` inside bwrap when asked for and sandboxing."""
        argv = [str(a) for a in argv]
        return bwrap_argv(sandbox, argv, cwd) if sandbox is not None and self.sandboxing else argv

    def require_sandbox(self) -> None:
        """Raise InfraError naming the cause when this machine cannot make a sandbox (run
        before long work; a run never falls back to running unconfined on its own)."""
        if self.sandboxing:
            _sandbox_works(self)

    def run(self, argv: Sequence[str], *, cwd: str | os.PathLike | None = None,
            env: Mapping[str, str] | None = None, timeout: float | None = None,
            input: bytes | None = None, check: bool = False,
            until: Callable[[str], bool] | None = None, grace: float = 3.0,
            encoding: str = "utf-8", sandbox: Sandbox | None = None,
            merged: bool = False, pass_fds: tuple[int, ...] = ()) -> RunRecord:
        """`until`: watch stdout as it comes and end the process `grace` seconds after
        it returns true (a guest that printed its last answer need not be waited for).
        `encoding="latin-1"` keeps one character per byte (binary framing: cat-file --batch).
        `sandbox`: the tree's code runs in it (core/sandbox.py); the record's argv is bwrap's.
        `merged`: stderr goes into stdout, in the order written (the record's stderr is empty).
        `pass_fds`: descriptors the child keeps (a make's jobserver pipe: core/jobserver.py)."""
        if sandbox is not None and self.sandboxing:
            self.require_sandbox()
            for d in sandbox.writable:
                os.makedirs(d, exist_ok=True)
        confined = sandbox is not None and self.sandboxing
        argv = self.confined(argv, sandbox, str(cwd) if cwd else None)
        if not argv:
            raise ValueError("empty argv")
        full_env = sandbox_env(env) if confined else child_env(env)
        start = time.monotonic()
        raise_if_stopped()
        try:
            proc = subprocess.Popen(
                argv, cwd=cwd, env=full_env, stdin=subprocess.PIPE if input is not None
                else subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT if merged else subprocess.PIPE, pass_fds=pass_fds,
                start_new_session=True)  # own process group: a timeout kills the whole tree
        except FileNotFoundError as e:
            raise InfraError(f"{argv[0]}: not found", "run scripts/setup to install it") from e
        _started(proc)
        timed_out = False
        try:
            if until is not None:
                out, err, timed_out = _watch(proc, until, timeout, grace)
            else:
                out, err = proc.communicate(input=input, timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
            out, err = proc.communicate()
        except BaseException:
            _kill_group(proc)  # Ctrl-C: leave no child behind
            proc.communicate()
            _ended(proc, raising=False)
            raise
        _ended(proc)  # stopped meanwhile: what it printed is not its answer
        rec = RunRecord(
            argv=tuple(argv), cwd=str(cwd) if cwd else None,
            returncode=proc.returncode if not timed_out else -9,
            stdout=out.decode(encoding, "replace"), stderr=(err or b"").decode("utf-8", "replace"),
            seconds=time.monotonic() - start, timed_out=timed_out,
            env_overrides=tuple(sorted((env or {}).items())))
        if check and (rec.returncode != 0 or timed_out):
            what = "timed out" if timed_out else f"exited {rec.returncode}"
            raise InfraError(f"{argv[0]} {what}: {reproducer(argv, rec.cwd)}",
                             (rec.stderr or rec.stdout).strip()[-2000:] or None)
        return rec

    def feed(self, argv: Sequence[str], write: Callable[[IO[bytes]], None], *,
             env: Mapping[str, str] | None = None, timeout: float | None = None) -> RunRecord:
        """Run with `write(stdin)` streaming the input (git fast-import from a tarball read
        as it goes: nothing is held whole in memory). What `write` raises kills the process
        and is raised; a process that stops reading ends the writing quietly."""
        argv = [str(a) for a in argv]
        start = time.monotonic()
        proc = subprocess.Popen(argv, env=child_env(env), stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        try:
            try:
                write(proc.stdin)
                proc.stdin.close()
            except BrokenPipeError:
                pass
            err = proc.stderr.read()
            proc.wait(timeout=timeout)
        except BaseException:
            _kill_group(proc)
            proc.wait()
            raise
        return RunRecord(argv=tuple(argv), cwd=None, returncode=proc.returncode, stdout="",
                         stderr=err.decode("utf-8", "replace"), seconds=time.monotonic() - start,
                         env_overrides=tuple(sorted((env or {}).items())))


def _watch(proc: subprocess.Popen, until, timeout: float | None, grace: float):
    import selectors
    sel = selectors.DefaultSelector()
    streams = [f for f in (proc.stdout, proc.stderr) if f is not None]  # stderr None: merged
    for f in streams:
        sel.register(f, selectors.EVENT_READ)
    out, err = bytearray(), bytearray()
    start = time.monotonic()
    stop_at = None
    open_streams = len(streams)
    while open_streams:
        now = time.monotonic()
        limits = [x for x in (None if timeout is None else start + timeout, stop_at) if x]
        if limits and now >= min(limits):
            break
        wait = min(limits) - now if limits else None
        for key, _ in sel.select(min(wait, 1.0) if wait is not None else 1.0):
            chunk = os.read(key.fd, 65536)
            if not chunk:
                sel.unregister(key.fileobj)
                open_streams -= 1
                continue
            (out if key.fileobj is proc.stdout else err).extend(chunk)
            if stop_at is None and key.fileobj is proc.stdout and until(out.decode("utf-8", "replace")):
                stop_at = time.monotonic() + grace
    timed_out = stop_at is None and open_streams > 0
    if proc.poll() is None:
        _kill_group(proc)
    proc.wait()
    return bytes(out), bytes(err), timed_out


_WORKS: dict[str, bool] = {}


def _sandbox_works(runner: Runner) -> None:
    """One probe per process: bwrap present, and allowed to make its namespaces here."""
    if _WORKS.get("bwrap"):
        return
    if shutil.which("bwrap") is None:
        raise InfraError("sandbox: bwrap not found, so the patches' code cannot be confined",
                         "install the Debian package bubblewrap (scripts/setup does), or pass "
                         "--no-sandbox to run it unconfined with your rights")
    r = Runner.run(runner, bwrap_argv(around(), ["true"]), timeout=60)
    if r.returncode != 0:
        why = (r.stderr or r.stdout).strip().splitlines()
        raise InfraError(f"sandbox: bwrap cannot make a sandbox on this machine: {why[-1] if why else r.returncode}"
                         " (user namespaces refused?)",
                         "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, "
                         "or the container's seccomp/AppArmor profile), or pass --no-sandbox")
    _WORKS["bwrap"] = True


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


@dataclass
class FakeRunner(Runner):
    """Answers from a function instead of running anything; records every call."""

    answer: Callable[[tuple[str, ...], str | None], tuple[int, str, str]] = \
        lambda argv, cwd: (0, "", "")
    calls: list[tuple[tuple[str, ...], str | None]] = field(default_factory=list)
    sandboxes: list[Sandbox | None] = field(default_factory=list)  # what each call asked for

    def run(self, argv, *, cwd=None, env=None, timeout=None, input=None, check=False,
            until=None, grace=3.0, encoding="utf-8", sandbox=None, merged=False, pass_fds=()):
        key = tuple(str(a) for a in argv)
        c = str(cwd) if cwd else None
        self.calls.append((key, c))
        self.sandboxes.append(sandbox)
        rc, out, err = self.answer(key, c)
        if merged:
            out, err = out + err, ""
        rec = RunRecord(argv=key, cwd=c, returncode=rc, stdout=out, stderr=err, seconds=0.0,
                        env_overrides=tuple(sorted((env or {}).items())))
        if check and rc != 0:
            raise InfraError(f"{key[0]} exited {rc}: {reproducer(key, c)}", err or None)
        return rec

    def require_sandbox(self) -> None:
        """Nothing runs here: nothing to confine."""


DEFAULT = Runner()
