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
