"""Where mails come from: lore (by Message-ID, cached) or a local path."""
from __future__ import annotations

from pathlib import Path

from arena_patches.core.errors import UserError
from arena_patches.core.model import Message, Problem
from arena_patches.mail.spec import SeriesSpec
from arena_patches.mail import local, lore


def read_unnamed(source: str | None) -> tuple[list[Message], list[Problem]]:
    """Mails for a run that names no spec: a path, or the Message-ID of one posting."""
    if source in (None, "", "lore"):
        raise UserError("no --spec and no --source: nothing names the series",
                        "pass --source PATH (an mbox, a maildir or a directory of mails), "
                        "--source <Message-ID>, or --spec NAME")
    msgid = None if Path(source).exists() else lore.as_msgid(source)
    if msgid:
        return lore.read_series(msgid)
    return local.read(source)


def read(source: str | None, spec: SeriesSpec) -> tuple[list[Message], list[Problem]]:
    if source in (None, "", "lore"):
        return lore.read(spec.all_message_ids())
    return read_unnamed(source)
