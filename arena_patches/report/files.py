"""verify --report-dir: report.json (the one schema), junit.xml (one testcase per
version/patch/target, per boot, per invariant), report.md, report.html (one file, jinja2),
and the reply a maintainer would post on the list (--mail)."""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import jinja2

from arena_patches.core.verdicts import Status
from arena_patches.report import checks as report_checks, escape, jsonout

TEMPLATES = Path(__file__).resolve().parent / "templates"
TROUBLE = {s.value for s in Status if s.is_trouble}


def _diagnostic_line(e: dict) -> str:
    return f"{e['file']}{':' + str(e['line']) if e['line'] else ''}: {e['severity']}: {e['message']}"


class Verbatim(str):
    """Text a template made safe itself (a Markdown code span): finalize leaves it alone."""


def _env(fmt: str) -> jinja2.Environment:
    """One environment per format, and in it the one place that format escapes: HTML by
    autoescape (every template, whatever its name), Markdown and the mail by finalize,
    which every {{ }} passes through."""
    if fmt == "html":  # controls too: a page shows them as \x1b rather than hide them
        return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                                  trim_blocks=True, lstrip_blocks=True,
                                  finalize=lambda v: escape.terminal(v) if type(v) is str else v)
    inert = escape.markdown if fmt == "md" else escape.terminal

    def finalize(v):
        if v is None or isinstance(v, (Verbatim, int, float)):
            return "" if v is None else v
        return inert(str(v))
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=False,
                             trim_blocks=True, lstrip_blocks=True, finalize=finalize)
    env.filters["diagnostic_line"] = _diagnostic_line
    env.filters["code"] = lambda v, block=False: Verbatim(escape.markdown_code(str(v), block))
    env.filters["header"] = lambda v: Verbatim(escape.header(str(v)))
    return env


def _case(suite: ET.Element, classname: str, name: str, status: str, message: str = "",
          text: str = "") -> None:
    tc = ET.SubElement(suite, "testcase", classname=classname, name=name)
    if status == "fail":
        f = ET.SubElement(tc, "failure", message=message[:500])
        f.text = text or message
    elif status == "error":
        e = ET.SubElement(tc, "error", message=message[:500])
        e.text = text or message
    elif status == "skip":
        ET.SubElement(tc, "skipped", message=message[:500])
    elif status == "warn":
        so = ET.SubElement(tc, "system-out")
        so.text = f"warn: {message}"


def junit(doc: dict) -> str:
    root = ET.Element("testsuites", name="arena-patches")
    title = doc["series"]["series"]["title"]
    s = ET.SubElement(root, "testsuite", name=f"{title}: stages")
    for st in doc["stages"]:
        _case(s, "stages", st["name"], st["status"],
              st["reason"] + (f" (sandbox: {st['sandbox']})" if st.get("sandbox") else ""))
    s = ET.SubElement(root, "testsuite", name=f"{title}: apply")
    for v in doc["apply"]["versions"]:
        for p in v["patches"]:
            _case(s, f"apply.v{v['version']}", f"patch {p['number']}", p["outcome"],
                  p["detail"] or p["status"])
    if doc.get("build"):
        s = ET.SubElement(root, "testsuite", name=f"{title}: build")
        for c in doc["build"]["results"]:
            lines = "\n".join(_diagnostic_line(e)
                              for e in c["errors"] + c["inherited_errors"] + c["new_warnings"])
            _case(s, f"build.v{c['version']}.{c['target']}", f"patch {c['patch']}", c["status"],
                  c["detail"] or (c["errors"][0]["message"] if c["errors"] else c["status"]),
                  f"{lines}\nreproduce: {c['reproduce']}")
    if doc.get("checks"):
        s = ET.SubElement(root, "testsuite", name=f"{title}: checks")
        for r in doc["checks"]:
            lines = "\n".join(f"{f['status']} {f['file'] or '(commit message)'}: {f['type']}: {f['message']}"
                              for f in r["findings"] if f["new"])
            _case(s, f"checks.v{r['version']}.{r['check']}", f"patch {r['patch']}", r["status"],
                  r["summary"], lines)
    if doc.get("boot"):
        s = ET.SubElement(root, "testsuite", name=f"{title}: boot")
        for r in doc["boot"]["results"]:
            _case(s, f"boot.{r['target']}", r["state"], r["status"], r["detail"] or r["status"],
                  json.dumps(r["probe"]) + f"\nreproduce: {r['reproduce']}")
    if doc.get("invariants"):
        s = ET.SubElement(root, "testsuite", name=f"{title}: invariants")
        for inv in doc["invariants"]:
            bad = inv["finding"]
            fails = [r for r in inv["results"] if r["status"] == "fail"]
            _case(s, "invariants", inv["id"], "fail" if bad else "pass",
                  f"{inv['verdict']}: {inv['claim']}",
                  "\n".join(f"v{r['version']} {r['patch']}: {r['detail']}" for r in fails[:5]))
    for suite in root:
        cases = list(suite)
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
        suite.set("errors", str(sum(1 for c in cases if c.find("error") is not None)))
        suite.set("skipped", str(sum(1 for c in cases if c.find("skipped") is not None)))
    _xml_safe(root)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _xml_safe(root: ET.Element) -> None:
    """JUnit's one place: every text, tail and attribute made XML 1.0, after the tree is built."""
    for el in root.iter():
        el.text = escape.xml(el.text) if el.text else el.text
        el.tail = escape.xml(el.tail) if el.tail else el.tail
        for k, v in el.attrib.items():
            el.set(k, escape.xml(v))


def build_grid(doc: dict) -> tuple[list[str], list[dict]]:
    """Targets, and rows of {version, patch, cells: {target: cell}} for the templates."""
    if not doc.get("build"):
        return [], []
    targets = list(dict.fromkeys(c["target"] for c in doc["build"]["results"]))
    rows: dict[tuple, dict] = {}
    for c in doc["build"]["results"]:
        row = rows.setdefault((c["version"], c["patch"]), {"version": c["version"], "patch": c["patch"],
                                                            "cells": {}})
        row["cells"][c["target"]] = c
    return targets, list(rows.values())


def _context(doc: dict) -> dict:
    targets, rows = build_grid(doc)
    failures = [c for c in (doc.get("build") or {}).get("results", [])
                if c["status"] in TROUBLE and (c["errors"] or c["detail"])]
    return {"doc": doc, "targets": targets, "rows": rows, "failures": failures, "trouble": TROUBLE,
            "title": doc["series"]["series"]["title"]}


def markdown(doc: dict) -> str:
    return _env("md").get_template("report.md.j2").render(**_context(doc))


def html_page(doc: dict) -> str:
    return _env("html").get_template("report.html.j2").render(**_context(doc))


def mail(doc: dict) -> str:
    return _env("mail").get_template("reply.txt.j2").render(**_context(doc))


def write_atomically(path: Path, text: str) -> None:
    """A temp file beside `path`, synced, then renamed over it: a reader (or a full disk)
    sees the previous file or the new one, never a part."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write(doc: dict, out: Path) -> list[Path]:
    """Every report rendered first, then each written atomically: a template or encoding
    failure writes nothing, a full disk leaves each file whole (old or new)."""
    out.mkdir(parents=True, exist_ok=True)
    files = {"report.json": jsonout.text(doc), "junit.xml": junit(doc), "report.md": markdown(doc),
             "report.html": html_page(doc)}
    if doc.get("checks"):
        url = (out / "report.html").resolve().as_uri()
        files["patchwork-checks.json"] = jsonout.text(report_checks.patchwork_records(doc["checks"], url))
        files["b4-checks.json"] = jsonout.text(report_checks.b4_records(doc["checks"], url))
    for name, text in files.items():
        write_atomically(out / name, text)
    return [out / n for n in files]


