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


def _norm(text):
    return " ".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


def _judged(name):
    from arena_patches.review import claims
    from arena_patches.verify import stages
    from arena_patches.verify.options import Inputs
    _spec, s = stages.series_and_spec(Inputs(source=str(SERIES / name)))
    return claims.judge_all(s)


def _pairs(name):
    """(truth claim, judged claim) for every claim of the truth, matched by version and text."""
    judged = _judged(name)
    out = []
    for tc in _truth(name)["claim"]:
        want = _norm(tc["text"])
        hits = [j for j in judged if j.version == tc["version"] and j.against == tc["against"]
                and (_norm(j.claim.text) in want or want in _norm(j.claim.text))]
        assert hits, f"{name}: no claim read for {tc['version']} \"{tc['text']}\""
        out.append((tc, hits[0]))
    return out, judged


@pytest.mark.parametrize("name", NAMES)
def test_claims_found_and_never_a_false_alarm(name):
    pairs, judged = _pairs(name)
    # one claim per bullet: "patch1,2,3,4,7 acked-by Daniel" is judged per patch, read once
    bullets = {(j.version, j.against, _norm(j.claim.text)) for j in judged}
    assert len(bullets) == len(pairs), sorted(b[2] for b in bullets)
    for tc, j in pairs:
        if tc["truth"] == "holds":
            assert j.verdict.value != "contradicted", (tc["text"], j.evidence)
        if tc["truth"] == "contradicted":
            assert j.verdict.value == "contradicted" and j.evidence, (tc["text"], j.evidence)
        if j.verdict.value == "unjudged":
            assert j.evidence  # always with why


def test_agreement_over_every_real_series():
    """The figure quoted in README: of the claims the truth says hold, how many the mails
    alone judge `holds` (the rest `unjudged`, never `contradicted`)."""
    agree = total = 0
    for name in NAMES:
        pairs, _ = _pairs(name)
        for tc, j in pairs:
            total += 1
            agree += j.verdict.value == tc["truth"]
    assert total >= 50 and agree / total >= 0.5, (agree, total)


def _mixture(tmp_path, names, replies):
    import shutil
    d = tmp_path / "mixed"
    d.mkdir()
    for name in names:
        for f in (SERIES / name).rglob("*.eml"):
            if replies or "replies" not in f.parts:
                shutil.copy(f, d / f"{name}-{'-'.join(f.relative_to(SERIES / name).parts)}")
    return d


MIXTURES = tomllib.loads((SERIES / "mixed" / "manifest.toml").read_text())["mixture"] \
    if (SERIES / "mixed" / "manifest.toml").is_file() else {}


@pytest.mark.parametrize("mixture", sorted(MIXTURES))
def test_unrelated_series_in_one_directory_are_split_never_mixed(mixture, tmp_path, capsys):
    names = MIXTURES[mixture]["series"]
    src = _mixture(tmp_path, names, MIXTURES[mixture].get("with_replies", False))
    rc, doc = _run(capsys, "series", "--source", str(src))
    assert rc == 2 and f"{len(names)} unrelated series" in doc["error"]["message"]
    for name in names:
        truth = _truth(name)
        first = truth["version"][0]
        rc, doc = _run(capsys, "series", "--source", str(src), "--series", first["cover"] or first["patches"][0])
        assert rc == 0, doc
        got = [(v["label"], [p["message_id"] for p in v["patches"] if p["present"]]) for v in doc["versions"]]
        assert got == [(v["label"], v["patches"]) for v in truth["version"]], name
        mine = {m for v in truth["version"] for m in v["patches"] + [v["cover"]] if m}
        assert not mine & {x["message_id"] for x in doc["left_out"]}


@pytest.mark.parametrize("name", NAMES)
def test_no_undocumented_flag_where_the_truth_finds_none(name):
    """A pair of versions whose truth lists no undocumented change gets no `undocumented`
    row: the flag is a warning a maintainer reads, so it must not cry wolf."""
    from arena_patches.review import compare
    from arena_patches.verify import stages
    from arena_patches.verify.options import Inputs
    _spec, s = stages.series_and_spec(Inputs(source=str(SERIES / name)))
    number = {v.name: v.version for v in s.versions}
    for pair in _truth(name).get("pair", []):
        c = compare.compare(s, number[pair["from"]], number[pair["to"]])
        flagged = [(p.number, p.reason) for p in c.patches if p.flag is compare.Flag.UNDOCUMENTED]
        if not pair["undocumented"]:
            assert not flagged, (pair["from"], pair["to"], flagged)


def test_a_trailer_claim_holds_only_on_the_trailer_it_names(tmp_path):
    """bpf "Move attach_type into bpf_link" v4 (real): "patch7 acked-by Nikolay" holds on
    Nikolay's Acked-by on 7/7. With that line taken out of the mail (the claim made false),
    Daniel's Acked-by on 1/7 must not stand in for it."""
    import shutil
    from arena_patches.review import claims
    from arena_patches.verify import stages
    from arena_patches.verify.options import Inputs

    def verdict(src):
        _spec, s = stages.series_and_spec(Inputs(source=str(src)))
        (j,) = [j for j in claims.judge_all(s) if j.claim.text == "patch7 acked-by Nikolay"]
        return j
    real = verdict(SERIES / "bpf-link-attach-type")
    assert real.verdict.value == "holds" and real.evidence.startswith("v4 7/7 gains Acked-by: Nikolay")
    edited = tmp_path / "bpf-link-attach-type"
    shutil.copytree(SERIES / "bpf-link-attach-type", edited)
    mail = edited / "v4-0007.eml"
    text = mail.read_bytes()
    assert b"Acked-by: Nikolay Aleksandrov <razor@blackwall.org>\n" in text
    mail.write_bytes(text.replace(b"Acked-by: Nikolay Aleksandrov <razor@blackwall.org>\n", b""))
    false = verdict(edited)
    assert false.verdict.value == "unjudged" and "crediting nikolay" in false.evidence
