from arena_patches.mail import changelog


def claims(text, v=None):
    return [(c.from_version, c.to_version, c.patch, c.text, c.asked_by)
            for c in changelog.parse(text, "src", v)]


def test_patch_headers_and_askers():
    text = """v2: https://lore.kernel.org/all/abc-1-x@kernel.org/
Changes in v2->v3:
Patch 1:
        - Call range_tree_destroy() in error path of
          populate_pgtable_except_pte() in arena_map_alloc() (AI)
Patch 3:
        - Use __llist_del_all() in place of llist_del_all for on-stack
          llist (free_pages) (Alexei)
        - Fix build issues on 32-bit systems where arena.c is not compiled.
          (kernel test robot)
        - Make it polymorphic.

This set allows things.
- not a claim, prose after the block
"""
    assert claims(text) == [
        (2, 3, 1, "Call range_tree_destroy() in error path of populate_pgtable_except_pte() "
                  "in arena_map_alloc()", "ai"),
        (2, 3, 3, "Use __llist_del_all() in place of llist_del_all for on-stack llist (free_pages)",
         "alexei"),
        (2, 3, 3, "Fix build issues on 32-bit systems where arena.c is not compiled.",
         "kernel test robot"),
        (2, 3, 3, "Make it polymorphic.", None)]


def test_code_in_parentheses_is_not_an_asker():
    (c,) = changelog.parse("Changes in v1->v2:\n- Use helper (free_pages)\n", "s")
    assert c.asked_by is None and c.text.endswith("(free_pages)")


def test_patch_named_in_text_and_list_of_patches():
    text = ("Changes in v6->v7:\n- Fix a deadlock in patch 1, that was being fixed in patch 2.\n"
            "- Call flush_cache_vmap() after mapping.\n\n"
            "Changes in v3->v4:\n\t- Coding style changes in Patch 2/3 (Alexei)\n")
    assert claims(text) == [
        (6, 7, 1, "Fix a deadlock in patch 1, that was being fixed in patch 2.", None),
        (6, 7, None, "Call flush_cache_vmap() after mapping.", None),
        (3, 4, 2, "Coding style changes in Patch 2/3", "alexei"),
        (3, 4, 3, "Coding style changes in Patch 2/3", "alexei")]


def test_other_header_forms():
    text = ("Changes since v2:\n - a\n\nv3 -> v4:\n - b\n\nChanges in v6:\n - c\n\n"
            "[PATCH 2/4]:\n - d\n")
    got = [(f, t, p, x) for f, t, p, x, _ in claims(text, v=5)]
    assert got == [(2, 5, None, "a"), (3, 4, None, "b"), (5, 6, None, "c"), (5, 6, 2, "d")]


def test_links_are_not_headers():
    text = "v1: https://lore.kernel.org/all/20251111163424.16471-1-p@kernel.org/\n- x\n"
    assert changelog.parse(text, "s") == []
    (link,) = changelog.links(text, "s")
    assert (link.version, link.message_id) == (1, "20251111163424.16471-1-p@kernel.org")


def test_merge_deduplicates_and_keeps_every_source():
    a = changelog.parse("Changes in v1->v2:\n- Fix  it (AI)\n", "cover2")
    b = changelog.parse("Changes in v1->v2:\n- Fix it\n  (AI)\n", "cover3")
    (m,) = changelog.merge([a, b])
    assert m.sources == ("cover2", "cover3") and m.asked_by == "ai"


def test_one_line_v_text_entries_and_their_wrapped_lines():
    """Below a patch's --- (netfilter xt_HL v3, real): "vN: text", its indented lines
    wrapping it; each entry is one claim of the step into vN."""
    text = ("v3: Remove mention of NULL checks from commit message, as they\n"
            "    were never part of the original code.\n"
            "v2: Remove NULL checks for skb as suggested by Florian Westphal\n"
            "    (skb is guaranteed non-NULL by netfilter core). Move mode\n"
            "    validation to checkentry functions instead of match function,\n"
            "    also as suggested by Florian Westphal.\n")
    assert [(f, t, x) for f, t, _p, x, _a in claims(text, v=3)] == [
        (2, 3, "Remove mention of NULL checks from commit message, as they were never part of the "
               "original code."),
        (1, 2, "Remove NULL checks for skb as suggested by Florian Westphal (skb is guaranteed non-NULL "
               "by netfilter core). Move mode validation to checkentry functions instead of match "
               "function, also as suggested by Florian Westphal.")]


def test_a_link_line_ends_a_bullet_and_heads_the_bullets_right_under_it():
    """bpf "Move attach_type into bpf_link" v4 cover (real): " v3: <link>" after the
    v3->v4 bullets is not part of the last one; nf_nat v3 (real): "v2: <link>" followed at
    once by bullets heads v2's changes; links listed one per line head nothing."""
    cover = (" v3 -> v4:\n  - the series reviewed-by Jakub\n  - patch7 acked-by Nikolay\n"
             " v3: https://lore.kernel.org/bpf/20250709030802.850175-1-chen.dylane@linux.dev\n\n"
             " v1 -> v2:\n  - fix build error.(Jiri)\n"
             " v1: https://lore.kernel.org/bpf/20250707153916.802802-1-chen.dylane@linux.dev\n")
    assert claims(cover) == [(3, 4, None, "the series reviewed-by Jakub", None),
                             (3, 4, 7, "patch7 acked-by Nikolay", None),
                             (1, 2, None, "fix build error.", "jiri")]
    notes = ("v3:\n  - Use get/put_unaligned_be32() op tsval.\n\n"
             "v2: https://lore.kernel.org/all/20260709131216.2189210-1-x@h-partners.com/\n"
             "  - Move the new helper in the IP_CT_NEW case of nf_nat_inet_fn().\n\n"
             "v1: https://lore.kernel.org/all/20260629093408.3927103-1-x@h-partners.com/ \n")
    assert [(f, t, x) for f, t, _p, x, _a in claims(notes, v=3)] == [
        (2, 3, "Use get/put_unaligned_be32() op tsval."),
        (1, 2, "Move the new helper in the IP_CT_NEW case of nf_nat_inet_fn().")]
    listed = ("v3: https://lore.kernel.org/netdev/a-1@qq.com/\n"
              "v2: https://lore.kernel.org/netdev/b-1@qq.com/\n\n- not a claim\n")
    assert claims(listed, v=4) == []


def test_one_line_per_change_under_a_v_text_header_and_a_bare_v1_ends_it():
    """netfilter pipapo v2 1/3 (real): "v2: add X" and one change per indented line, the
    last wrapped; bpf attach_type v2 cover (real): " v1:" with its link below ends the list."""
    notes = (" v2: add better comment for alignment fixups\n     add BUILD_BUG_ON for headroom\n"
             "     keep the assignments in nft_pipapo_avx2_lookup aligned (code\n"
             "     formatting change only).\n")
    assert [x for *_r, x, _a in claims(notes, v=2)] == [
        "add better comment for alignment fixups", "add BUILD_BUG_ON for headroom",
        "keep the assignments in nft_pipapo_avx2_lookup aligned (code formatting change only)."]
    cover = " v1 -> v2:\n  - fix build error.(Jiri)\n v1:\n  - https://lore.kernel.org/bpf/2025-1-c@linux.dev\n"
    assert claims(cover) == [(1, 2, None, "fix build error.", "jiri")]
