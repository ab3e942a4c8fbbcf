"""verify --report-dir: report.json (the one schema), junit.xml (one testcase per
version/patch/target, per boot, per invariant), report.md, report.html (one file, jinja2),
and the reply a maintainer would post on the list (--mail)."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jinja2

from arena_patches.core.verdicts import Status

TEMPLATES = Path(__file__).resolve().parent / "templates"
TROUBLE = {s.value for s in Status if s.is_trouble}


def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                              autoescape=jinja2.select_autoescape(["html"]),
                              trim_blocks=True, lstrip_blocks=True)


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
        _case(s, "stages", st["name"], st["status"], st["reason"])
    s = ET.SubElement(root, "testsuite", name=f"{title}: apply")
    for v in doc["apply"]["versions"]:
        for p in v["patches"]:
            _case(s, f"apply.v{v['version']}", f"patch {p['number']}", p["outcome"],
                  p["detail"] or p["status"])
    if doc.get("build"):
        s = ET.SubElement(root, "testsuite", name=f"{title}: build")
        for c in doc["build"]["results"]:
            lines = "\n".join(f"{e['file']}{':' + str(e['line']) if e['line'] else ''}: "
                               f"{e['severity']}: {e['message']}"
                              for e in c["errors"] + c["inherited_errors"] + c["new_warnings"])
            _case(s, f"build.v{c['version']}.{c['target']}", f"patch {c['patch']}", c["status"],
                  c["detail"] or (c["errors"][0]["message"] if c["errors"] else c["status"]),
                  f"{lines}\nreproduce: {c['reproduce']}")
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
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


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
    return _env().get_template("report.md.j2").render(**_context(doc))


def html_page(doc: dict) -> str:
    return _env().get_template("report.html.j2").render(**_context(doc))


def mail(doc: dict) -> str:
    return _env().get_template("reply.txt.j2").render(**_context(doc))


def write(doc: dict, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    files = {"report.json": json.dumps(doc, indent=2, ensure_ascii=False) + "\n",
             "junit.xml": junit(doc), "report.md": markdown(doc), "report.html": html_page(doc)}
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
    return [out / n for n in files]


