"""One `make -j` for several makes running at once: GNU make's own jobserver (a pipe of
tokens, `--jobserver-auth=R,W` in MAKEFLAGS), shared by every make of a matrix whose
targets build at the same time.

Each make holds one token of the pool while it runs (its own first job) and takes more
from the pipe for its other jobs, as a sub-make of `make -jN` does. So the makes together
never run more than N jobs: two targets' cold builds share the CPUs rather than ask for
twice as many (on 2 CPUs, `-j3` was slower than `-j2`), one target's serial steps (make's
walk of the tree, the link) leave its CPU to the other's compiles, and a make left alone
gets every token back. A cold build runs alone (`slot(alone=True)`): it fills every CPU by
itself, and on a 2-CPU machine two at once took longer than one after the other (254 s
against 241 s for x86_64 and i386), where the states built on them gain from running
together. A make killed mid-job (a timeout) takes the tokens its jobs held
with it: the pool is filled again to N whenever no make of ours runs.
"""
from __future__ import annotations

import os
import select
import threading
import time
from contextlib import contextmanager
from typing import Iterator

from arena_patches.core import runner

TOKEN = b"+"


class Jobserver:
    def __init__(self, jobs: int):
        self.jobs = max(1, jobs)
        self.r, self.w = os.pipe()  # the makes' ends (inherited, blocking, as make expects)
        # the tool's own reads, on a description of its own that does not block, so that
        # a thread waiting for a token still sees Ctrl-C (runner.stop_all)
        self._mine = os.open(f"/proc/self/fd/{self.r}", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        self._lock = threading.Lock()
        self.running = 0
        self._alone = False
        os.write(self.w, TOKEN * self.jobs)

    def close(self) -> None:
        for fd in (self.r, self.w, self._mine):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> "Jobserver":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def fds(self) -> tuple[int, int]:
        return self.r, self.w

    def makeflags(self) -> str:
        """MAKEFLAGS for a make in the pool (its command line then says no -j of its own)."""
        return f" -j --jobserver-auth={self.r},{self.w}"

    @contextmanager
    def slot(self, alone: bool = False) -> Iterator[None]:
        """One token held for the length of the block: a make's first job. `alone`: the
        make runs with no other beside it (a cold build: it fills every CPU by itself, and
        two at once were slower than one after the other); it waits for those running to
        end, and no other starts until it ends."""
        while True:
            runner.raise_if_stopped()
            with self._lock:
                others = self._alone or (alone and self.running)
                if not others:
                    try:
                        if os.read(self._mine, 1):
                            self.running += 1
                            self._alone = alone
                            break
                    except BlockingIOError:
                        pass
            if others:
                time.sleep(0.05)  # until the one running alone, or those before it, end
            else:
                select.select([self._mine], [], [], 0.1)  # until a token comes back
        try:
            yield
        finally:
            with self._lock:
                self.running -= 1
                self._alone = False
                if self.running == 0:
                    self._fill()
                else:
                    os.write(self.w, TOKEN)

    def _drain(self) -> bytes:
        """Every token in the pipe now, taken out."""
        got = b""
        try:
            while chunk := os.read(self._mine, 4096):
                got += chunk
        except BlockingIOError:
            pass
        return got

    def _fill(self) -> None:
        """No make of ours runs: whatever is in the pipe, it holds N tokens again."""
        self._drain()
        os.write(self.w, TOKEN * self.jobs)

    def available(self) -> int:
        """Tokens in the pipe now (a test's look; takes them and puts them back)."""
        with self._lock:
            got = self._drain()
            if got:
                os.write(self.w, got)
            return len(got)
