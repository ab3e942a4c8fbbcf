"""The spec's regular expressions (a rule's pattern, callee, lock, ...) run on RE2, whose
match time is linear in the text: a stranger's spec cannot make `check` backtrack for
ever (`^(\\w+\\s?)+;$` on a 40-letter line takes Python's re minutes, RE2 microseconds).
RE2 takes Python's syntax but lookaround and backreferences, which need backtracking;
such a pattern is refused when the spec is read."""
from __future__ import annotations

import functools

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print its own parse errors on stderr


class RegexError(ValueError):
    pass


@functools.lru_cache(maxsize=1024)
def compile(pattern: str, multiline: bool = False):
    """A compiled pattern with search/fullmatch as `re` has them."""
    try:
        return re2.compile(("(?m)" if multiline else "") + pattern, _OPTIONS)
    except re2.error as e:
        why = e.args[0].decode(errors="replace") if e.args and isinstance(e.args[0], bytes) else str(e)
        raise RegexError(f"{why}; lookaround and backreferences are not taken (matching stays "
                         "linear in time)") from None
