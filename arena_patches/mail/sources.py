"""Where mails come from: lore (by Message-ID, cached) or a local path."""
from __future__ import annotations

from arena_patches.core.model import Message, Problem
from arena_patches.mail.spec import SeriesSpec
from arena_patches.mail import local, lore


def read(source: str | None, spec: SeriesSpec) -> tuple[list[Message], list[Problem]]:
    if source in (None, "", "lore"):
        return lore.read(spec.all_message_ids())
    return local.read(source)
