"""Human-readable tables (rich). Colour only when stdout is a terminal."""
from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

from ..model import Series


def console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    return Console(file=stream, highlight=False, soft_wrap=False,
                   width=None if stream.isatty() else 120)


def series_table(s: Series) -> Table:
    n = max([v.total for v in s.versions] + [0])
    t = Table(title=f"{s.info.title}  ({s.info.list or '?'}, base {s.info.base_tree or '?'})")
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
                cells.append("[green]✓[/]" + ("[yellow]r[/]" if p.resent_ids else ""))
            elif k <= v.total:
                cells.append("[red]missing[/]")
            else:
                cells.append("")
        claims = sum(1 for c in s.claims if c.to_version == v.version)
        t.add_row(f"v{v.version}", "✓" if v.cover else "[red]missing[/]", *cells,
                  str(claims), str(len(v.replies)))
    return t


def print_series(s: Series, con: Console | None = None) -> None:
    con = con or console()
    con.print(series_table(s))
    for p in s.problems:
        con.print(f"[yellow]warning:[/] {p.origin}: {p.message}")
    if s.claims:
        con.print(f"{len(s.claims)} changelog claims; "
                  f"{sum(len(v.replies) for v in s.versions)} review replies "
                  "(--json for the whole model)")


_APPLY_STYLE = {"applied": "green", "applied-3way": "yellow", "conflict": "red",
                "skipped": "dim", "base-missing": "magenta", "refused": "red"}


def print_apply(results, con: Console | None = None) -> None:
    con = con or console()
    t = Table(title="apply")
    t.add_column("version")
    t.add_column("base")
    n = max([len(r.patches) for r in results] + [0])
    for k in range(1, n + 1):
        t.add_column(f"{k}/{n}", justify="center")
    for r in results:
        cells = [f"[{_APPLY_STYLE[p.status.value]}]{p.status.value}[/]" for p in r.patches]
        t.add_row(f"v{r.version}", f"{r.base[:12]} ({r.base_rule.value})", *cells,
                  *[""] * (n - len(cells)))
    con.print(t)
    for r in results:
        for w in r.warnings:
            con.print(f"[yellow]warning:[/] {w}")
        for p in r.patches:
            if p.status.value in ("conflict", "base-missing", "refused"):
                con.print(f"v{r.version} {p.number}/{len(r.patches)} {p.status.value}: {p.detail}")
                for c in p.conflicts:
                    con.print(f"    {c.file}" + (f"  {c.hunk}" if c.hunk else ""))
