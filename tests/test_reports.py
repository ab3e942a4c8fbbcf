"""Report formats: golden files on the real mails (no tree), JUnit structure, and the HTML
report opened in a real browser (Debian's chromium, headless) with a build grid."""
import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from arena_patches import cli
from arena_patches.kbuild import diagnostics as dg
from arena_patches.kbuild.matrix import BuildCell, BuildStats
from arena_patches.core.verdicts import Status
from arena_patches.report import files, jsonout

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("ARENA_PATCHES_REGEN_GOLDEN") == "1"


def golden(name: str, text: str) -> None:
    f = GOLDEN / name
    if REGEN or not f.exists():
        f.write_text(text)
        if not REGEN:
            pytest.fail(f"{f} did not exist: written; check it and commit it")
    assert text == f.read_text(), f"{name} differs (ARENA_PATCHES_REGEN_GOLDEN=1 rewrites it)"


@pytest.mark.lore
def test_real_mails_reports_are_pinned(lore_dir, tmp_path, capsys):
    rc = cli.main(["verify", "--source", str(lore_dir), "--report-dir", str(tmp_path), "--json"])
    out = capsys.readouterr().out
    doc = json.loads(out)
    # no tree: only the mails were read, no code was judged: the gate cannot say "pass"
    assert rc == 3 and doc["status"] == "skip"
    assert doc == json.loads((tmp_path / "report.json").read_text())
    # The review column quotes the mails: pinned as "…" so no mail text enters the repo.
    import re
    md = (tmp_path / "report.md").read_text().replace(str(lore_dir), "<lore>")
    md = re.sub(r"^(\| v\d+ \| \S+ \| \S+ \| ).*( \| (?:yes|no|unknown) \|)$", r"\1…\2", md, flags=re.M)
    golden("real-mails.report.md", md)
    summary = {"status": doc["status"], "stages": doc["stages"],
               "versions": [(v["version"], v["missing"], len(v["replies"])) for v in doc["series"]["versions"]],
               "claims": len(doc["series"]["claims"]),
               "diff": [(c["from"], c["to"], [(p["number"], p["change"], p["flag"]) for p in c["patches"]])
                        for c in doc["diff"]["comparisons"]],
               "reviews": [(r["version"], r["patch"], r["kind"], r["addressed"]) for r in doc["diff"]["reviews"]]}
    golden("real-mails.summary.json", json.dumps(summary, indent=1) + "\n")
    suites = ET.fromstring((tmp_path / "junit.xml").read_text())
    stages = next(s for s in suites if s.get("name").endswith(": stages"))
    assert [c.get("name") for c in stages] == ["series", "apply", "build", "checks", "boot", "invariants", "diff"]
    checks = next(s for s in suites if s.get("name").endswith(": checks"))
    assert len(checks) == len(doc["checks"]) == 8 * 6 * 4 - 10 * 6  # every check on every patch mail
    records = json.loads((tmp_path / "patchwork-checks.json").read_text())
    assert len(records) == 22 and {r["state"] for r in records} == {"success"}  # commit tags judged, all good
    assert all(r["target_url"].endswith("report.html") for r in records)
    b4 = json.loads((tmp_path / "b4-checks.json").read_text())
    assert set(b4[0]) >= {"tool", "status", "summary", "url", "details"}
    assert stages.find("testcase[@name='apply']/skipped") is not None


def _doc_with_grid() -> dict:
    err = dg.parse("kernel/bpf/arena.c:96:1: error: expected ';' before '}' token\n")
    link = dg.parse("verifier.c:(.text+0x1a): undefined reference to `bpf_arena_nr_pages'\n")
    cells = [BuildCell(1, 1, "x86_64", "tiny", "gcc", Status.FAIL, "c1", errors=tuple(err),
                       reproduce="git -C /w checkout -q --detach c1 && make -C /w O=/o ARCH=x86_64 vmlinux"),
             BuildCell(1, 1, "i386", "tiny", "gcc", Status.PASS, "c1", not_built=("kernel/bpf/arena.c",)),
             BuildCell(1, 2, "x86_64", "tiny", "gcc", Status.PASS, "c2"),
             BuildCell(1, 2, "i386", "tiny", "gcc", Status.FAIL, "c2", errors=tuple(link),
                       reproduce="make ARCH=i386 vmlinux")]
    return {"schema": 1, "status": "fail",
            "stages": [{"name": "build", "status": "fail", "reason": "does not build: v1 1 x86_64"}],
            "series": {"series": {"title": "demo: a series", "list": None, "base_tree": None},
                       "versions": [], "claims": []},
            "apply": {"versions": []}, "build": jsonout.build_results(cells, BuildStats()),
            "boot": None, "invariants": None, "diff": {"comparisons": [], "reviews": []}}


def test_junit_has_a_testcase_per_cell():
    root = ET.fromstring(files.junit(_doc_with_grid()))
    build = next(s for s in root if s.get("name").endswith(": build"))
    assert build.get("tests") == "4" and build.get("failures") == "2"
    case = build.find("testcase[@classname='build.v1.i386'][@name='patch 2']")
    assert "undefined reference" in case.find("failure").text and "make ARCH=i386" in case.find("failure").text


def test_html_report_in_a_real_browser(tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed (scripts/setup installs Debian's chromium)")
    page = tmp_path / "report.html"
    page.write_text(files.html_page(_doc_with_grid()))
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(flags + ["--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    assert 'data-cell="v1-1-x86_64"' in dom and 'data-cell="v1-2-i386"' in dom
    assert '<td class="fail" data-cell="v1-1-x86_64"><a href="#fail-v1-1-x86_64">fail</a></td>' in dom
    assert 'id="fail-v1-2-i386"' in dom
    assert "verifier.c: error: undefined reference to `bpf_arena_nr_pages'" in dom  # no ":None"
    assert "make ARCH=i386 vmlinux" in dom
    shot = tmp_path / "report.png"
    subprocess.run(flags + [f"--screenshot={shot}", "--window-size=1280,1600", page.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 5000


@pytest.mark.lore
def test_real_mails_terminal_text_is_pinned(lore_dir, capsys):
    assert cli.main(["series", "--source", str(lore_dir)]) == 0
    golden("real-mails.series.txt", capsys.readouterr().out)
