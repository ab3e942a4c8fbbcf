"""The real series under tests/series/ agree with their hand-made ground truth.

Every truth.toml is checked against the mails it describes: the Message-IDs, subject tags
and dates of each version, and every claim's text, which must be a changelog line of that
version's mails, verbatim up to line wrapping. A slip in the ground truth fails here before
it misleads the code measured on it.
"""
import email
import email.policy
import email.utils
import re
import tomllib
from pathlib import Path

import pytest

HERE = Path(__file__).parent
SERIES = sorted(p.parent for p in HERE.glob("*/truth.toml"))
KINDS = {"rename", "type-change", "call-added", "call-removed", "moved", "trailers", "rebase",
         "commit-message", "patch-added", "patch-dropped", "patch-split", "patch-squashed",
         "other"}
TRUTHS = {"holds", "contradicted", "unknowable-from-mails"}


def _mail(path):
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)


def _body(msg):
    part = msg.get_body(("plain",)) if msg.is_multipart() else msg
    return part.get_content()


def _flat(text):
    return " ".join(text.split())


def _tag(subject):
    prefix = re.match(r"\s*\[([^\]]*)\]", subject)[1]
    found = re.search(r"\bv(\d+)\b", prefix, re.I)
    return int(found[1]) if found else 1


@pytest.fixture(params=SERIES, ids=lambda p: p.name)
def series(request):
    return request.param, tomllib.loads((request.param / "truth.toml").read_text())


def test_there_are_series():
    assert len(SERIES) >= 5


def test_versions_match_their_mails(series):
    root, truth = series
    labels = [v["label"] for v in truth["version"]]
    assert len(labels) == len(set(labels))
    for version in truth["version"]:
        mails = [_mail(root / name) for name in version["files"]]
        ids = [m["message-id"].strip().strip("<>") for m in mails]
        expected = ([version["cover"]] if version["cover"] else []) + version["patches"]
        assert ids == expected, version["label"]
        assert {_tag(str(m["subject"])) for m in mails} == {version["tag"]}, version["label"]
        sent = email.utils.parsedate_to_datetime(str(mails[0]["date"]))
        assert sent.isoformat() == version["date"], version["label"]


def test_claims_are_changelog_lines_of_their_version(series):
    root, truth = series
    versions = {v["label"]: v for v in truth["version"]}
    for claim in truth["claim"]:
        version = versions[claim["version"]]
        assert claim["against"] in versions and claim["against"] != claim["version"]
        assert claim["kind"] in KINDS and claim["truth"] in TRUTHS, claim["text"]
        assert claim["why"].strip()
        if "patch" in claim:
            assert 1 <= claim["patch"] <= max(len(v["patches"]) for v in versions.values())
        # a changelog entry for an earlier step, written only in a later version's mails
        carrier = versions[claim.get("carried_in", claim["version"])]
        bodies = [_flat(_body(_mail(root / name)).split("\ndiff --git")[0])
                  for name in carrier["files"]]
        assert any(_flat(claim["text"]) in body for body in bodies), claim["text"]


def test_pairs_name_known_versions(series):
    _, truth = series
    labels = {v["label"] for v in truth["version"]}
    for pair in truth.get("pair", []):
        assert pair["from"] in labels and pair["to"] in labels
        assert all(isinstance(item, str) and item for item in pair["undocumented"])


def test_mixtures_name_existing_series():
    manifest = tomllib.loads((HERE / "mixed" / "manifest.toml").read_text())
    names = {p.name for p in SERIES}
    for mixture in manifest["mixture"].values():
        assert len(mixture["series"]) >= 2 and set(mixture["series"]) <= names
