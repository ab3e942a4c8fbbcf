"""`--executor ray --ray-address`: a Ray cluster started the way a user starts one
(`ray start --head`), joined by address; units run on it, and the CLI's answer through it
equals the local executor's (a tree that cannot be configured is an `error` cell either way,
exit 3: never a pass)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from arena_patches import cli
from arena_patches.core import executor
from tests import gittree

pytestmark = pytest.mark.integration
PORT = "6391"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    ray = pytest.importorskip("ray")
    ray_cli = Path(sys.executable).parent / "ray"
    if not ray_cli.exists():
        pytest.skip("the ray command is not installed beside this python")
    tmp = tmp_path_factory.mktemp("ray")
    # Ray >= 2.5x turns token authentication on for the local instances the tests before
    # this one started in this process (and leaves it in the environment): a loopback test
    # cluster without it, so that the order of the tests does not matter
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")},
           "RAY_TMPDIR": str(tmp), "RAY_AUTH_MODE": "disabled"}
    subprocess.run([str(ray_cli), "start", "--head", "--port", PORT, "--num-cpus", "2",
                    "--include-dashboard", "false", "--disable-usage-stats"], check=True,
                   capture_output=True, env=env, timeout=180)
    try:
        yield f"127.0.0.1:{PORT}"
    finally:
        ray.shutdown()
        subprocess.run([str(ray_cli), "stop", "--force"], capture_output=True, env=env, timeout=120)


def answer(x: int) -> tuple[int, int]:
    return x + 1, os.getpid()


def test_units_run_on_a_cluster_named_by_address(cluster):
    got = executor.RayExecutor(cluster).map(answer, [(1,), (2,)], ["a", "b"])
    assert [g for g, _ in got] == [2, 3] and all(pid != os.getpid() for _, pid in got)


def test_cli_through_the_cluster_equals_local(cluster, tmp_path, capsys):
    import ray
    tree = gittree.make(tmp_path / "not-a-kernel", {"README": "no Makefile here\n"})
    docs = {}
    for how in (["--executor", "local"], ["--executor", "ray", "--ray-address", cluster]):
        rc = cli.main(["build", "--tree", str(tree), "--targets", "x86_64", "--work-dir",
                       str(tmp_path / how[1]), "--json", *how])
        docs[how[1]] = (rc, json.loads(capsys.readouterr().out))
    ray.shutdown()
    (rc_l, local), (rc_r, remote) = docs["local"], docs["ray"]
    assert rc_l == rc_r == 3
    strip = lambda d: [(c["target"], c["status"], c["detail"].replace(str(tmp_path / "ray"), "W")
                        .replace(str(tmp_path / "local"), "W")) for c in d["results"]]
    assert strip(local) == strip(remote) and strip(local)[0][1] == "error"
