#!/usr/bin/env python3
"""The spec drafted from the real arena-kfuncs mails (../shared/lore) against the one
written by hand (series/arena-kfuncs/spec.toml): versions found and their covers'
Message-IDs, changelog claims found, and for each hand invariant that comes from a
changelog line, whether the drafted claim's verdict on the mails agrees (holds), stays
unjudged, or (never) says contradicted. Prints the figures; passes or fails on nothing.

    .venv/bin/python benchmarks/draft_vs_spec.py [--lore ../shared/lore]
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from arena_patches.mail import sources, spec as spec_mod  # noqa: E402
from arena_patches.review import claims  # noqa: E402
from arena_patches.review.claims.kinds import code_words  # noqa: E402
from arena_patches.verify import stages  # noqa: E402
from arena_patches.verify.options import Inputs  # noqa: E402


def _norm(t: str) -> str:
    return " ".join(re.sub(r"\(v\d+->v\d+.*?\)|\(v1 cover\)|\W+", " ", t.lower()).split())


def figures(lore: str) -> dict:
    o = Inputs(source=lore)
    read = sources.read_unnamed(lore)
    drafted = stages.drafted(o, None, read, "arena-draft")
    s = stages.load_series(drafted, lore, None, read)
    judged = claims.judge_all(s)
    hand = spec_mod.load("arena-kfuncs")
    hand_covers = {v.version: v.cover for v in hand.versions}
    got_covers = {v.version: v.cover for v in drafted.versions}
    rows = []
    for inv in hand.raw.get("invariants", []):
        if int(inv.get("claimed_in", 0)) < 2:
            continue  # from the v1 cover's prose or the title: no changelog line to draft from
        mine = [j for j in judged if j.version == f"v{inv['claimed_in']}"]
        words = set(code_words(inv["claim"]))
        best = max(mine, key=lambda j: (len(words & set(code_words(j.claim.text))),
                                        _norm(j.claim.text)[:25] == _norm(inv["claim"])[:25]), default=None)
        if best is not None and not (words & set(code_words(best.claim.text))
                                     or _norm(best.claim.text)[:25] == _norm(inv["claim"])[:25]):
            best = None
        rows.append({"invariant": inv["id"], "version": inv["claimed_in"],
                     "drafted": None if best is None else best.verdict.value,
                     "kind": None if best is None else best.kind,
                     "evidence": None if best is None else best.evidence})
    n = claims.counts(judged)
    return {"versions_hand": len(hand_covers), "versions_drafted": len(got_covers),
            "covers_agree": sum(hand_covers.get(k) == c for k, c in got_covers.items()),
            "claims_drafted": len(judged), "claim_counts": {k.value: v for k, v in n.items()},
            "hand_changelog_invariants": len(rows),
            "found": sum(r["drafted"] is not None for r in rows),
            "agree_holds": sum(r["drafted"] == "holds" for r in rows),
            "unjudged": sum(r["drafted"] == "unjudged" for r in rows),
            "contradicted": sum(r["drafted"] == "contradicted" for r in rows), "rows": rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lore", default=str(Path(__file__).resolve().parent.parent.parent / "shared" / "lore"))
    f = figures(ap.parse_args().lore)
    for r in f.pop("rows"):
        print(f"v{r['version']} {r['invariant']:42} {r['drafted'] or 'not found':12} {r['kind'] or ''}")
    print(json.dumps(f, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
