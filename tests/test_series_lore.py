"""The real mails of the arena series (../shared/lore): what the archive holds and lacks,
the v3 resend, every changelog claim with its patch and asker, the replies' kinds."""
import json

import pytest

from arena_patches import cli
from arena_patches.verify import stages

pytestmark = pytest.mark.lore

# What ../shared/lore/README.md says the archive holds, written independently here.
PRESENT = {1: [1, 2, 4], 2: [1, 2, 3, 4], 3: [1, 2, 3, 4], 4: [2, 4], 5: [1, 2],
           6: [1, 2, 3, 4], 7: [1, 2], 8: [2]}
COVER = {1: True, 2: True, 3: True, 4: True, 5: False, 6: False, 7: True, 8: False}
REPLIES = {1: 8, 2: 17, 3: 4, 4: 4, 5: 2, 6: 2, 7: 2, 8: 8}


@pytest.fixture(scope="module")
def model(request):
    from tests.conftest import LORE
    if not (LORE / "README.md").exists():
        pytest.skip(f"{LORE} is absent (the real mails live only beside the project)")
    from arena_patches.mail import spec
    return stages.load_series(spec.load(), str(LORE))


def test_versions_patches_and_gaps(model):
    assert [v.version for v in model.versions] == list(range(1, 9))
    for v in model.versions:
        assert v.total == 4
        assert [p.number for p in v.patches] == PRESENT[v.version], v.version
        assert list(v.missing) == [k for k in range(1, 5) if k not in PRESENT[v.version]]
        assert (v.cover is not None) == COVER[v.version]


def test_cover_message_ids_known_even_when_cover_missing(model, arena_spec):
    for vs in arena_spec.versions:
        assert model.version(vs.version).cover_message_id == vs.cover


def test_v3_resend_is_found_by_threading_not_by_msgid_pattern(model):
    v3 = model.version(3)
    assert v3.patch(1).message_id == "20251117160150.62183-2-puranjay@kernel.org"
    assert [v3.patch(k).message_id for k in (2, 3, 4)] == [
        f"20251117160617.4604-{i}-puranjay@kernel.org" for i in (1, 2, 3)]


def test_patch_contents(model):
    p = model.version(2).patch(3)
    assert p.subject == "bpf: arena: make arena kfuncs any context safe"
    assert set(p.paths) == {"include/linux/bpf.h", "kernel/bpf/arena.c", "kernel/bpf/verifier.c"}
    assert p.author.email == "puranjay@kernel.org"
    assert ("Signed-off-by", "Puranjay Mohan <puranjay@kernel.org>") in p.trailers
    assert dict(model.version(2).patch(1).base_blobs)["kernel/bpf/arena.c"].startswith("1074ac4459f2")
    assert dict(model.version(6).patch(1).base_blobs)["kernel/bpf/arena.c"].startswith("872dc0e41c65")
    assert "mapped = data.i\n" in model.version(5).patch(1).diff  # the real missing ;


def test_base_commit_trailers(model):
    assert model.version(4).base_commit == "759377dab35e404fc4f013e3f853d6e9450b4633"
    assert model.version(3).base_commit is None


def test_every_changelog_claim(model):
    got = {(c.from_version, c.to_version, c.patch, c.asked_by) for c in model.claims}
    steps = sorted({(c.from_version, c.to_version) for c in model.claims})
    # v7->v8 exists only in the merge commit's message, kept beside the mails (merged/*.txt)
    assert steps == [(1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, 7), (7, 8)]
    assert len(model.claims) == 24  # the merge message repeats the covers: one claim each
    lo32 = next(c for c in model.claims if (c.from_version, c.to_version) == (7, 8))
    assert lo32.patch == 3 and "clear_lo32(arena->user_vm_start)" in lo32.text
    assert lo32.sources == ("file:merged/f14cdb1367b9.txt",)
    for expected in [(1, 2, 1, "kernel test robot"), (1, 2, 1, "ai"), (1, 2, 2, "ai"),
                     (1, 2, 3, "ai"), (1, 2, 4, None), (2, 3, 1, "ai"), (2, 3, 2, "alexei"),
                     (2, 3, 3, "kernel test robot"), (3, 4, 2, "alexei"), (3, 4, 3, "alexei"),
                     (4, 5, 1, "ai"), (4, 5, 3, "alexei"), (5, 6, 1, "ai"), (6, 7, 1, None),
                     (6, 7, None, None)]:
        assert expected in got
    semicolon = [c for c in model.claims if (c.from_version, c.to_version) == (5, 6)]
    assert [c.text for c in semicolon] == [
        "Add a missing ; to make sure this patch builds individually."]
    tlb = next(c for c in model.claims if "tlbflush.h" in c.text)
    # Repeated by the v2, v3, v4 and v7 covers and the merge message: one claim, five sources.
    assert len(tlb.sources) == 5 and tlb.text == "Import tlbflush.h to fix build issue in loongarch."


def test_reply_kinds_and_targets(model):
    for v in model.versions:
        assert len(v.replies) == REPLIES[v.version], v.version
    kinds = {(r.version, r.patch, r.kind.value) for v in model.versions for r in v.replies}
    assert (1, 1, "build-robot") in kinds and (1, 3, "ai-review") in kinds  # v1 3/4 is missing
    assert (2, 3, "build-robot") in kinds and (2, 2, "maintainer") in kinds
    assert (5, 1, "ai-review") in kinds and (6, 1, "author") in kinds
    assert (7, 3, "ai-review") in kinds  # replies to a patch the archive lacks
    v8 = model.version(8).replies
    assert {r.patch for r in v8} == {4}
    assert [r.kind.value for r in v8].count("author") == 4  # puranjay12@gmail.com is the author
    ai5 = next(r for r in model.version(5).replies if r.kind.value == "ai-review")
    assert "missing semicolon" in ai5.excerpt and not ai5.excerpt.startswith(">")


def test_cli_json_contract(lore_dir, capsys):
    rc = cli.main(["series", "--source", str(lore_dir), "--json"])
    out = capsys.readouterr().out
    assert rc == 0
    doc = json.loads(out)  # stdout is exactly one JSON document
    assert doc["series"] == {"title": "Remove KF_SLEEPABLE from arena kfuncs",
                             "list": "bpf@vger.kernel.org", "base_tree": "bpf-next"}
    v4 = doc["versions"][3]
    assert v4["version"] == 4 and v4["missing"] == [1, 3] and v4["cover"]["present"] is True
    assert [p["present"] for p in v4["patches"]] == [False, True, False, True]
    assert v4["patches"][1]["files"] == ["kernel/bpf/arena.c"]
    assert {"message_id", "from", "date", "kind", "patch"} <= set(doc["versions"][0]["replies"][0])
    claim = next(c for c in doc["claims"] if c["to"] == 2 and "tlbflush" in c["text"])
    assert (claim["from"], claim["patch"], claim["asked_by"]) == (1, 1, "kernel test robot")


def test_cli_table(lore_dir, capsys):
    assert cli.main(["series", "--source", str(lore_dir)]) == 0
    out = capsys.readouterr().out
    assert "v8" in out and "missing" in out and "24 changelog claims" in out


def test_a_merge_message_beside_mails_without_a_tree(tmp_path):
    """Only merge messages that carry the series' title are read; others are ignored."""
    from arena_patches.verify import stages
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "a.txt").write_text("Merge branch 'x'\n\nRemove  KF_SLEEPABLE from arena\nkfuncs\n")
    (tmp_path / "m" / "b.txt").write_text("Merge branch 'y'\n\nSomething else\n")
    (tmp_path / "notes.txt").write_text("Remove KF_SLEEPABLE from arena kfuncs, not a merge\n")
    got = stages.merge_files(str(tmp_path), "Remove KF_SLEEPABLE from arena kfuncs")
    assert [name for name, _ in got] == ["file:m/a.txt"]
    assert stages.merge_files("lore", "x") == [] and stages.merge_files(str(tmp_path / "m" / "a.txt"), "x") == []
