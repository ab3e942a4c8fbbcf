"""The real 6.12 kernel: the demo's x86_64 build cells give the same grid, the same
diagnostics and the same ccache keys inside the sandbox as outside it. The sandboxed run
goes first; the unconfined run then builds again in a fresh O= dir and must be served by
ccache from what the sandboxed compiles stored (paths and keys unchanged by bwrap)."""
import dataclasses
import shutil

import pytest

from arena_patches.core.runner import Runner
from arena_patches.verify import stages
from tests.kernel import demo_on_kernel, fresh_build_cache, work_dir

pytestmark = pytest.mark.integration


def _fresh(wr) -> None:
    fresh_build_cache(wr.root.parent.parent)
    for out in wr.root.glob("builds/x86_64-*"):
        shutil.rmtree(out)


def _grid(cells):
    return {(c.version, c.patch): (c.word, [str(d) for d in c.errors], [str(d) for d in c.new_warnings])
            for c in cells}


def test_the_demo_builds_alike_inside_and_outside_the_sandbox(tmp_path_factory):
    if shutil.which("bwrap") is None:
        pytest.skip("bwrap absent (Debian bubblewrap)")
    fresh_build_cache(work_dir())
    with demo_on_kernel(tmp_path_factory.mktemp("mails")) as (_, spec, s, wr, applied):
        _fresh(wr)
        inside, in_stats = stages.build_series(spec, s, wr, applied, "x86_64", None, None, 2, False)
        _fresh(wr)
        plain = dataclasses.replace(wr, runner=Runner(sandbox=False))
        outside, out_stats = stages.build_series(spec, s, plain, applied, "x86_64", None, None, 2, False)
    assert (in_stats.sandbox, out_stats.sandbox) == ("bwrap", "none (--no-sandbox)")
    assert _grid(inside) == _grid(outside)
    expect = spec.raw["expect"]["build"]
    assert {f"v{v}": [c.word for c in inside if c.version == v] for v in (1, 2, 3)} == \
        {v: row["x86_64"] for v, row in expect.items()}
    assert in_stats.compiler_invocations > 500 and out_stats.compiler_invocations > 500
    # every compile the unconfined run made was one the sandboxed run had stored
    # (the ccache dir is shared: other runs' counts may mix in, so a ratio, not an equality)
    assert out_stats.ccache_hits >= 0.9 * out_stats.compiler_invocations, out_stats
    assert all(c.reproduce.startswith("git ") and " && bwrap " in c.reproduce for c in inside if c.reproduce)
