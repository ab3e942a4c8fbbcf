"""The real 6.12 kernel: the demo's v1 x86_64 cells (a missing semicolon, a 32-bit trap, a
kept break, a new warning) give the same grid and diagnostics inside the sandbox as
outside it, and ccache keys do not change: the sandboxed run goes first, then the
unconfined run rebuilds each state (result cache emptied, O= dir warm: every step is an
incremental build) and every compile it makes is one ccache serves from the first run.
Figures printed (pytest -s) are the incremental cost inside vs outside."""
import dataclasses
import shutil

import pytest

from arena_patches.core.runner import Runner
from arena_patches.verify import stages
from tests.kernel import demo_on_kernel, fresh_build_cache, work_dir

pytestmark = pytest.mark.integration


def _grid(cells):
    return {(c.version, c.patch): (c.word, [str(d) for d in c.errors], [str(d) for d in c.new_warnings],
                                   c.not_built) for c in cells}


def test_the_demo_builds_alike_inside_and_outside_the_sandbox(tmp_path_factory):
    if shutil.which("bwrap") is None:
        pytest.skip("bwrap absent (Debian bubblewrap)")
    fresh_build_cache(work_dir())
    with demo_on_kernel(tmp_path_factory.mktemp("mails")) as (_, spec, s, wr, applied):
        v1 = tuple(r for r in applied if r.version == 1)
        inside, in_stats = stages.build_series(spec, s, wr, v1, "x86_64", None, None, 2, False)
        fresh_build_cache(wr.root.parent.parent)
        plain = dataclasses.replace(wr, runner=Runner(sandbox=False))
        outside, out_stats = stages.build_series(spec, s, plain, v1, "x86_64", None, None, 2, False)
    for name, cells, st in (("bwrap", inside, in_stats), ("none", outside, out_stats)):
        print(f"\n{name}: wall {st.wall_seconds:.1f} s, states {st.built_states}, compiles "
              f"{st.compiler_invocations}, ccache {st.ccache_hits} hits / {st.ccache_misses} misses; "
              "cells " + ", ".join(f"{c.word} {c.seconds:.1f}s" for c in cells))
    assert (in_stats.sandbox, out_stats.sandbox) == ("bwrap", "none (--no-sandbox)")
    assert _grid(inside) == _grid(outside)
    assert [c.word for c in inside] == spec.raw["expect"]["build"]["v1"]["x86_64"]
    assert in_stats.built_states == out_stats.built_states > 0 and out_stats.compiler_invocations > 0
    # every compile of the unconfined run was stored by the sandboxed one (the ccache dir is
    # shared with other runs, whose counts may mix in: a ratio, not an equality)
    assert out_stats.ccache_hits >= 0.9 * out_stats.compiler_invocations, out_stats
    assert all(c.reproduce.startswith("git ") and " && bwrap " in c.reproduce for c in inside if c.reproduce)
