"""How untrusted text (subjects, replies, changelogs, compiler output, file names) is made
inert, one function per output format; each format applies its function in one place:
HTML by jinja2's autoescape (files._env), Markdown and the mail reply by their template
environment's finalize, JUnit by one pass over the finished XML tree, the terminal by the
console's render (text.console) and cli's error line.

The text stays readable: a control character is shown as its escape (`\\x1b`), never
dropped silently, so a reviewer sees that something was there."""
from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, C1 controls, and the bidi overrides and isolates
# (a line that reads one way and is another: "Trojan Source")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# what XML 1.0 cannot hold at all (tab, LF and CR it can)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
# the punctuation that can start Markdown inside a line (CommonMark lets any ASCII
# punctuation be backslash-escaped; `.`, `-` and `+` only matter at a line's start)
_MD_PUNCT = re.compile(r"([\\`*_{}\[\]()#!|~])")
_MD_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}


def _shown(m: re.Match) -> str:
    c = m.group(0)
    return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"


def terminal(s: str) -> str:
    """Text for a terminal: no escape sequence, no carriage return, no bidi override."""
    return _CONTROL.sub(_shown, s)


def xml(s: str) -> str:
    """Text XML 1.0 can hold (ElementTree escapes <, & and quotes itself)."""
    return _NOT_XML.sub(_shown, terminal(s))


def markdown(s: str) -> str:
    """Text that Markdown renders as the same text: no HTML, image, link, emphasis, table
    cell break or line break; one line."""
    s = re.sub(r"\s+", " ", terminal(s))  # one line; a lone space (", ") stays
    s = _MD_PUNCT.sub(r"\\\1", s)
    return "".join(_MD_HTML.get(c, c) for c in s)


def markdown_code(s: str, block: bool = False) -> str:
    """A code span or fenced block no text can close: its fence is longer than any run of
    backticks inside."""
    s = terminal(s)
    longest = max((len(r) for r in re.findall(r"`+", s)), default=0)
    if block:
        fence = "`" * max(3, longest + 1)
        return f"{fence}\n{s.rstrip(chr(10))}\n{fence}"
    s = " ".join(s.split())
    fence = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def header(s: str) -> str:
    """One mail header line's value: CR, LF and every other control become one space."""
    return " ".join(_CONTROL.sub(" ", s.replace("\r", " ").replace("\n", " ")).split())
