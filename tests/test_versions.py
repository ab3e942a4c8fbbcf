"""Version comparison against the changelog, and review tracking: the real mails for the
pairs both sides exist, and generated series for every flag."""
import json

import pytest

from arena_patches import cli
from arena_patches.verify import stages
from arena_patches.mail import series as series_mod
from arena_patches.mail import spec as spec_mod
from arena_patches.review import compare as versions, track
from arena_patches.mail import local
from arena_patches.review.compare import Change, Flag
from tests import mailgen


@pytest.fixture(scope="module")
def real():
    from tests.conftest import LORE
    if not (LORE / "README.md").exists():
        pytest.skip(f"{LORE} is absent (the real mails live only beside the project)")
    s = stages.load_series(spec_mod.load(), str(LORE))
    comps = {p: versions.compare(s, *p) for p in versions.consecutive(s)}
    return s, comps, track.track(s, comps)


def row(comp, k):
    return next(p for p in comp.patches if p.number == k)


@pytest.mark.lore
def test_v6_v7_patch1_changed_with_both_claims(real):
    _, comps, _ = real
    p1 = row(comps[(6, 7)], 1)
    assert p1.change is Change.CHANGED and p1.flag is Flag.OK
    texts = {c.text for c in p1.claims}
    assert any(t.startswith("Fix a deadlock in patch 1") for t in texts)
    # named no patch, placed on patch 1 because its interdiff has the identifier
    assert any(t.startswith("Call flush_cache_vmap()") for t in texts)
    assert "guard(mutex)(&arena->lock)" in p1.interdiff
    assert row(comps[(6, 7)], 3).change is Change.UNKNOWN  # v7 3/4 is not in the archive


@pytest.mark.lore
def test_v7_v8_patch2_unchanged_and_undocumented_changes_flagged(real):
    _, comps, _ = real
    p2 = row(comps[(7, 8)], 2)
    assert p2.change is Change.UNCHANGED and p2.patch_ids[0] == p2.patch_ids[1] and p2.flag is Flag.NA
    # v4->v5 2/4 drops "clear_lo32(...) +" (Alexei's v3 2/4 review); the changelog files
    # that under patch 3, so patch 2's change is undocumented
    p = row(comps[(4, 5)], 2)
    assert p.change is Change.CHANGED and p.flag is Flag.UNDOCUMENTED
    assert "arena_free_pages(arena, uaddr32, mapped)" in p.interdiff
    assert "on another patch" in p.reason and "patch 3: \"Don't do useless addition in arena_alloc_pages()\"" in p.reason
    assert row(comps[(5, 6)], 1).flag is Flag.OK  # the missing ; claim
    assert row(comps[(3, 4)], 4).change is Change.UNCHANGED
    # no false alarms: v5->v6 2/4 only follows 1/4's new `mapped = data.i;` (pre-image lines),
    # v6->v7 2/4 is what the changelog says ("Fix a deadlock in patch 1, that was being
    # fixed in patch 2. Move the fix to patch 1")
    p = row(comps[(5, 6)], 2)
    assert p.flag is Flag.OK and "only its pre-image or context changed" in p.reason
    p = row(comps[(6, 7)], 2)
    assert p.flag is Flag.OK and "the changelog names patch 2" in p.reason and "deadlock" in p.reason
    undocumented = [(a, b, x.number) for (a, b), c in comps.items() for x in c.patches if x.flag is Flag.UNDOCUMENTED]
    assert undocumented == [(4, 5, 2)]


@pytest.mark.lore
def test_review_tracker_on_the_real_reviews(real):
    _, _, items = real
    def find(v, k, kind, word):
        return next(i for i in items if i.reply.version == v and i.reply.patch == k
                    and i.reply.kind.value == kind and word in (i.issue + i.reply.excerpt))
    semi = find(5, 1, "ai-review", "semicolon")
    assert semi.addressed is True and "missing ;" in semi.evidence
    flush = find(6, 1, "ai-review", "flush_cache_vmap")
    assert flush.addressed is True
    lo32 = find(7, 3, "ai-review", "clear_lo32")
    # v8 3/4 is not in the archive, but the merge message's v7->v8 changelog (merged/*.txt
    # beside the mails) names clear_lo32 for patch 3: answered
    assert lo32.addressed is True and "names clear_lo32" in lo32.evidence
    robot = find(2, 3, "build-robot", "bpf_arena_free_pages_non_sleepable")
    assert (robot.robot.arch, robot.robot.config, robot.robot.compiler) == (
        "xtensa", "xtensa-randconfig-r132-20251115", "xtensa-linux-gcc (GCC) 8.5.0")
    assert "undefined reference to `bpf_arena_free_pages_non_sleepable'" in robot.robot.first_error
    assert robot.addressed is True and "32-bit" in robot.evidence
    tlb = find(1, 1, "build-robot", "flush_tlb_kernel_range")
    assert tlb.robot.arch == "loongarch" and "tlbflush.h" in tlb.evidence
    assert all(i.addressed is None for i in items if i.reply.version == 8)
    assert not any(i.reply.kind.value == "author" for i in items)


@pytest.mark.lore
def test_cli_diff_json(lore_dir, capsys):
    assert cli.main(["diff", "--source", str(lore_dir), "--from", "6", "--to", "7", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (c,) = doc["comparisons"]
    assert (c["from"], c["to"]) == (6, 7)
    assert [(p["number"], p["change"], p["flag"]) for p in c["patches"]] == [
        (1, "changed", "ok"), (2, "changed", "ok"), (3, "unknown", "n/a"), (4, "unknown", "n/a")]
    assert "reason" in c["patches"][1]
    r = next(x for x in doc["reviews"] if x["version"] == 5 and x["kind"] == "ai-review")
    assert {"version", "patch", "from", "kind", "issue", "addressed"} <= set(r) and r["addressed"] is True
    assert cli.main(["diff", "--source", str(lore_dir), "--from", "9"]) == 2


def _two_versions(tmp_path, changelog_text, change_patch2=True, drop3=False):
    v1 = mailgen.series(1, 3)
    v2 = mailgen.series(2, 3, changelog=changelog_text)
    if change_patch2:
        v2[2].body = v2[2].body.replace("added by patch 2 of v2", "reworked by patch 2 of v2")
    v2[1].body = v2[1].body.replace("added by patch 1 of v2", "added by patch 1 of v1")
    v2[3].body = v2[3].body.replace("added by patch 3 of v2", "added by patch 3 of v1")
    mails = v1 + [m for m in v2 if not (drop3 and m.msgid.endswith("-3@example.org"))]
    f = tmp_path / "s.mbox"
    f.write_bytes(mailgen.mbox(mails))
    spec = spec_mod.from_dict({"series": {"title": "demo: a series"}})
    msgs, probs = local.read(f)
    return series_mod.build(msgs, spec, probs)


def test_flags_on_generated_versions(tmp_path):
    s = _two_versions(tmp_path, "Changes in v1->v2:\nPatch 2:\n - Rework it (Bob)\nPatch 3:\n - Tidy\n")
    c = versions.compare(s, 1, 2)
    got = [(p.number, p.change.value, p.flag.value) for p in c.patches]
    assert got == [(1, "unchanged", "n/a"), (2, "changed", "ok"), (3, "unchanged", "claim-without-change")]
    s = _two_versions(tmp_path, "Changes in v1->v2:\n - Tidy the cover letter\n")
    c = versions.compare(s, 1, 2)
    assert row(c, 2).flag is Flag.UNDOCUMENTED and [x.text for x in c.series_claims] == ["Tidy the cover letter"]
    s = _two_versions(tmp_path, "Changes in v1->v2:\n - Rebased on net-next\n")
    assert row(versions.compare(s, 1, 2), 2).flag is Flag.OK  # a rebase explains any change
    s = _two_versions(tmp_path, "", drop3=True)
    assert row(versions.compare(s, 1, 2), 3).change is Change.UNKNOWN


def test_added_and_dropped(tmp_path):
    v1 = mailgen.series(1, 2)
    v2 = mailgen.series(2, 2)
    v2[2].subject = "[PATCH v2 2/2] demo: a brand new patch"
    v2[2].body = mailgen.patch_body(2, 2, path="net/elsewhere/new_file.c", msg="Something else.")
    f = tmp_path / "s.mbox"
    f.write_bytes(mailgen.mbox(v1 + v2))
    msgs, _ = local.read(f)
    s = series_mod.build(msgs, spec_mod.from_dict({"series": {"title": "demo: a series"}}))
    c = versions.compare(s, 1, 2)
    assert [(p.number, p.change.value) for p in c.patches] == [(1, "changed"), (2, "added"),
                                                                (2, "dropped")]


def test_robot_report_parsing():
    body = ("kernel test robot noticed the following build warnings:\n\n"
            "config: arm64-randconfig-003-20251112 (https://x/config)\n"
            "compiler: aarch64-linux-gcc (GCC) 8.5.0\n\n"
            "All warnings (new ones prefixed by >>):\n\n"
            ">> kernel/bpf/arena.c:122:20: warning: unused variable 'mm' [-Wunused-variable]\n")
    r = track.robot_report(body)
    assert (r.arch, r.config, r.compiler) == ("arm64", "arm64-randconfig-003-20251112",
                                               "aarch64-linux-gcc (GCC) 8.5.0")
    assert r.first_error.startswith("kernel/bpf/arena.c:122:20: warning: unused variable")
    assert versions.identifiers("Call flush_cache_vmap() after mapping; see kmalloc_nolock") == \
        {"flush_cache_vmap", "kmalloc_nolock"}

