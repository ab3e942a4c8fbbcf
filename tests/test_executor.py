"""The executor seam on a real local Ray instance (2 CPUs): the same units give the same
answers as the local executor, a worker killed mid-unit is retried once elsewhere, a unit
whose worker dies every time is recorded as lost (never a pass), an exception raised by
the unit itself is the unit's own answer (not retried as a lost worker)."""
import os
from pathlib import Path

import pytest

from arena_patches import cli
from arena_patches.core import executor
from arena_patches.core.errors import InfraError

pytestmark = pytest.mark.integration


def square_in_a_worker(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def dies_once(marker: str, x: int) -> int:
    """Kills its own worker process the first time (as a lost node would), then answers."""
    m = Path(marker)
    if not m.exists():
        m.write_text(str(os.getpid()))
        os._exit(9)
    return x + 1


def always_dies(x: int) -> int:
    os._exit(9)


def raises(x: int) -> int:
    raise InfraError(f"unit {x} could not run", "a hint")


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    ex = executor.RayExecutor(num_cpus=2)
    ex._init()
    yield ex
    ray.shutdown()


def test_same_answers_as_local_and_really_elsewhere(ray_local):
    units = [(i,) for i in range(6)]
    local = executor.LocalExecutor().map(square_in_a_worker, units, [str(i) for i in range(6)])
    remote = ray_local.map(square_in_a_worker, units, [str(i) for i in range(6)])
    assert [a for a, _ in remote] == [a for a, _ in local] == [i * i for i in range(6)]
    assert all(pid != os.getpid() for _, pid in remote)  # ran in Ray workers


def test_a_worker_killed_mid_unit_is_retried(ray_local, tmp_path):
    marker = tmp_path / "died"
    (got,) = ray_local.map(dies_once, [(str(marker), 41)], ["build x86_64"])
    assert got == 42 and marker.exists()  # the first attempt died, the retry answered


def test_a_unit_lost_every_time_is_recorded(ray_local):
    said = []
    (got,) = ray_local.map(always_dies, [(1,)], ["boot arm64"], progress=said.append)
    assert isinstance(got, executor.UnitLost) and got.label == "boot arm64"
    assert "lost 2 times" in got.reason and said == ["boot arm64 done (1 of 1)"]


def test_a_units_own_error_is_its_answer(ray_local):
    with pytest.raises(InfraError, match="unit 3 could not run"):
        ray_local.map(raises, [(3,)], ["u"])


def test_cli_names_a_bad_address(tmp_path, capsys):
    rc = cli.main(["build", "--tree", str(tmp_path), "--ray-address", "1.2.3.4:1", "--json"])
    assert rc == 2 and "--ray-address" in capsys.readouterr().out


def sleeps_then_writes(path: str, seconds: float) -> str:
    import time
    Path(path + ".started").write_text("")
    time.sleep(seconds)
    Path(path).write_text("still ran")
    return path


def test_ctrl_c_on_the_driver_cancels_running_units(ray_local, tmp_path, ctrl_c):
    import _thread
    import threading
    import time
    marker = tmp_path / "ran"

    def interrupt_once_running():  # not at a fixed time: Ray's start may take longer on a busy machine
        deadline = time.monotonic() + 60
        while not (tmp_path / "ran.started").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        _thread.interrupt_main()
    threading.Thread(target=interrupt_once_running, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        ray_local.map(sleeps_then_writes, [(str(marker), 12.0)], ["build x86_64"])
    assert (tmp_path / "ran.started").exists()
    time.sleep(14)
    assert not marker.exists()  # cancelled (force): the unit never finished
