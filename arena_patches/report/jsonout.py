"""The one place where models become JSON. Field names here are a contract (README,
"JSON output"): add fields, never rename them."""
from __future__ import annotations

import json
import sys
from typing import Any

from arena_patches.core.model import Claim, Patch, Person, Reply, Series, Version
from arena_patches.core.verdicts import ClaimVerdict
from arena_patches.kbuild import diagnostics as dg
from arena_patches.report import checks as report_checks

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
        "version": v.version, "label": v.name, "tag": v.tag if v.tag is not None else v.version,
        "date": v.date or None, "total": v.total,
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
        "ignored_message_ids": list(s.ignored),
        "left_out": [{"message_id": m, "why": why} for m, why in s.left_out]}


def text(doc: dict[str, Any], encoding: str = "utf-8") -> str:
    """The document as text the encoding can carry: non-ASCII as itself where it can, as
    \\u escapes where it cannot (a file name that is not UTF-8, a latin-1 stdout)."""
    out = json.dumps(doc, indent=2, sort_keys=False, ensure_ascii=False) + "\n"
    try:
        out.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        out = json.dumps(doc, indent=2, sort_keys=False, ensure_ascii=True) + "\n"
    return out


def dump(doc: dict[str, Any], out=None) -> None:
    out = out or sys.stdout
    if out is None:  # fd 1 was closed before the run began
        raise OSError(9, "stdout is closed")
    out.write(text(doc, getattr(out, "encoding", None) or "utf-8"))
    out.flush()


def apply_results(results) -> dict[str, Any]:
    return {"schema": SCHEMA_VERSION, "versions": [{
        "version": r.version, "base": r.base, "base_rule": r.base_rule.value,
        "base_detail": r.base_detail, "head": r.head, "warnings": list(r.warnings),
        "patches": [{"number": p.number, "status": p.status.value, "commit": p.commit,
                     "finding": p.status.is_finding, "outcome": p.status.status.value,
                     "conflicts": [{"file": c.file, "hunk": c.hunk} for c in p.conflicts],
                     "detail": p.detail, "left_out": list(p.left_out), "stands_in": p.stands_in,
                     "on_partial": p.on_partial} for p in r.patches]} for r in results]}


def diagnostic(d) -> dict[str, Any]:
    return dg.as_dict(d)


def build_results(cells, stats) -> dict[str, Any]:
    return {"schema": SCHEMA_VERSION, "results": [{
        "version": c.version, "patch": c.patch, "target": c.target, "config": c.config,
        "toolchain": c.toolchain, "status": c.status.value, "word": c.word, "commit": c.commit,
        "errors": [diagnostic(d) for d in c.errors],
        "inherited_errors": [diagnostic(d) for d in c.inherited],
        "new_warnings": [diagnostic(d) for d in c.new_warnings],
        "not_built": list(c.not_built), "reproduce": c.reproduce, "detail": c.detail,
        "seconds": round(c.seconds, 2), "cached": c.cached} for c in cells],
        "stats": {"compiler_invocations": stats.compiler_invocations,
                  "cached_results": stats.cached_results, "built_states": stats.built_states,
                  "ccache_hits": stats.ccache_hits, "ccache_misses": stats.ccache_misses,
                  "wall_seconds": round(stats.wall_seconds, 2)},
        "sandbox": stats.sandbox or None}


def boot_results(results) -> dict[str, Any]:
    return {"schema": SCHEMA_VERSION, "results": [{
        "version": r.version, "patch": r.patch, "target": r.target, "state": r.state.value,
        "status": r.status.value, "probe": {k: getattr(v, "value", v) for k, v in r.probe.items()},
        "findings": [{"kind": f.kind, "fingerprint": f.fingerprint, "headline": f.headline}
                     for f in r.findings],
        "mismatches": list(r.mismatches), "boot_seconds": round(r.boot_seconds, 2),
        "build_seconds": round(r.build_seconds, 2), "reproduce": r.reproduce,
        "detail": r.detail, "sandbox": r.sandbox or None} for r in results]}


def judged_claim(j) -> dict[str, Any]:
    return {"version": j.version, "against": j.against, "patch": j.claim.patch, "text": j.claim.text,
            "kind": j.kind, "verdict": j.verdict.value, "finding": j.verdict.is_finding,
            "outcome": j.verdict.status.value, "evidence": j.evidence, "asked_by": j.claim.asked_by}


def claim_counts(judged) -> dict[str, int]:
    return {v.value: sum(1 for j in judged if j.verdict is v) for v in ClaimVerdict}


def comparisons(comps, reviews, judged=(), status=None, summary: str = "") -> dict[str, Any]:
    return {"schema": SCHEMA_VERSION, "status": status.value if status else None, "summary": summary,
            "claims": [judged_claim(j) for j in judged], "claim_counts": claim_counts(judged),
            "comparisons": [{
        "from": c.from_version, "to": c.to_version,
        "from_label": c.from_label or f"v{c.from_version}", "to_label": c.to_label or f"v{c.to_version}",
        "patches": [{"number": p.number, "change": p.change.value, "subject": p.subject,
                     "claims": [{"text": x.text, "asked_by": x.asked_by, "patch": x.patch}
                                for x in p.claims],
                     "flag": p.flag.value, "reason": p.reason, "patch_ids": list(p.patch_ids),
                     "interdiff": p.interdiff} for p in c.patches],
        "series_claims": [{"text": x.text, "asked_by": x.asked_by} for x in c.series_claims]}
        for c in comps],
        "reviews": [{"version": i.reply.version, "patch": i.reply.patch, "from": str(i.reply.sender),
                     "kind": i.reply.kind.value, "message_id": i.reply.message_id,
                     "date": i.reply.date, "issue": i.issue, "addressed": i.addressed,
                     "evidence": i.evidence,
                     "robot": None if i.robot is None else {
                         "arch": i.robot.arch, "config": i.robot.config,
                         "compiler": i.robot.compiler, "first_error": i.robot.first_error}}
                    for i in reviews]}


def invariants(results) -> dict[str, Any]:
    return {"schema": SCHEMA_VERSION, "invariants": [{
        "id": r.rule.id, "claim": r.rule.claim, "kind": r.rule.kind, "file": r.rule.file,
        "function": r.rule.function, "claimed_in": r.rule.claimed_in, "patch": r.rule.patch,
        "results": [{"version": c.version, "patch": c.patch, "status": c.status.value,
                     "detail": c.detail} for c in r.cells],
        "first_holds": r.first_holds, "verdict": r.verdict.value, "finding": r.verdict.is_finding,
        "outcome": r.verdict.status.value, "history": r.history} for r in results]}


def backport(target_tree: str, target: str, version: int, patches) -> dict[str, Any]:
    return {"schema": SCHEMA_VERSION, "target_tree": target_tree, "target_commit": target,
            "version": version, "patches": [{
                "number": p.number, "status": p.status.value, "finding": p.status.is_finding,
                "detail": p.detail,
                "hunks": [{"file": h.file, "header": h.header, "status": h.status.value,
                           "class": h.klass.value if h.klass else None}
                          for h in p.hunks],
                "missing": [{"identifier": m.identifier, "kind": m.kind,
                             "defined_upstream": m.defined_upstream} for m in p.missing]}
                for p in patches]}


def verification(v) -> dict[str, Any]:
    """verify's one document: every stage's outcome and each stage's own document."""
    return {"schema": SCHEMA_VERSION,
            "status": v.status.value,
            "stages": [{"name": s.name, "status": s.status.value, "reason": s.reason,
                        "sandbox": s.sandbox or None} for s in v.stages],
            "series": series(v.series),
            "apply": apply_results(v.apply),
            "build": build_results(v.build, v.build_stats) if v.build_stats else None,
            "boot": boot_results(v.boot) if v.boot else None,
            "invariants": invariants(v.invariants)["invariants"] if v.invariants else None,
            "diff": comparisons(v.comparisons, v.reviews, v.claims,
                                next((x.status for x in v.stages if x.name == "diff"), None),
                                next((x.reason for x in v.stages if x.name == "diff"), "")),
            "timings": timings(v.timings),
            **_checks_of(v)}


def timings(rows) -> list[dict[str, Any]]:
    """Where the time went: a stage's row (target null), then its targets' rows."""
    return [{"stage": t.stage, "target": t.target, "seconds": round(t.seconds, 2), "builds": t.builds,
             "cache_hits": t.cache_hits, "ccache_hits": t.ccache_hits, "ccache_misses": t.ccache_misses}
            for t in rows]


def _checks_of(v) -> dict[str, Any]:
    doc = report_checks.document(v.checks)
    return {"checks": doc["checks"], "findings": doc["findings"]}


def backport_run(run) -> dict[str, Any]:
    """backport's document; `build` is null when it was asked for and not every patch applied."""
    doc = backport(run.to, run.target, run.version, run.patches)
    if run.build is not None:
        doc["build"] = build_results(run.build.cells, run.build.stats)
    elif run.build_asked:
        doc["build"] = None
    return doc


def imported(got, dest: str, suite: str) -> dict[str, Any]:
    doc = {"commit": got.commit, "created": got.created, "dest": dest, "tarball": got.tarball,
           "left_out": list(got.left_out)}
    if got.package:
        doc["package"] = {"name": got.package.package, "version": got.package.version,
                          "suite": suite, "downloaded": got.package.downloaded}
    return doc
