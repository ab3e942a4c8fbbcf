"""The embedded demo: a three-version series written on the real 6.12 kernel that
reproduces the failure classes of the arena series, for `arena-patches demo`.

v1  1/4 a missing `;` (the patch does not build on its own; 2/4 fixes it)
    2/4 verifier.c calls a function only arena.c defines (declared in a new private
        header, kernel/bpf/arena.h): links on 64-bit, not on 32-bit, where arena.c is
        not built (the kernel test robot's v2 report)
    3/4 an unused variable (a new warning)
    4/4 flush_tlb_kernel_range() without <asm/tlbflush.h> (the loongarch report)
    and for the per-patch checks: 2/4 a Fixes: tag not in the kernel's form, 3/4 a new
    function that is not static and declared nowhere (sparse: "Should it be static?"),
    4/4 a kernel-doc comment naming a parameter the function does not have
v2  every one of those fixed, with a changelog saying so, and a base-commit: trailer
v3  1/4 was edited after 2/4 was made on it (2/4 no longer applies) and 3/4 was
    never sent (a gap)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from arena_patches.demo import mkseries
from arena_patches.tree import tarball
from arena_patches.demo.mkseries import Edit, PatchSpec, VersionSpec
from arena_patches.core.paths import cache_root
from arena_patches.mail import spec as spec_mod
from arena_patches.core.runner import DEFAULT, Runner

TARBALL = Path("/usr/src/linux-source-6.12.tar.xz")
TITLE = "bpf: arena: demo page accounting"
SPEC = spec_mod.path_of("arena-demo")

ARENA = "kernel/bpf/arena.c"
ANCHOR_PGOFF = """static long compute_pgoff(struct bpf_arena *arena, long uaddr)
{
	return (u32)(uaddr - (u32)arena->user_vm_start) >> PAGE_SHIFT;
}
"""
HELPER_BROKEN = ANCHOR_PGOFF + """
static inline long arena_nr_pages(struct bpf_arena *arena)
{
	return (arena->user_vm_end - arena->user_vm_start) >> PAGE_SHIFT
}
"""
HELPER_OK = HELPER_BROKEN.replace("PAGE_SHIFT\n}\n", "PAGE_SHIFT;\n}\n", 1)
EXPORTED = ANCHOR_PGOFF + """
u64 bpf_arena_nr_pages(struct bpf_arena *arena)
{
	return arena ? (arena->user_vm_end - arena->user_vm_start) >> PAGE_SHIFT : 0;
}
"""
EXPORTED_V3 = EXPORTED.replace("return arena ?", "return likely(arena) ?")
# The declaration goes in a private header of kernel/bpf/ (as disasm.h is) that only the
# files calling or defining it include: in include/linux/bpf.h it made every build
# directory compile most of the tree a second time, for one prototype.
ARENA_H = "kernel/bpf/arena.h"
DECL = """/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef _KERNEL_BPF_ARENA_H
#define _KERNEL_BPF_ARENA_H

#include <linux/types.h>

struct bpf_arena;

u64 bpf_arena_nr_pages(struct bpf_arena *arena);

#endif /* _KERNEL_BPF_ARENA_H */
"""
ARENA_INC_ANCHOR = "#include <linux/btf_ids.h>\n"
VERIFIER_INC_ANCHOR = '#include "disasm.h"\n'
CORE_INC_ANCHOR = "#include <linux/execmem.h>\n"  # at the top: bpf_trace.h is included at the end
INCLUDE_ARENA_H = '#include "arena.h"\n'
VERIFIER_ANCHOR = """					verbose(env, "arena's user address must be set via map_extra or mmap()\\n");
					return -EINVAL;
				}
"""
VERIFIER_CALL = VERIFIER_ANCHOR + """				if (!bpf_arena_nr_pages(env->prog->aux->arena)) {
					verbose(env, "arena has no pages\\n");
					return -EINVAL;
				}
"""
WEAK_ANCHOR = "__weak u64 bpf_arena_get_kern_vm_start(struct bpf_arena *arena)\n"
WEAK = """__weak u64 bpf_arena_nr_pages(struct bpf_arena *arena)
{
	return 0;
}
""" + WEAK_ANCHOR
FREE_ANCHOR = """	u64 full_uaddr, uaddr_end;
	long kaddr, pgoff, i;
	struct page *page;
"""
FREE_UNUSED = FREE_ANCHOR.replace("struct page *page;\n", "struct page *page;\n\tlong freed;\n")
FREE_USED_DECL = FREE_ANCHOR.replace("struct page *page;\n", "struct page *page;\n\tlong freed = 0;\n")
LOOP_ANCHOR = """		vm_area_unmap_pages(arena->kern_vm, kaddr, kaddr + PAGE_SIZE);
		__free_page(page);
	}
"""
LOOP_COUNT = LOOP_ANCHOR.replace("__free_page(page);\n", "__free_page(page);\n\t\tfreed++;\n")
LOOP_FLUSH = LOOP_ANCHOR + """	flush_tlb_kernel_range(bpf_arena_get_kern_vm_start(arena) + uaddr,
			       bpf_arena_get_kern_vm_start(arena) + uaddr + page_cnt * PAGE_SIZE);
"""
LOOP_COUNT_FLUSH = LOOP_COUNT + LOOP_FLUSH[len(LOOP_ANCHOR):] + "\tpr_debug(\"arena: freed %ld pages\\n\", freed);\n"
INCLUDE_ANCHOR = "#include <linux/pagemap.h>\n"
INCLUDE_TLB = INCLUDE_ANCHOR + "#include <asm/tlbflush.h>\n"

# the per-patch checks' plants (v1 only: v2 fixes them, so each is found on its patch alone)
NOT_STATIC = ANCHOR_PGOFF + """
long arena_freed_pages_total(struct bpf_arena *arena)
{
	return 0;
}
"""
KDOC_WRONG = """/**
 * compute_pgoff() - the page offset of a user address in the arena
 * @map: the arena
 * @uaddr: a user address in the arena
 *
 * Return: the page offset of @uaddr
 */
""" + ANCHOR_PGOFF
BAD_FIXES = 'Fixes: 53a45ac ("bpf: arena: add arena_nr_pages()")'

P1_BODY = "Add a helper that says how many pages an arena spans."
P2_BODY = "Let the verifier refuse an arena that spans no page."
P3_BODY = "Count the pages arena_free_pages() frees."
P4_BODY = "Flush the kernel TLB for the freed range once, after the loop."


def _declared(*users: str) -> tuple[Edit, ...]:
    """The new header with bpf_arena_nr_pages()'s prototype, included by `users`."""
    anchors = {ARENA: ARENA_INC_ANCHOR, "kernel/bpf/verifier.c": VERIFIER_INC_ANCHOR,
               "kernel/bpf/core.c": CORE_INC_ANCHOR}
    return (Edit(ARENA_H, "", DECL),
            *(Edit(f, anchors[f], anchors[f] + INCLUDE_ARENA_H) for f in users))


def versions() -> list[VersionSpec]:
    v1 = VersionSpec(1, (
        PatchSpec("bpf: arena: add arena_nr_pages()", P1_BODY, (Edit(ARENA, ANCHOR_PGOFF, HELPER_BROKEN),)),
        PatchSpec("bpf: arena: check the arena size in the verifier", P2_BODY, (
            Edit(ARENA, HELPER_BROKEN, EXPORTED), *_declared(ARENA, "kernel/bpf/verifier.c"),
            Edit("kernel/bpf/verifier.c", VERIFIER_ANCHOR, VERIFIER_CALL)), trailers=(BAD_FIXES,)),
        PatchSpec("bpf: arena: count freed pages", P3_BODY, (Edit(ARENA, FREE_ANCHOR, FREE_UNUSED),
                                                            Edit(ARENA, ANCHOR_PGOFF, NOT_STATIC))),
        PatchSpec("bpf: arena: flush the TLB after freeing pages", P4_BODY,
                  (Edit(ARENA, LOOP_ANCHOR, LOOP_FLUSH), Edit(ARENA, ANCHOR_PGOFF, KDOC_WRONG))),
    ))
    v2_p1 = PatchSpec("bpf: arena: add arena_nr_pages()", P1_BODY, (Edit(ARENA, ANCHOR_PGOFF, HELPER_OK),))
    v2_p2 = PatchSpec("bpf: arena: check the arena size in the verifier", P2_BODY, (
        Edit(ARENA, HELPER_OK, EXPORTED), *_declared(ARENA, "kernel/bpf/verifier.c", "kernel/bpf/core.c"),
        Edit("kernel/bpf/verifier.c", VERIFIER_ANCHOR, VERIFIER_CALL),
        Edit("kernel/bpf/core.c", WEAK_ANCHOR, WEAK)))
    v2_p3 = PatchSpec("bpf: arena: count freed pages", P3_BODY, (
        Edit(ARENA, FREE_ANCHOR, FREE_USED_DECL), Edit(ARENA, LOOP_ANCHOR, LOOP_COUNT)))
    v2_p4 = PatchSpec("bpf: arena: flush the TLB after freeing pages", P4_BODY, (
        Edit(ARENA, LOOP_COUNT, LOOP_COUNT_FLUSH), Edit(ARENA, INCLUDE_ANCHOR, INCLUDE_TLB)))
    v2 = VersionSpec(2, (v2_p1, v2_p2, v2_p3, v2_p4), base_commit_trailer=True, changelog="""
Changes in v1->v2:
Patch 1:
	- Add the missing ; so that this patch builds on its own. (AI)
Patch 2:
	- Add a __weak bpf_arena_nr_pages() for kernels that do not build
	  arena.c (32-bit). (kernel test robot)
Patch 3:
	- Use the counter instead of leaving it unused. (kernel test robot)
Patch 4:
	- Include asm/tlbflush.h to fix the build on loongarch. (kernel test robot)
""")
    v3_p1_sent = PatchSpec("bpf: arena: add arena_nr_pages()", P1_BODY + " Mark it likely().",
                           (Edit(ARENA, ANCHOR_PGOFF, HELPER_OK.replace(
                               "return (arena->user_vm_end", "return likely(arena) * (arena->user_vm_end")),))
    v3 = VersionSpec(3, (v2_p1, v2_p2, v2_p3, v2_p4), drop=(3,), sent_instead={1: v3_p1_sent},
                     changelog="""
Changes in v2->v3:
Patch 1:
	- Multiply by likely(arena) (Alexei)
""")
    return [v1, v2, v3]


@dataclass(frozen=True)
class Demo:
    tree: Path
    source: Path
    spec: Path


def prepare(where: Path | None = None, runner: Runner = DEFAULT, progress=None) -> Demo:
    """Import the Debian 6.12 tarball (once) and write the demo series on it."""
    where = where or cache_root() / "demo"
    kernel = where / "linux-6.12"
    if progress:
        progress("importing the 6.12 kernel (once)")
    tarball.import_tarball(TARBALL, kernel, checkout=False, runner=runner,
                        progress=(lambda n: progress(f"importing the 6.12 kernel: {n} files"))
                        if progress else None)
    source = where / "series"
    if progress:
        progress("writing the demo series")
    mkseries.write(kernel, "main", TITLE, versions(), source, tag="demo", runner=runner)
    return Demo(kernel, source, SPEC)
