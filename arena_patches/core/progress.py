"""Progress as numbered steps: a stage whose number of steps is known says one line per
step done (`[12/72] v3 2/4 x86_64 pass 41 s`), which the CLI shows on a terminal's status
line and also writes as a line when stderr is a log (CI): a long run is never silent."""
from __future__ import annotations

import itertools
import re
from typing import Callable

Progress = Callable[[str], None]
STEP = re.compile(r"^\[\d+/\d+\] ")


class Steps:
    """A Progress that passes messages through and numbers the steps said with `step`."""

    def __init__(self, progress: Progress, total: int):
        self.progress, self.total = progress, total
        self._n = itertools.count(1)

    def __call__(self, msg: str) -> None:
        self.progress(msg)

    def step(self, msg: str) -> None:
        self.progress(f"[{next(self._n)}/{self.total}] {msg}")


def step(progress: Progress | None, msg: str) -> None:
    """Say a step done: numbered when `progress` counts steps, as a plain message otherwise."""
    if progress is not None:
        getattr(progress, "step", progress)(msg)


def is_step(msg: str) -> bool:
    return bool(STEP.match(msg))
