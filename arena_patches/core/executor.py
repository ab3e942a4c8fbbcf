"""Where the matrix's units of work run: here (`local`, the default: one after the other,
or with `at_once` on threads, each unit's make a process of its own), or on a Ray cluster
(`ray`: a local instance started for the run, or `--ray-address`).

A unit is one target's chains (its base, then patch 1..k of each version, in one `O=`
directory, so each step stays incremental) or one boot. Units are plain functions of
picklable records; both executors run the same functions and return the same records, so
results and cache entries do not depend on where a unit ran (a Ray unit's reproducer names
its own worktree and O= dir: Ray units cannot share one; here the units running at once
share one, each make holding it at its commit: tree/shared.py). Workers read and
write the work dir directly: on one machine that is the same disk, on a cluster the work
dir must be on a filesystem every node mounts at the same path (README: Ray).

Faults: a unit whose worker dies (killed, out of memory, node lost) is retried once by Ray
elsewhere; if it dies again the unit's answer is a `UnitLost` naming the reason, which the
stage turns into `error` cells. Ctrl-C on the driver cancels every unit still running."""
from __future__ import annotations

import os
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from arena_patches.core import runner
from arena_patches.core.errors import InfraError, bad_input

KINDS = ("local", "ray")


@dataclass(frozen=True)
class UnitLost:
    label: str
    reason: str


class LocalExecutor:
    name = "local"

    def map(self, fn: Callable, units: Sequence[tuple], labels: Sequence[str],
            progress: Callable[[str], None] | None = None, at_once: int = 1) -> list[Any]:
        """`at_once` > 1: that many units at a time, on threads (their work is in child
        processes). Ctrl-C, or a unit that raises, stops the others: their children are
        killed (runner.stop_all), they end, and the first cause is raised."""
        if at_once <= 1 or len(units) <= 1:
            return [fn(*u) for u in units]
        with ThreadPoolExecutor(max_workers=min(at_once, len(units)), thread_name_prefix="unit") as pool:
            futures = [pool.submit(fn, *u) for u in units]
            try:
                pending = set(futures)
                while pending:
                    # a short wait, again and again: Ctrl-C is seen between two
                    done, pending = wait(pending, timeout=0.5, return_when=FIRST_EXCEPTION)
                    for f in done:
                        f.result()  # a unit's exception, raised here
            except BaseException:
                runner.stop_all()
                for f in futures:
                    f.cancel()
                wait(futures)
                runner.resume()
                raise
        return [f.result() for f in futures]


class RayExecutor:
    """Units as Ray tasks (one CPU each; `make -j` inside is the unit's own parallelism)."""

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None,
                 max_retries: int = 1):
        self.address = address
        self.num_cpus = num_cpus
        self.max_retries = max_retries

    def _init(self):
        try:
            import ray
        except ImportError as e:
            raise InfraError("--executor ray: the ray package is not installed",
                             "pip install 'ray[default]' (scripts/setup installs it)") from e
        if not ray.is_initialized():
            kw: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": False,
                                  "logging_level": "ERROR"}
            if self.address:
                kw["address"] = self.address
            else:  # a local instance for this run, small: the kernel never goes through it
                kw.update(num_cpus=self.num_cpus or os.cpu_count() or 2, include_dashboard=False,
                          object_store_memory=100 * 1024 * 1024)
            try:
                ray.init(**kw)
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise InfraError(f"--executor ray: cannot reach a Ray cluster"
                                 f"{' at ' + self.address if self.address else ''} ({e})",
                                 "start one (ray start --head) or leave --ray-address out") from e
        return ray

    def map(self, fn: Callable, units: Sequence[tuple], labels: Sequence[str],
            progress: Callable[[str], None] | None = None) -> list[Any]:
        ray = self._init()
        remote = ray.remote(num_cpus=1, max_retries=self.max_retries, retry_exceptions=False)(fn)
        refs = [remote.remote(*u) for u in units]
        index = {r: i for i, r in enumerate(refs)}
        out: list[Any] = [None] * len(refs)
        pending = list(refs)
        try:
            while pending:
                # a short wait, again and again: Ctrl-C (SIGINT) is seen between two, not
                # after the last unit ends (ray.wait blocks in C)
                done, pending = ray.wait(pending, num_returns=1, timeout=0.5)
                for ref in done:
                    i = index[ref]
                    try:
                        out[i] = ray.get(ref)
                    except ray.exceptions.RayTaskError as e:  # the unit itself raised
                        cause = e.cause if isinstance(getattr(e, "cause", None), BaseException) else None
                        if cause is not None:
                            raise cause from None
                        raise
                    except ray.exceptions.RayError as e:  # worker or node lost, retried
                        out[i] = UnitLost(labels[i], f"{type(e).__name__}: its worker was lost "
                                          f"{self.max_retries + 1} times ({str(e).splitlines()[0][:200]})")
                    if progress:
                        progress(f"{labels[i]} done ({len(refs) - len(pending)} of {len(refs)})")
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        return out


def make(kind: str | None, address: str | None = None):
    kind = kind or "local"
    if kind == "local":
        if address:
            raise bad_input("--ray-address", "needs --executor ray")
        return LocalExecutor()
    if kind == "ray":
        return RayExecutor(address)
    raise bad_input(f"--executor {kind}", f"must be one of {', '.join(KINDS)}")
