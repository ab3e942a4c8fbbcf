"""Raw mail bytes -> Message. Decoding (MIME, quoted-printable, charsets, RFC 2047) is
liblore's; subject tags ([PATCH bpf-next v3 2/4]) are parsed by b4's rules.

Anything that is not readable mail becomes a Problem naming the file; it never raises.
"""
from __future__ import annotations

import datetime
import email.errors
import email.utils
import hashlib
import re
from email.message import EmailMessage

import b4
from liblore import utils as lu

from arena_patches.core.model import Message, Person, Problem

_DIFF_RE = re.compile(r'^(diff --git "?a/|--- "?a/\S.*\n\+\+\+ "?b/)', re.MULTILINE)
_HEADER_RE = re.compile(rb"^[A-Za-z][A-Za-z0-9-]*:", re.MULTILINE)
# A format-patch file carries no Message-ID; give it a stable one from its bytes.
SYNTHETIC_DOMAIN = "arena-patches.invalid"
# Bounds on what a stranger's mail may make the reader do: MIME containers (the parser
# recurses once per level; a patch mail has a handful) and digits of a subject tag's
# numbers (int() refuses 4,300; a version has a few).
MAX_MULTIPARTS = 64
MAX_TAG_DIGITS = 9
_MULTIPART = re.compile(rb"content-type:\s*multipart/", re.I)
_LONG_TAG_NUMBER = re.compile(rf"\[[^\]]*\d{{{MAX_TAG_DIGITS + 1}}}[^\]]*\]")


def _msgids(value: str | None) -> list[str]:
    return re.findall(r"<([^<>\s]+)>", value or "")


def looks_like_mail(raw: bytes) -> bool:
    head = raw.lstrip()[:65536].replace(b"\r\n", b"\n")
    if not _HEADER_RE.search(head[:4096]):
        return False
    end = head.find(b"\n\n")
    head = head[:end] if end > 0 else head[:4096]  # archived mails carry kilobytes of Received:
    lower = head.lower()
    return any(h in lower for h in (b"\nsubject:", b"\nfrom:", b"\nmessage-id:")) or \
        lower.startswith((b"subject:", b"from:", b"message-id:", b"from "))


def parse(raw: bytes, origin: str) -> Message | Problem:
    """One message's bytes (mbox separator already removed) to a Message, or a Problem."""
    if not raw.strip():
        return Problem(origin, "empty message")
    if not looks_like_mail(raw):
        return Problem(origin, "not a mail message (no From/Subject/Message-ID header)")
    if len(_MULTIPART.findall(raw)) > MAX_MULTIPARTS:
        return Problem(origin, f"unreadable mail: more than {MAX_MULTIPARTS} nested MIME parts")
    try:
        msg: EmailMessage = lu.parse_message(raw)
        subject = lu.clean_header(str(msg.get("Subject", "") or ""))
        msgid = lu.get_clean_msgid(msg)
        if not msgid:
            msgid = f"{hashlib.sha256(raw).hexdigest()[:24]}@{SYNTHETIC_DOMAIN}"
        name, addr = lu.msg_get_author(msg)
        body = lu.msg_get_payload(msg, strip_signature=False)
        when = _when(msg)
        irt = _msgids(str(msg.get("In-Reply-To", "") or ""))
        refs = _msgids(" ".join(str(r) for r in msg.get_all("References", []) or []))
    except (email.errors.MessageError, ValueError, TypeError, LookupError, IndexError,
            RecursionError) as e:
        return Problem(origin, f"unreadable mail: {str(e)[:200]}")
    if _LONG_TAG_NUMBER.search(subject):
        return Problem(origin, f"unreadable subject tag: a number of more than {MAX_TAG_DIGITS} "
                               f"digits ({msgid})")
    try:  # b4 decodes the (decoded) subject once more: an encoded word inside may be broken
        ls = b4.LoreSubject(subject)
    except (email.errors.MessageError, ValueError, LookupError) as e:
        return Problem(origin, f"unreadable subject ({msgid}): {str(e)[:200]}")
    return Message(
        message_id=msgid, subject=subject, sender=Person(name or "", addr or ""),
        date=str(msg.get("Date", "") or ""), timestamp=when.timestamp() if when else 0.0,
        in_reply_to=irt[0] if irt else None, references=tuple(refs), body=body,
        origin=origin, is_reply=ls.reply, is_patch_tag=ls.patch, revision=ls.revision,
        revision_inferred=ls.revision_inferred, counter=ls.counter, expected=ls.expected,
        counters_inferred=ls.counters_inferred, resend=ls.resend, title=ls.subject,
        has_diff=bool(_DIFF_RE.search(body)))


def _date(text: str) -> datetime.datetime | None:
    try:
        d = email.utils.parsedate_to_datetime(text)
    except (ValueError, TypeError, OverflowError, IndexError):
        return None
    # "-0000" (no zone known) parses naive; taken as UTC, so all dates compare
    return d if d.tzinfo else d.replace(tzinfo=datetime.timezone.utc)


def _when(msg: EmailMessage) -> datetime.datetime | None:
    """The author's Date: (what git am records). Received: headers are written by any relay
    (and can be forged): only a mail without a readable Date: takes the latest of them."""
    date = _date(str(msg.get("Date", "") or ""))
    if date is not None:
        return date
    stamps = [d for r in msg.get_all("Received", []) or [] if ";" in str(r)
              if (d := _date(str(r).rsplit(";", 1)[1].strip()))]
    return max(stamps, default=None)


def split_mbox(data: bytes) -> list[bytes]:
    """mbox/mboxrd bytes -> raw messages (liblore undoes the >From escaping)."""
    return [m for m in lu.split_mbox_as_bytes(data) if m.strip()]


def is_mbox(data: bytes) -> bool:
    return data.startswith(b"From ") and bool(lu._FROM_RE.match(data.split(b"\n", 1)[0]))
