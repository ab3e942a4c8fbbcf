"""The checks' results where maintainers look: JSON (a contract: add fields, never
rename) and the per-patch records patchwork and b4 read (the terminal's is text.py's)."""
from __future__ import annotations

from itertools import groupby
from typing import Any



SCHEMA_VERSION = 1


def finding(f) -> dict[str, Any]:
    return {"check": f.check, "version": f.version, "patch": f.patch, "status": f.status.value,
            "type": f.type, "file": f.file, "line": f.line, "message": f.message, "new": f.new,
            "first_seen": f.first_seen, "gone_in": f.gone_in}


def results(rs) -> list[dict[str, Any]]:
    return [{"check": r.check, "version": r.version, "patch": r.patch, "status": r.status.value,
             "summary": r.summary, "seconds": round(r.seconds, 2),
             "findings": [finding(f) for f in r.findings],
             "fixed": [finding(f) for f in r.fixed]} for r in rs]


def document(rs) -> dict[str, Any]:
    """`checks --json`: every result, and every finding flat (as verify --json has them)."""
    return {"schema": SCHEMA_VERSION, "checks": results(rs),
            "findings": [finding(f) for r in rs for f in r.findings]}


_PW_STATE = {"pass": "success", "warn": "warning", "fail": "fail", "error": "fail", "skip": "warning"}
_WORST = ("fail", "error", "warn", "pass", "skip")


def _per_patch(rs: list[dict]):
    key = lambda r: (r["version"], r["patch"])  # noqa: E731
    return groupby(sorted(rs, key=key), key=key)


def patchwork_records(rs: list[dict], url: str = "") -> list[dict[str, Any]]:
    """One record per patch, as patchwork's checks API takes them (state, context,
    description, target_url), from the JSON document's `checks`. A patch nothing judged
    (every check skipped) is a warning, never a success."""
    out = []
    for (v, k), group in _per_patch(rs):
        group = list(group)
        worst = min((r["status"] for r in group), key=_WORST.index)
        state = _PW_STATE[worst] if any(r["status"] != "skip" for r in group) else "warning"
        out.append({"version": v, "patch": k, "state": state, "context": "arena-patches-checks",
                    "description": "; ".join(f"{r['check']}: {r['status']}" for r in group)[:250],
                    "target_url": url})
    return out


def b4_records(rs: list[dict], url: str = "") -> list[dict[str, Any]]:
    """b4's review-check records ({tool, status, summary, url, details}): one per patch and
    check, with the version and patch they are about."""
    return [{"version": r["version"], "patch": r["patch"], "tool": f"arena-patches/{r['check']}",
             "status": r["status"], "summary": r["summary"], "url": url,
             "details": "\n".join(f"{f['status']} {f['file'] or '(commit message)'}: {f['type']}: {f['message']}"
                                  for f in r["findings"] if f["new"])} for r in rs]
