"""Real multi-version series (tests/series/<name>/: raw mails and hand-made truth.toml),
read with no spec: the versions found against the truth, and every changelog claim's
verdict against the truth (agreement figures; never `contradicted` where it holds)."""
import json
import tomllib
from pathlib import Path

import pytest

from arena_patches import cli

SERIES = Path(__file__).resolve().parent / "series"
NAMES = sorted(p.name for p in SERIES.iterdir() if (p / "truth.toml").is_file())


def _truth(name):
    return tomllib.loads((SERIES / name / "truth.toml").read_text())


def _run(capsys, *argv):
    rc = cli.main([*argv, "--json"])
    return rc, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("name", NAMES)
def test_versions_found_as_the_truth_says(name, capsys):
    rc, doc = _run(capsys, "series", "--source", str(SERIES / name))
    assert rc == 0, doc
    got = [(v["label"], v["tag"], v["cover"]["message_id"] or "",
            [p["message_id"] for p in v["patches"] if p["present"]]) for v in doc["versions"]]
    want = [(v["label"], v["tag"], v["cover"], v["patches"]) for v in _truth(name)["version"]]
    assert got == want
