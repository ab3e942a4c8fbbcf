"""The matrix's targets at once, here (core.executor.LocalExecutor's `at_once`): units
really overlap; Ctrl-C, or a unit that fails, kills every child the others are running
and nothing runs after; one worktree held at one commit by every make that builds it,
moved only when none holds it (tree.shared); each directory's own ccache counts."""
import _thread
import os
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from arena_patches.core import executor, runner
from arena_patches.core.errors import InfraError
from arena_patches.core.runner import Runner
from arena_patches.kbuild.directory import CcacheLog
from arena_patches.core.jobserver import Jobserver
from arena_patches.tree import repo as tree_mod
from arena_patches.tree.shared import SharedWorktree
from tests import gittree


def test_units_overlap():
    """Each unit waits for the other: one after the other, neither would get past."""
    barrier = threading.Barrier(2, timeout=20)

    def meet(i: int) -> int:
        barrier.wait()
        return i * 10
    assert executor.LocalExecutor().map(meet, [(1,), (2,)], ["a", "b"], at_once=2) == [10, 20]


def _sleeper(started: threading.Event, seen: list):
    def unit(label: str) -> str:
        started.set()
        t0 = time.monotonic()
        try:
            Runner().run(["sleep", "60"], timeout=120)
        finally:
            seen.append((label, time.monotonic() - t0))
        return label
    return unit


def test_ctrl_c_kills_every_unit_s_child_and_nothing_runs_after(ctrl_c):
    started, seen = threading.Event(), []
    unit = _sleeper(started, seen)

    def interrupt():
        started.wait(20)
        time.sleep(0.5)
        _thread.interrupt_main()
    threading.Thread(target=interrupt, daemon=True).start()
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        executor.LocalExecutor().map(unit, [("a",), ("b",)], ["a", "b"], at_once=2)
    assert time.monotonic() - t0 < 20  # not the 60 s the sleeps ask for
    assert sorted(label for label, _ in seen) == ["a", "b"]  # both ended, killed
    assert all(took < 20 for _, took in seen)
    # and runs start again afterwards
    assert Runner().run(["true"], timeout=10).returncode == 0


def test_a_unit_that_fails_stops_the_others():
    started, seen = threading.Event(), []
    sleeper = _sleeper(started, seen)

    def fails(label: str) -> str:
        started.wait(20)
        raise InfraError(f"{label}: the disk went away", None)

    def unit(label: str) -> str:
        return fails(label) if label == "bad" else sleeper(label)
    t0 = time.monotonic()
    with pytest.raises(InfraError, match="bad: the disk went away"):
        executor.LocalExecutor().map(unit, [("good",), ("bad",)], ["good", "bad"], at_once=2)
    assert time.monotonic() - t0 < 20 and [label for label, _ in seen] == ["good"]
    assert not runner._STOPPING.is_set()


def test_a_child_started_while_stopping_is_killed_at_once():
    runner.stop_all()
    try:
        with pytest.raises(runner.Stopped):
            Runner().run(["sleep", "30"], timeout=60)
    finally:
        runner.resume()


MAKEFILE = """all: a b c d
a b c d:
	@echo "+ $$(date +%s.%N)" >> $(LOG); sleep $(SLEEP); echo "- $$(date +%s.%N)" >> $(LOG)
"""


def _most_at_once(log) -> int:
    events = sorted((float(t), 1 if sign == "+" else -1) for sign, t in
                    (line.split() for line in log.read_text().splitlines()))
    now = most = 0
    for _, d in events:
        now += d
        most = max(most, now)
    return most


def _make_in(pool: Jobserver, d, log, sleep="0.5", timeout=60, alone=False):
    with pool.slot(alone):
        return Runner().run(["make", "-C", str(d), f"LOG={log}", f"SLEEP={sleep}"], timeout=timeout,
                            env={"MAKEFLAGS": pool.makeflags()}, pass_fds=pool.fds)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_makes_at_once_share_one_make_j(tmp_path):
    """Two makes of four jobs each in a pool of 2: never more than 2 jobs at once between
    them; one make alone gets both tokens (its four jobs in two rounds, not four)."""
    (tmp_path / "Makefile").write_text(MAKEFILE)
    with Jobserver(2) as pool:
        log = tmp_path / "alone.log"
        t0 = time.monotonic()
        assert _make_in(pool, tmp_path, log).returncode == 0
        assert _most_at_once(log) == 2 and time.monotonic() - t0 < 1.9
        log = tmp_path / "together.log"
        with ThreadPoolExecutor(2) as ex:
            rcs = list(ex.map(lambda _: _make_in(pool, tmp_path, log).returncode, range(2)))
        assert rcs == [0, 0] and len(log.read_text().splitlines()) == 16
        assert _most_at_once(log) == 2
        assert pool.available() == 2 and pool.running == 0


def _times(log, sign):
    return [float(t) for s, t in (line.split() for line in log.read_text().splitlines()) if s == sign]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_a_cold_build_runs_alone(tmp_path):
    """A make `alone` waits for the one running to end, none starts beside it, and it has
    the whole pool (two jobs at once)."""
    (tmp_path / "Makefile").write_text(MAKEFILE)
    logs = {n: tmp_path / f"{n}.log" for n in ("before", "cold", "after")}
    with Jobserver(2) as pool, ThreadPoolExecutor(3) as ex:
        first = ex.submit(_make_in, pool, tmp_path, logs["before"])
        while not logs["before"].exists():
            time.sleep(0.01)
        cold = ex.submit(_make_in, pool, tmp_path, logs["cold"], alone=True)
        while not logs["cold"].exists():
            time.sleep(0.01)
        after = ex.submit(_make_in, pool, tmp_path, logs["after"])
        assert [f.result().returncode for f in (first, cold, after)] == [0, 0, 0]
    assert min(_times(logs["cold"], "+")) >= max(_times(logs["before"], "-"))
    assert min(_times(logs["after"], "+")) >= max(_times(logs["cold"], "-"))
    assert _most_at_once(logs["cold"]) == 2


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_a_make_killed_mid_job_does_not_shrink_the_pool(tmp_path):
    (tmp_path / "Makefile").write_text(MAKEFILE)
    with Jobserver(3) as pool:
        r = _make_in(pool, tmp_path, tmp_path / "log", sleep="30", timeout=1)
        assert r.timed_out  # killed holding tokens its jobs had taken
        assert pool.available() == 3


@pytest.fixture
def three_commits(tmp_path):
    t = gittree.make(tmp_path / "user", {"f.c": "one\n"})
    commits = [gittree.run(t, "rev-parse", "HEAD").strip()]
    for text in ("two\n", "three\n"):
        (t / "f.c").write_text(text)
        gittree.run(t, "commit", "-q", "-am", text.strip())
        commits.append(gittree.run(t, "rev-parse", "HEAD").strip())
    return t, commits


def test_one_worktree_held_at_one_commit_by_every_make_that_builds_it(three_commits, tmp_path):
    t, (c1, c2, c3) = three_commits
    seen: list[tuple[str, str]] = []
    with tree_mod.work_repo(tree_mod.open_user_tree(t), tmp_path / "work") as wr:
        with SharedWorktree(wr, "build") as tree:
            a_in, b_waiting, release_a = threading.Event(), threading.Event(), threading.Event()

            def a():
                with tree.at(c1) as path:
                    a_in.set()
                    release_a.wait(20)
                    seen.append(("a", (path / "f.c").read_text()))

            def joins():  # the same commit while a holds it: in at once, no checkout
                a_in.wait(20)
                with tree.at(c1) as path:
                    seen.append(("join", (path / "f.c").read_text()))

            def b():  # another commit: waits until no one holds c1
                a_in.wait(20)
                b_waiting.set()
                with tree.at(c3) as path:
                    seen.append(("b", (path / "f.c").read_text()))
            threads = [threading.Thread(target=f) for f in (a, joins, b)]
            for th in threads:
                th.start()
            b_waiting.wait(20)
            time.sleep(0.5)
            assert ("b", "three\n") not in seen  # still waiting: a holds the tree at c1
            release_a.set()
            for th in threads:
                th.join(30)
            assert seen[-1] == ("b", "three\n") and ("a", "one\n") in seen and ("join", "one\n") in seen
            assert tree.checkouts == 2  # c1 once for both, then c3
            path = tree.path
            (path / "f.c").write_text("left by a make\n")
            with tree.at(c3):  # a new turn at the same commit: forced, the edit undone
                assert (path / "f.c").read_text() == "three\n"
        assert gittree.run(path, "status", "--porcelain") == ""  # left clean


def test_a_tree_never_held_is_never_checked_out(three_commits, tmp_path):
    t, _ = three_commits
    with tree_mod.work_repo(tree_mod.open_user_tree(t), tmp_path / "work") as wr:
        with SharedWorktree(wr, "build") as tree:
            pass
        assert tree.checkouts == 0 and not (wr.root / "wt" / "build").exists()


@pytest.mark.skipif(shutil.which("ccache") is None, reason="ccache is not installed")
def test_a_directory_s_ccache_counts_are_its_own(tmp_path):
    (tmp_path / "a.c").write_text("int f(void) { return 1; }\n")
    out = tmp_path / "out"
    out.mkdir()
    log = CcacheLog(out / "stats")
    env = {**os.environ, "CCACHE_DIR": str(tmp_path / "cc"), "CCACHE_STATSLOG": str(log.path)}
    for _ in range(2):
        subprocess.run(["ccache", "gcc", "-c", "a.c", "-o", str(out / "a.o")], cwd=tmp_path, env=env, check=True)
    other = {**env, "CCACHE_STATSLOG": str(tmp_path / "other")}  # another directory's make, meanwhile
    subprocess.run(["ccache", "gcc", "-c", "a.c", "-o", str(out / "b.o")], cwd=tmp_path, env=other, check=True)
    assert log.counts() == (1, 1)
    assert CcacheLog(out / "stats").counts() == (0, 0)  # begun again: empty
    secret = tmp_path / "secret"
    secret.write_text("cache_miss\n" * 5)
    (out / "stats").symlink_to(secret)  # planted by the tree's make: not read through
    log.path = out / "stats"
    assert log.counts() == (0, 0)
