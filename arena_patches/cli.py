"""Subcommands and exit codes only; the work is in the stage modules.

Exit codes: 0 all good, 1 findings (a patch fails to apply or build, an invariant
breaks), 2 usage or input error, 3 infrastructure failure.
"""
from __future__ import annotations

import argparse
import logging
import sys
from contextlib import ExitStack, contextmanager
from typing import Iterator

from . import pipeline
from .errors import ArenaPatchesError
from .report import jsonout, text

EXIT_OK, EXIT_FINDINGS, EXIT_INPUT, EXIT_INFRA = 0, 1, 2, 3


@contextmanager
def progress(enabled: bool) -> Iterator:
    """A live status line on stderr when it is a terminal; silent otherwise."""
    if not enabled or not sys.stderr.isatty():
        yield lambda msg: None
        return
    con = text.console(stderr=True)
    with con.status("starting") as st:
        yield lambda msg: st.update(msg)


def _common(p: argparse.ArgumentParser, tree: bool = False, tree_required: bool = False) -> None:
    p.add_argument("--spec", help="series spec: a TOML path or a name under series/ "
                                  "(default: arena-kfuncs)")
    p.add_argument("--source", default="lore",
                   help="'lore' (fetch by Message-ID, cached) or a path: an mbox, a maildir, or a "
                        "directory searched for .eml .patch .mbox .mbx (default: lore)")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    if tree:
        p.add_argument("--tree", required=tree_required,
                       help="a kernel git tree; it is only read, never modified")
        p.add_argument("--work-dir", help="where worktrees and caches go "
                                          "(default: ~/.cache/arena-patches/work)")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="arena-patches",
                                 description="Verify a multi-version kernel patch series before merging it.")
    ap.add_argument("-v", "--verbose", action="store_true", help="log what is run, on stderr")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("series", help="read every version of the series: patches, gaps, "
                                      "changelog claims, review replies")
    _common(p, tree=True)

    p = sub.add_parser("apply", help="apply each version to a kernel tree, patch by patch")
    _common(p, tree=True, tree_required=True)
    p.add_argument("--version", default="all", help="a version number or 'all' (default)")
    p.add_argument("--base", help="apply onto this revision instead of guessing the base")

    p = sub.add_parser("tree", help="kernel tree utilities")
    tsub = p.add_subparsers(dest="tree_command", required=True, metavar="ACTION")
    ti = tsub.add_parser("import", help="turn a kernel source tarball into a git tree with one commit")
    ti.add_argument("tarball")
    ti.add_argument("dest")
    ti.add_argument("--no-checkout", action="store_true", help="only the repository, no files")
    ti.add_argument("--json", action="store_true")

    p = sub.add_parser("verify", help="run the stages in order: the pre-merge gate")
    _common(p, tree=True)
    p.add_argument("--version", default="all")
    p.add_argument("--base")
    p.add_argument("--demo", action="store_true",
                   help="verify the embedded demo series on the Debian 6.12 kernel (offline)")

    p = sub.add_parser("demo", help="the embedded default: same as verify --demo")
    p.add_argument("--json", action="store_true")
    p.add_argument("--work-dir")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        stream=sys.stderr, format="%(levelname)s: %(message)s")
    try:
        return _dispatch(args)
    except ArenaPatchesError as e:
        print(f"arena-patches: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("arena-patches: interrupted; a re-run resumes from the cache", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK


def _dispatch(args: argparse.Namespace) -> int:
    cmd = args.command
    if cmd == "series":
        return cmd_series(args)
    if cmd == "apply":
        return cmd_apply(args)
    if cmd == "tree":
        return cmd_tree_import(args)
    if cmd in ("verify", "demo"):
        return cmd_verify(args)
    raise AssertionError(cmd)


def cmd_series(args) -> int:
    spec = pipeline.load_spec(args.spec)
    with ExitStack() as stack:
        wr = pipeline.open_tree(stack, args.tree, args.work_dir)
        s = pipeline.load_series(spec, args.source, wr)
    if args.json:
        jsonout.dump(jsonout.series(s))
    else:
        text.print_series(s)
    return EXIT_OK


def cmd_apply(args) -> int:
    spec = pipeline.load_spec(args.spec)
    with ExitStack() as stack, progress(True) as prog:
        wr = pipeline.open_tree(stack, args.tree, args.work_dir)
        s = pipeline.load_series(spec, args.source, wr)
        versions = pipeline.pick_versions(s, args.version)
        results = pipeline.apply_series(s, wr, versions, args.base, prog)
    if args.json:
        jsonout.dump(jsonout.apply_results(results))
    else:
        text.print_apply(results)
    bad = any(p.status.value in ("conflict", "base-missing", "refused")
              for r in results for p in r.patches)
    return EXIT_FINDINGS if bad else EXIT_OK


def cmd_tree_import(args) -> int:
    from . import tree
    with progress(True) as prog:
        sha, created = tree.import_tarball(args.tarball, args.dest, not args.no_checkout,
                                           progress=lambda n: prog(f"importing: {n} files"))
    if args.json:
        jsonout.dump({"commit": sha, "created": created, "dest": args.dest})
    else:
        print(f"{args.dest}: {'imported' if created else 'already imported'} as {sha}")
    return EXIT_OK


def cmd_verify(args) -> int:
    from . import verify
    return verify.run(args)
