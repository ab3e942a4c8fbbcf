"""The spec drafted from the real arena-kfuncs mails against the hand-written one
(benchmarks/draft_vs_spec.py prints the same figures)."""
import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.lore
ROOT = Path(__file__).resolve().parent.parent


def test_drafted_spec_against_the_hand_written_one(lore_dir):
    spec = importlib.util.spec_from_file_location("draft_vs_spec", ROOT / "benchmarks" / "draft_vs_spec.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    f = mod.figures(str(lore_dir))
    assert (f["versions_drafted"], f["covers_agree"]) == (f["versions_hand"], f["versions_hand"])
    assert f["claim_counts"]["contradicted"] == 0 and f["contradicted"] == 0  # every claim here is true
    assert f["found"] == f["hand_changelog_invariants"]
    assert f["agree_holds"] >= f["hand_changelog_invariants"] // 3
    for r in f["rows"]:
        if r["drafted"] == "holds":
            assert r["evidence"].startswith(f"v{r['version']} "), r  # a line of that version, quoted
