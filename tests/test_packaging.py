"""A non-editable install carries what a run needs: the series specs (series/<name>/spec.toml, and
the demo's) are package data, so `series` with the default spec and the demo's spec work
from a directory outside the checkout, with the checkout out of the import path."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import mailgen

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.integration


def test_installed_wheel_finds_its_specs(tmp_path):
    wheel_dir, target, elsewhere = tmp_path / "wheel", tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    pip = [sys.executable, "-m", "pip", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(wheel_dir), str(ROOT)],
                   check=True, capture_output=True)
    (whl,) = wheel_dir.glob("arena_patches-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(whl)], check=True,
                   capture_output=True)
    mails = elsewhere / "mails"
    mails.mkdir()
    (mails / "a.mbox").write_bytes(mailgen.mbox(mailgen.series(1, 2, title="bpf: Remove KF_SLEEPABLE from arena kfuncs")))
    env = {**os.environ, "PYTHONPATH": str(target), "ARENA_PATCHES_CACHE": str(tmp_path / "cache")}
    probe = ("import arena_patches, arena_patches.demo.prepare as d, sys; "
             "print(arena_patches.__file__); print(d.SPEC.is_file())")
    where, spec_ok = subprocess.run([sys.executable, "-c", probe], cwd=elsewhere, env=env, check=True,
                                    capture_output=True, text=True).stdout.split()
    assert where.startswith(str(target)) and spec_ok == "True"
    for spec in ([], ["--spec", "arena-demo"], ["--spec", "arena-kfuncs"]):
        r = subprocess.run([sys.executable, "-m", "arena_patches", "series", "--json", *spec,
                            "--source", str(mails)], cwd=elsewhere, env=env, capture_output=True, text=True)
        assert "Traceback" not in r.stderr, r.stderr
        doc = json.loads(r.stdout)
        assert "error" not in doc, doc
        assert doc["series"]["title"]
    r = subprocess.run([sys.executable, "-m", "arena_patches", "demo", "--help"], cwd=elsewhere, env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0 and "demo" in r.stdout, r.stderr
