"""Invariants over applied versions: the demo series on the real 6.12 kernel, patch by
patch, and the verdict for each changelog claim."""
import json

import pytest

from arena_patches import cli
from arena_patches.demo import prepare as demo
from arena_patches.invariants import evaluate, rules
from arena_patches.core.verdicts import Status
from tests.kernel import demo_on_kernel, work_dir

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    src = tmp_path_factory.mktemp("mails")
    with demo_on_kernel(src) as (kernel, spec, _, wr, applied):
        out = evaluate.over_versions(wr, rules.from_spec(spec.raw, spec.path), applied)
    return {r.rule.id: r for r in out}, kernel, src


def cell(r, v, k):
    return next(c for c in r.cells if (c.version, c.patch) == (v, k))


def test_missing_semicolon_claim(results):
    r = results[0]["arena-c-parses"]
    assert cell(r, 1, 1).status is Status.FAIL and "arena_nr_pages()" in cell(r, 1, 1).detail
    assert cell(r, 1, 2).status is Status.PASS and cell(r, 2, 1).status is Status.PASS
    assert (r.first_holds, r.verdict) == (2, "as-claimed")


def test_tlbflush_claim_and_skips(results):
    r = results[0]["tlbflush-include"]
    assert cell(r, 1, 4).status is Status.FAIL and cell(r, 2, 4).status is Status.PASS
    assert cell(r, 3, 4).status is Status.SKIP  # v3 4/4 was not applied
    assert (r.first_holds, r.verdict) == (2, "as-claimed")
    lock = results[0]["free-pages-under-mutex"]
    assert all(c.status is Status.PASS for c in lock.cells if c.status is not Status.SKIP)


def test_cli_check_json(results, capsys):
    _, kernel, src = results
    rc = cli.main(["check", "--spec", str(demo.SPEC), "--tree", str(kernel), "--source", str(src),
                   "--work-dir", str(work_dir()), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0
    inv = {i["id"]: i for i in doc["invariants"]}
    assert "parse" in "arena-c-parses"
    assert inv["arena-c-parses"]["verdict"] == "as-claimed" and inv["arena-c-parses"]["first_holds"] == 2
    assert {"version", "patch", "status", "detail"} <= set(inv["tlbflush-include"]["results"][0])
