"""--source lore: fetch each version's thread by Message-ID through liblore (b4's
library), keeping every answer in an on-disk cache so later runs work offline.
--source <Message-ID> (a series no spec names): that thread, the earlier versions its
covers link to, and later ones found as b4 finds them (the same title from the same
author), every answer cached. ARENA_PATCHES_LORE_URL names another archive.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
from pathlib import Path
from typing import Callable, Iterable

from arena_patches.core.errors import UserError
from arena_patches.core.model import Message, Problem
from arena_patches.core.paths import cache_root
from arena_patches.mail import changelog, message as mail

log = logging.getLogger(__name__)
LORE_URL = "https://lore.kernel.org/all"

Fetch = Callable[[str], bytes]
_MSGID = re.compile(r"^<?([^\s<>/@]+@[^\s<>/@]+)>?$")
_FOLLOW_AT_MOST = 24  # threads one series may take: its versions, each once


def _node():
    import liblore
    node = liblore.LoreNode(os.environ.get("ARENA_PATCHES_LORE_URL") or LORE_URL,
                            cache_dir=str(cache_root() / "liblore"), request_timeout=(5.0, 30.0))
    node.set_user_agent("arena-patches", "0.1")
    return node


def _node_fetch() -> Fetch:
    node = _node()

    def fetch(msgid: str) -> bytes:
        return node.get_mbox_by_msgid(msgid)
    return fetch


def _node_search() -> Fetch:
    node = _node()

    def search(query: str) -> bytes:
        return node.get_mbox_by_query(query, full_threads=True)
    return search


def as_msgid(source: str) -> str | None:
    """A --source that is a Message-ID (not a path), without its <>."""
    m = _MSGID.match(source.strip())
    return m.group(1) if m else None


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


def _cached(key: str, get: Callable[[], bytes], refresh: bool) -> bytes:
    cf = _cache_file(key)
    if cf.exists() and not refresh:
        return cf.read_bytes()
    data = get()
    cf.parent.mkdir(parents=True, exist_ok=True)
    tmp = cf.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(cf)
    return data


def read_series(msgid: str, fetch: Fetch | None = None, search: Fetch | None = None,
                refresh: bool = False) -> tuple[list[Message], list[Problem]]:
    """Every version of the series one Message-ID belongs to, as b4 gathers them."""
    msgs, problems = read([msgid], fetch, refresh)  # the first thread must come, or this raises
    seen = {m.message_id: m for m in msgs}
    done = {msgid}
    while True:
        wanted = [l.message_id for m in list(seen.values()) if not m.is_reply
                  for l in changelog.links(m.body, m.message_id) + changelog.links(
                      changelog.notes(m.body), m.message_id)
                  if l.message_id not in seen and l.message_id not in done]
        if not wanted or len(done) >= _FOLLOW_AT_MOST:
            break
        for w in dict.fromkeys(wanted):
            done.add(w)
            try:
                got, probs = read([w], fetch, refresh)
            except UserError as e:  # an earlier version the archive lacks: said, not fatal
                problems.append(Problem(f"lore:{w}", f"linked as an earlier version, not fetched: {e.message}"))
                continue
            problems += probs
            for m in got:
                seen.setdefault(m.message_id, m)
    for m in _later(list(seen.values()), search, refresh, problems):
        seen.setdefault(m.message_id, m)
    return list(seen.values()), problems


def _later(msgs: list[Message], search: Fetch | None, refresh: bool,
           problems: list[Problem]) -> list[Message]:
    """Later versions: what the archive holds under the newest posting's title from its
    author (b4 looks for newer revisions the same way)."""
    tops = [m for m in msgs if not m.is_reply and m.is_patch_tag]
    if not tops:
        return []
    newest = max(tops, key=lambda m: (m.revision, m.counter == 0, m.timestamp))
    title = re.sub(r'["\\]', " ", newest.title).strip()
    query = f's:"{title}" AND f:{newest.sender.email}'
    try:
        data = _cached("query:" + query, lambda: (search or _node_search())(query), refresh)
    except Exception as e:  # liblore/requests raise many kinds; a search that fails finds nothing
        why, _ = _reason(e)
        if why != "the archive has no such message":
            problems.append(Problem("lore:search", f"later versions not looked for: {why}"))
        return []
    out = []
    for i, raw in enumerate(mail.split_mbox(data)):
        got = mail.parse(raw, f"lore:search#{i + 1}")
        if isinstance(got, Message):
            out.append(got)
    return out
