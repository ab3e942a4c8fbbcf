"""--source lore: fetch each version's thread by Message-ID through liblore (b4's
library), keeping every answer in an on-disk cache so later runs work offline.
"""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Callable, Iterable

from arena_patches.core.errors import UserError
from arena_patches.core.model import Message, Problem
from arena_patches.core.paths import cache_root
from arena_patches.mail import message as mail

log = logging.getLogger(__name__)
LORE_URL = "https://lore.kernel.org/all"

Fetch = Callable[[str], bytes]


def _node_fetch() -> Fetch:
    import liblore
    node = liblore.LoreNode(LORE_URL, cache_dir=str(cache_root() / "liblore"),
                            request_timeout=(5.0, 30.0))
    node.set_user_agent("arena-patches", "0.1")

    def fetch(msgid: str) -> bytes:
        return node.get_mbox_by_msgid(msgid)
    return fetch


def _cache_file(msgid: str) -> Path:
    return cache_root() / "lore" / (hashlib.sha256(msgid.encode()).hexdigest()[:32] + ".mbox")


def _reason(e: Exception) -> tuple[str, bool]:
    """A short reason, and whether the network itself is out of reach."""
    text = str(e)
    for marker in ("NameResolution", "Failed to resolve", "Max retries", "Connection refused",
                   "Network is unreachable", "timed out"):
        if marker in text:
            return "the archive is unreachable (offline?)", True
    if isinstance(e, LookupError) or "404" in text:
        return "the archive has no such message", False
    return f"{type(e).__name__}: {text.splitlines()[0][:160] if text else ''}", False


def read(msgids: Iterable[str], fetch: Fetch | None = None,
         refresh: bool = False) -> tuple[list[Message], list[Problem]]:
    """Threads for these Message-IDs: from the cache, else fetched and cached."""
    wanted = list(dict.fromkeys(msgids))
    if not wanted:
        raise UserError("--source lore: the series spec lists no Message-IDs to fetch",
                        "add [[versions]] cover = \"<msgid>\" to the spec, or pass --source PATH")
    seen: dict[str, Message] = {}
    problems: list[Problem] = []
    failed: list[tuple[str, str]] = []
    unreachable = False
    logging.getLogger("liblore").setLevel(logging.ERROR)  # we report failures ourselves
    for msgid in wanted:
        cf = _cache_file(msgid)
        data = None if refresh or not cf.exists() else cf.read_bytes()
        if data is None:
            if unreachable:
                failed.append((msgid, "not tried: the archive is unreachable"))
                continue
            try:
                fetch = fetch or _node_fetch()
                data = fetch(msgid)
            except Exception as e:  # liblore/requests raise many kinds; all mean "not fetched"
                why, unreachable = _reason(e)
                failed.append((msgid, why))
                continue
            cf.parent.mkdir(parents=True, exist_ok=True)
            tmp = cf.with_suffix(".tmp")
            tmp.write_bytes(data)
            tmp.replace(cf)
        for i, raw in enumerate(mail.split_mbox(data)):
            got = mail.parse(raw, f"lore:{msgid}#{i + 1}")
            if isinstance(got, Problem):
                problems.append(got)
            else:
                seen.setdefault(got.message_id, got)
    if failed and not seen:
        names = "\n  ".join(f"{m} ({why})" for m, why in failed)
        raise UserError(f"--source lore: could not fetch any thread of the series:\n  {names}",
                        "pass the mails with --source PATH (an mbox, a maildir or a directory)")
    problems.extend(Problem(f"lore:{m}", f"not fetched: {why}") for m, why in failed)
    return list(seen.values()), problems
