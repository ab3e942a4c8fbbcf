"""The guest's console: the probe's answers and the kernel's complaints.

Probe lines are `ARENA-PROBE key=value`. Oops, BUG, WARNING, lockdep and KASAN reports
become findings with a short fingerprint: the kind, the headline, the first frames."""
from __future__ import annotations

import re
from dataclasses import dataclass

_PROBE = re.compile(r"ARENA-PROBE (\w+)=(.*?)(?: errno=(-?\d+)| retval=(-?\d+))?\r?$")
_FRAME = re.compile(r"^\s*(?:\[[^\]]*\]\s*)?(?:\? )?([A-Za-z_][\w.]*)\+0x[0-9a-f]+/0x[0-9a-f]+")
_STARTS = [
    ("kasan", re.compile(r"BUG: KASAN: (.*)")),
    ("lockdep", re.compile(r"WARNING: (possible (?:circular|recursive) locking.*|inconsistent lock state.*"
                           r"|suspicious RCU usage.*|bad unlock balance.*)")),
    ("bug", re.compile(r"(?:kernel )?BUG: (.*)|kernel BUG at (.*)")),
    ("oops", re.compile(r"Oops: (.*)|Unable to handle kernel (.*)|Internal error: (.*)")),
    ("warning", re.compile(r"WARNING: CPU: \d+ PID: \d+ at (.*)")),
    ("panic", re.compile(r"Kernel panic - not syncing: (.*)")),
]


@dataclass(frozen=True)
class Finding:
    kind: str  # oops | bug | warning | lockdep | kasan | panic
    headline: str
    fingerprint: str


@dataclass(frozen=True)
class ProbeAnswers:
    values: dict
    ended: bool


def strip_ts(line: str) -> str:
    return re.sub(r"^\[\s*\d+\.\d+\]\s?", "", line)


def probe(text: str) -> ProbeAnswers:
    values: dict[str, str] = {}
    ended = False
    for line in text.splitlines():
        m = _PROBE.search(line)
        if not m:
            continue
        key, value = m.group(1), m.group(2).strip()
        if key == "end":
            ended = True
        values[key] = value
        if m.group(3) is not None:
            values[f"{key}_errno"] = m.group(3)
        if m.group(4) is not None:
            values[f"{key}_retval"] = m.group(4)
    for line in text.splitlines():  # "ARENA-PROBE end" has no '='
        if line.rstrip().endswith("ARENA-PROBE end"):
            ended = True
    return ProbeAnswers(values, ended)


def findings(text: str, frames: int = 3) -> list[Finding]:
    lines = [strip_ts(l.rstrip("\r")) for l in text.splitlines()]
    out: list[Finding] = []
    for i, line in enumerate(lines):
        for kind, rx in _STARTS:
            m = rx.search(line)
            if not m:
                continue
            if kind == "panic" and "Attempted to kill init" in line:
                break  # the probe's init exiting is how some guests end
            headline = next(g for g in m.groups() if g) if m.groups() else line
            stack = []
            for follow in lines[i + 1:i + 80]:
                f = _FRAME.match(follow)
                if f and f.group(1) not in ("dump_stack", "dump_stack_lvl", "show_stack", "__warn",
                                            "report_bug", "warn_slowpath_fmt"):
                    stack.append(f.group(1))
                if len(stack) == frames or follow.startswith("---[ end trace"):
                    break
            headline = re.sub(r"0x[0-9a-f]+|\b[0-9a-f]{8,}\b", "…", headline.strip())
            out.append(Finding(kind, headline, f"{kind}: {headline} | " + " < ".join(stack)))
            break
    return out
