"""Human-readable tables (rich). Colour only when stdout is a terminal.

Untrusted text is never rich markup: the console reads no markup at all, colour comes
from styled() pieces, and every string the console renders is made terminal-safe
(escape.terminal) where it becomes rich text, before any width is measured."""
from __future__ import annotations

import errno
import sys

from rich.console import Console
from rich.table import Table
from rich.text import Text

from arena_patches.core.model import Series
from arena_patches.checks import run as checks_run

from arena_patches.core.verdicts import HunkStatus, Status
from arena_patches.report import escape


class _InertConsole(Console):
    """The terminal's one place: every str rendered (print arguments, table cells and
    titles) passes here, as text, with its control characters shown, not obeyed."""

    def render_str(self, text: str, **kw) -> Text:
        kw["markup"] = False
        return super().render_str(escape.terminal(text), **kw)


def styled(*parts) -> Text:
    """Coloured text without markup: each part a str or a (str, style) pair."""
    return Text.assemble(*((escape.terminal(p[0]), p[1]) if isinstance(p, tuple) else escape.terminal(p)
                           for p in parts))


def console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    if stream is None:  # the descriptor was closed before the run began
        raise OSError(errno.EBADF, f"{'stderr' if stderr else 'stdout'} is closed")
    return _InertConsole(file=stream, highlight=False, soft_wrap=False, markup=False,
                         width=None if stream.isatty() else 120)


def series_table(s: Series) -> Table:
    n = max([v.total for v in s.versions] + [0])
    t = Table(title=(f"{s.info.title}  ({s.info.list or '?'}, base {s.info.base_tree or '?'})"))
    t.add_column("version")
    t.add_column("cover")
    for k in range(1, n + 1):
        t.add_column(f"{k}/{n}", justify="center")
    t.add_column("claims", justify="right")
    t.add_column("replies", justify="right")
    for v in s.versions:
        cells = []
        for k in range(1, n + 1):
            p = v.patch(k)
            if p:
                cells.append(styled(("✓", "green"), ("r" if p.resent_ids else "", "yellow")))
            elif k <= v.total:
                cells.append(styled(("missing", "red")))
            else:
                cells.append("")
        claims = sum(1 for c in s.claims if c.to_version == v.version)
        t.add_row(v.name, "✓" if v.cover else styled(("missing", "red")), *cells,
                  str(claims), str(len(v.replies)))
    return t


def print_series(s: Series, con: Console | None = None) -> None:
    con = con or console()
    con.print(series_table(s))
    for p in s.problems:
        con.print(styled(("warning:", "yellow"), f" {p.origin}: {p.message}"))
    if s.claims:
        con.print(f"{len(s.claims)} changelog claims; "
                  f"{sum(len(v.replies) for v in s.versions)} review replies "
                  "(--json for the whole model)")




def print_apply(results, con: Console | None = None) -> None:
    con = con or console()
    t = Table(title="apply")
    t.add_column("version")
    t.add_column("base")
    n = max([len(r.patches) for r in results] + [0])
    for k in range(1, n + 1):
        t.add_column(f"{k}/{n}", justify="center")
    for r in results:
        cells = [styled((p.status.value, p.status.style)) for p in r.patches]
        t.add_row(f"v{r.version}", f"{r.base[:12]} ({r.base_rule.value})", *cells,
                  *[""] * (n - len(cells)))
    con.print(t)
    for r in results:
        for w in r.warnings:
            con.print(styled(("warning:", "yellow"), f" {w}"))
        for p in r.patches:
            if p.status.is_notable:
                con.print(f"v{r.version} {p.number}/{len(r.patches)} {p.status.value}: {p.detail}", markup=False)
                for c in p.conflicts:
                    con.print(f"    {c.file}" + (f"  {c.hunk}" if c.hunk else ""), markup=False)




def print_build(cells, stats, con: Console | None = None) -> None:
    con = con or console()
    targets = list(dict.fromkeys(c.target for c in cells))
    rows = list(dict.fromkeys((c.version, c.patch) for c in cells))
    by = {(c.version, c.patch, c.target): c for c in cells}
    t = Table(title="build (version × patch × target)")
    t.add_column("patch")
    for name in targets:
        t.add_column(name, justify="center")
    for v, k in rows:
        cells_ = []
        for name in targets:
            c = by.get((v, k, name))
            cells_.append(styled((c.word, c.status.style)) if c else "")
        t.add_row("tree" if v is None else f"v{v} {k}", *cells_)
    con.print(t)
    if any(c.keeps_parent_errors for c in cells):
        con.print("fail*: the patch keeps its parent's errors and introduces none")
    for c in cells:
        if c.status in (Status.WARN, Status.ERROR) or (c.status is Status.FAIL and c.errors) or \
                (c.status is Status.FAIL and not c.inherited):
            where = "tree" if c.version is None else f"v{c.version} {c.patch}"
            con.print(styled((f"{where} {c.target}", "bold"), f" {c.status.value}"
                             + (f": {c.detail}" if c.detail else "")))
            for d in c.errors[:5]:
                con.print(f"    {d}", markup=False)
            for d in c.inherited[:2]:
                con.print(f"    (already in the parent) {d}", markup=False)
            for d in c.new_warnings[:5]:
                con.print(f"    new: {d}", markup=False)
            if c.status is not Status.WARN:
                con.print(f"    reproduce: {c.reproduce}", markup=False)
    skipped = {c.target: c.detail for c in cells if c.status is Status.SKIP and c.commit is None
               and "install" in c.detail}
    for name, why in skipped.items():
        con.print(styled((f"{name} skipped: {why}", "dim")))
    con.print(f"compiler invocations {stats.compiler_invocations}, cached results "
              f"{stats.cached_results}, ccache hits {stats.ccache_hits}/"
              f"{stats.ccache_hits + stats.ccache_misses}, {stats.wall_seconds:.1f} s"
              + (f", sandbox: {stats.sandbox}" if stats.sandbox else ""), markup=False)


PROBE_COLUMNS = ("arena_map", "sleepable_kfunc", "nonsleepable_kfunc", "big_alloc")


def print_boot(results, con: Console | None = None) -> None:
    con = con or console()
    t = Table(title="boot + runtime probe")
    for col in ("target", "state", "status", "arena map", "sleepable", "non-sleepable",
                "big alloc", "boot s"):
        t.add_column(col)
    for r in results:
        p = r.probe or {}
        word = {k: getattr(p.get(k), "value", p.get(k)) or "-" for k in PROBE_COLUMNS}
        t.add_row(r.target, r.state.value, styled((r.status.value, r.status.style)),
                  *(word[k] for k in PROBE_COLUMNS),
                  f"{r.boot_seconds:.1f}" if r.boot_seconds else "-")
    con.print(t)
    for word in dict.fromkeys(r.sandbox for r in results if r.sandbox):
        con.print(f"sandbox: {word}", markup=False)
    for r in results:
        if r.probe and r.probe.get("verifier_log"):
            con.print(f"{r.target}: verifier: {r.probe['verifier_log']}", markup=False)
        if r.detail:
            con.print(f"{r.target} {r.status.value}: {r.detail}", markup=False)
        if r.status.is_trouble and r.reproduce:
            con.print(f"    reproduce: {r.reproduce}", markup=False)


_FLAG_STYLE = {"ok": "green", "undocumented": "yellow", "claim-without-change": "yellow", "n/a": "dim"}


def print_claims(judged, con: Console) -> None:
    t = Table(title="changelog claims, judged on the mails")
    for col in ("version", "patch", "kind", "verdict", "claim", "evidence"):
        t.add_column(col)
    style = {"holds": "green", "contradicted": "red", "unjudged": "dim"}
    for j in judged:
        t.add_row(j.version, str(j.claim.patch or "-"), j.kind, styled((j.verdict.value, style[j.verdict.value])),
                  j.claim.text[:90], j.evidence[:120])
    con.print(t)


def print_diff(comps, reviews, con: Console | None = None, show_interdiff: bool = False,
               judged=(), summary=None) -> None:
    con = con or console()
    if judged:
        print_claims(judged, con)
    if summary:
        con.print(f"diff: {summary[0].value}: {summary[1]}", markup=False)
    for c in comps:
        t = Table(title=f"{c.from_label or f'v{c.from_version}'} -> {c.to_label or f'v{c.to_version}'}")
        for col in ("patch", "change", "changelog", "claims"):
            t.add_column(col)
        for p in c.patches:
            claims = "; ".join(x.text + (f" ({x.asked_by})" if x.asked_by else "") for x in p.claims)
            t.add_row(f"{p.number}", p.change.value, styled((p.flag.value, _FLAG_STYLE[p.flag.value])),
                      claims[:160] or "-")
        con.print(t)
        for x in c.series_claims:
            con.print(f"  series-wide: {x.text}", markup=False)
        if show_interdiff:
            for p in c.patches:
                if p.interdiff:
                    con.print(f"--- interdiff v{c.from_version}->v{c.to_version} patch {p.number}",
                              markup=False)
                    con.print(p.interdiff, markup=False, highlight=False)
    t = Table(title="review tracker")
    for col in ("version", "patch", "kind", "from", "issue", "addressed"):
        t.add_column(col)
    for i in reviews:
        word = styled({True: ("yes", "green"), False: ("no", "red"), None: ("unknown", "dim")}[i.addressed])
        t.add_row(f"v{i.reply.version}", str(i.reply.patch or "cover"), i.reply.kind.value,
                  i.reply.sender.name or i.reply.sender.email, i.issue[:90], word)
    con.print(t)


def print_invariants(results, con: Console | None = None) -> None:
    con = con or console()
    cols = list(dict.fromkeys((c.version, c.patch) for r in results for c in r.cells))
    t = Table(title="invariants (version × patch)")
    t.add_column("invariant")
    for v, k in cols:
        t.add_column("tree" if v is None else f"v{v} {k}", justify="center")
    t.add_column("claimed")
    t.add_column("verdict")
    for r in results:
        by = {(c.version, c.patch): c for c in r.cells}
        cells = [styled((by[c].status.value, by[c].status.style)) if c in by else ""
                 for c in cols]
        t.add_row(r.rule.id, *cells, f"v{r.rule.claimed_in} {r.rule.patch or ''}".strip()
                  if r.rule.claimed_in else "-", r.verdict)
    con.print(t)
    for r in results:
        for c in r.cells:
            if c.status is Status.FAIL:
                where = "tree" if c.version is None else f"v{c.version} {c.patch}"
                con.print(f"{r.rule.id} {where}: {c.detail}", markup=False)
                break


def print_backport_run(run, con: Console | None = None) -> None:
    con = con or console()
    con.print(f"backport of v{run.version} onto {run.to} ({run.target[:12]})", markup=False)
    for p in run.patches:
        con.print(styled((f"{p.number}: {p.status.value}", p.status.style), f" {p.detail}"))
        for h in p.hunks:
            if h.status is HunkStatus.FAILED:
                con.print(f"    {h.file} {h.header}: {h.klass.value if h.klass else '-'}", markup=False)
        if p.missing:
            con.print("    missing: " + ", ".join(
                f"{m.identifier} ({m.kind}" + (f", {m.defined_upstream[:12]}" if m.defined_upstream else "")
                + ")" for m in p.missing), markup=False)
    if run.build is not None:
        print_build(run.build.cells, run.build.stats, con)


def print_imported(got, dest: str, suite: str, con: Console | None = None) -> None:
    con = con or console()
    if got.package:
        con.print(f"{got.package.package} {got.package.version} ({suite}): {got.tarball}")
    con.print(f"{dest}: {'imported' if got.created else 'already imported'} as {got.commit}")
    for x in got.left_out:
        con.print(f"  left out: {x}")


def print_verification(v, con: Console | None = None) -> None:
    con = con or console()
    print_series(v.series, con)
    if v.apply:
        print_apply(v.apply, con)
    if v.build:
        print_build(v.build, v.build_stats, con)
    if v.checks:
        print_checks(v.checks, con)
    if v.boot:
        print_boot(v.boot, con)
    if v.invariants:
        print_invariants(v.invariants, con)
    if v.comparisons or v.reviews:
        print_diff(v.comparisons, v.reviews, con)
    for s in v.stages:
        con.print(styled((f"{s.status.value:5}", s.status.style), f" {s.name}: {s.reason}"
                         + (f" (sandbox: {s.sandbox})" if s.sandbox else "")))
    if v.timings:
        print_timings(v.timings, con)


def print_timings(rows, con: Console | None = None) -> None:
    """Where the time went: each stage, and under the build and boot stages each target."""
    con = con or console()
    # the build's targets run at once: each one's seconds are its own wall time, which
    # overlap; the stage's row is the wall time of all of them
    t = Table(title="where the time went", caption="a stage's targets run at once: their seconds overlap"
              if any(r.target is not None and r.stage == "build" for r in rows) else None)
    for name in ("stage", "seconds", "builds run", "cache hits", "ccache hits/misses"):
        t.add_column(name, justify="left" if name == "stage" else "right")
    for r in rows:
        cc = "" if r.ccache_hits is None else f"{r.ccache_hits}/{r.ccache_misses}"
        t.add_row(r.stage if r.target is None else f"  {r.target}", f"{r.seconds:.1f}",
                  str(r.builds), str(r.cache_hits), cc)
    t.add_row("total", f"{sum(r.seconds for r in rows if r.target is None):.1f}", "", "", "")
    con.print(t)


def print_checks(rs, con: Console | None = None) -> None:
    """The checks' grid (patch x check), each new finding with where it first appeared
    and went away, then the stage's one line (checks_run.outcome, as verify says it)."""
    con = con or console()
    names = list(dict.fromkeys(r.check for r in rs))
    t = Table(title="checks (version × patch)")
    t.add_column("patch")
    for n in names:
        t.add_column(n, justify="center")
    by = {(r.version, r.patch, r.check): r for r in rs}
    for v, k in dict.fromkeys((r.version, r.patch) for r in rs):
        cells = [by.get((v, k, n)) for n in names]
        t.add_row(f"v{v} {k}", *[styled((c.status.value + (f" {len(c.new)}" if c.new else ""), c.status.style))
                                  if c else "" for c in cells])
    con.print(t)
    for r in rs:
        if r.status.is_trouble or r.new:
            con.print(styled((f"v{r.version} {r.patch} {r.check}", r.status.style), f": {r.summary}"))
        for f in r.new:
            here = f"v{r.version} {r.patch}/"
            seen = f" (first seen {f.first_seen})" if f.first_seen and not f.first_seen.startswith(here) else ""
            con.print(f"    {f.status.value} {f}{seen}" + (f" (gone in {f.gone_in})" if f.gone_in else ""))
        for f in (x for x in r.fixed if x.new):  # what this version fixed of what the previous brought
            con.print(styled((f"    fixed in v{r.version} {r.patch}", "green"), f" {f}"))
    st, line = checks_run.outcome(list(rs))
    con.print(styled((f"{st.value:5}", st.style), f" checks: {line}"))
