"""Where a run's time went: one row per stage, and one per target within the build and
boot stages (seconds, builds run, answers a cache gave instead), so that a slow run
explains itself and a re-run shows that nothing was built again."""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

from arena_patches.core.model import Timing


class Clock:
    """Collects the rows of one run, in the order the stages ran."""

    def __init__(self) -> None:
        self.rows: list[Timing] = []

    @contextmanager
    def stage(self, name: str) -> Iterator[list[Timing]]:
        """Times the block as stage `name`; per-target rows appended to the yielded list
        come right after it, and their builds and hits are the stage's."""
        targets: list[Timing] = []
        start = time.monotonic()
        yield targets
        self.add(name, time.monotonic() - start, targets)

    def add(self, name: str, seconds: float, targets: list[Timing] = ()) -> None:
        ccache = [t for t in targets if t.ccache_hits is not None]
        self.rows.append(Timing(
            name, None, seconds, sum(t.builds for t in targets), sum(t.cache_hits for t in targets),
            sum(t.ccache_hits for t in ccache) if ccache else None,
            sum(t.ccache_misses or 0 for t in ccache) if ccache else None))
        self.rows += targets


def build_rows(stats) -> list[Timing]:
    """The build matrix's targets (kbuild.matrix.BuildStats.units)."""
    return [Timing("build", u.target, u.wall_seconds, u.built_states, u.cached_results,
                   u.ccache_hits, u.ccache_misses) for u in (stats.units if stats else ())]


def boot_rows(results) -> list[Timing]:
    """Each boot target: a kernel built (or not: its build was already there) and a boot
    run (or its answer taken from the boot cache)."""
    return [Timing("boot", r.target, r.build_seconds + r.boot_seconds,
                   int(r.built) + int(r.booted), int(r.build_reused) + int(r.boot_cached))
            for r in results]
