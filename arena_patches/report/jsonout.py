"""The one place where models become JSON. Field names here are a contract (README,
"JSON output"): add fields, never rename them."""
from __future__ import annotations

import json
import sys
from typing import Any

from ..model import Claim, Patch, Person, Reply, Series, Version

SCHEMA_VERSION = 1


def person(p: Person) -> str:
    return str(p)


def claim(c: Claim) -> dict[str, Any]:
    return {"from": c.from_version, "to": c.to_version, "patch": c.patch, "text": c.text,
            "asked_by": c.asked_by, "sources": list(c.sources)}


def reply(r: Reply) -> dict[str, Any]:
    return {"message_id": r.message_id, "from": person(r.sender), "date": r.date,
            "kind": r.kind.value, "patch": r.patch, "in_reply_to": r.in_reply_to,
            "subject": r.subject, "excerpt": r.excerpt}


def patch(p: Patch) -> dict[str, Any]:
    return {"number": p.number, "present": True, "message_id": p.message_id,
            "subject": p.subject, "author": person(p.author), "date": p.date,
            "files": list(p.paths),
            "diffstat": [{"file": f.path, "added": f.added, "removed": f.removed,
                          "status": f.status} for f in p.files],
            "insertions": sum(f.added for f in p.files),
            "deletions": sum(f.removed for f in p.files),
            "trailers": [{"name": k, "value": v} for k, v in p.trailers],
            "base_blobs": [{"file": f, "blob": b} for f, b in p.base_blobs],
            "resent_message_ids": list(p.resent_ids), "origin": p.origin}


def version(v: Version) -> dict[str, Any]:
    pats: list[dict[str, Any]] = []
    for k in range(1, max(v.total, max((p.number for p in v.patches), default=0)) + 1):
        p = v.patch(k)
        pats.append(patch(p) if p else {"number": k, "present": False, "message_id": None,
                                         "subject": None, "files": []})
    return {
        "version": v.version, "total": v.total,
        "cover": {"present": v.cover is not None, "message_id": v.cover_message_id,
                  "subject": v.cover.subject if v.cover else None,
                  "date": v.cover.date if v.cover else None},
        "patches": pats, "missing": list(v.missing), "base_commit": v.base_commit,
        "replies": [reply(r) for r in v.replies]}


def series(s: Series) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "series": {"title": s.info.title, "list": s.info.list, "base_tree": s.info.base_tree},
        "versions": [version(v) for v in s.versions],
        "claims": [claim(c) for c in s.claims],
        "links": [{"version": l.version, "message_id": l.message_id, "cited_in": l.cited_in}
                  for l in s.links],
        "problems": [{"origin": p.origin, "message": p.message} for p in s.problems],
        "ignored_message_ids": list(s.ignored)}


def dump(doc: dict[str, Any], out=None) -> None:
    out = out or sys.stdout
    json.dump(doc, out, indent=2, sort_keys=False, ensure_ascii=False)
    out.write("\n")


def apply_results(results) -> dict[str, Any]:
    return {"schema": SCHEMA_VERSION, "versions": [{
        "version": r.version, "base": r.base, "base_rule": r.base_rule.value,
        "base_detail": r.base_detail, "head": r.head, "warnings": list(r.warnings),
        "patches": [{"number": p.number, "status": p.status.value, "commit": p.commit,
                     "conflicts": [{"file": c.file, "hunk": c.hunk} for c in p.conflicts],
                     "detail": p.detail} for p in r.patches]} for r in results]}
