"""The command line: parse -> call the stage's run -> render -> exit code. Each command is
a few lines; the work is in verify/ (runs.py: one stage alone; compose.py: verify), the
rendering in report/, the exit policy in core.verdicts. No other module imports argparse,
prints a result, or exits.

Exit codes: 0 all good, 1 findings (a patch fails to apply or build, an invariant
breaks), 2 usage or input error, 3 infrastructure failure or nothing judged.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from arena_patches.cli import parser
from arena_patches.core.errors import ArenaPatchesError
from arena_patches.core.verdicts import EXIT_FINDINGS, EXIT_INFRA, EXIT_INPUT, EXIT_OK, Status, exit_code
from arena_patches.demo import expect as demo_expect
from arena_patches.demo import prepare
from arena_patches.mail import spec as spec_mod
from arena_patches.report import files, jsonout, text
from arena_patches.verify import compose, runs
from arena_patches.verify.options import BuildOptions, Inputs

__all__ = ["main", "EXIT_OK", "EXIT_FINDINGS", "EXIT_INPUT", "EXIT_INFRA"]


@contextmanager
def progress(enabled: bool = True) -> Iterator:
    """A live status line on stderr when it is a terminal; silent otherwise."""
    if not enabled or not sys.stderr.isatty():
        yield lambda msg: None
        return
    con = text.console(stderr=True)
    with con.status("starting") as st:
        yield lambda msg: st.update(msg)


def main(argv: list[str] | None = None) -> int:
    args = parser.build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        stream=sys.stderr, format="%(levelname)s: %(message)s")
    try:
        parser.check(args)
        return COMMANDS[args.command](args)
    except ArenaPatchesError as e:
        return _error(args, e, "input" if e.exit_code == EXIT_INPUT else "infrastructure",
                      e.hint, getattr(e, "input", None))
    except KeyboardInterrupt:
        print("arena-patches: interrupted; a re-run resumes from the cache", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except OSError as e:
        # the last net: a file the run could not read or write, named, never a traceback;
        # one the user named on the command line is an input error, anything else the machine's
        given = [a for a in (argv if argv is not None else sys.argv[1:]) if "/" in a]
        named = e.filename is not None and any(str(e.filename).startswith(a) or a.startswith(str(e.filename))
                                               for a in given)
        err = ArenaPatchesError(f"{e.filename or 'a file'}: {e.strerror or e}")
        err.exit_code = EXIT_INPUT if named else EXIT_INFRA
        return _error(args, err, "input" if named else "infrastructure", None,
                      str(e.filename) if e.filename else None)


def _error(args: argparse.Namespace, e: ArenaPatchesError, kind: str, hint, named) -> int:
    print(f"arena-patches: error: {e}", file=sys.stderr)
    if getattr(args, "json", False):  # a script reading stdout still gets a document
        jsonout.dump({"schema": jsonout.SCHEMA_VERSION, "error": {
            "kind": kind, "message": e.message, "hint": hint, "input": named}})
    return e.exit_code


def _show(args: argparse.Namespace, doc, render) -> None:
    if args.json:
        jsonout.dump(doc)
    else:
        render()


def cmd_series(args) -> int:
    s = runs.series(parser.inputs(args))
    _show(args, jsonout.series(s), lambda: text.print_series(s))
    return EXIT_OK


def cmd_apply(args) -> int:
    with progress() as prog:
        results = runs.apply(parser.inputs(args), prog)
    _show(args, jsonout.apply_results(results), lambda: text.print_apply(results))
    return exit_code(runs.apply_outcomes(results))


def cmd_build(args) -> int:
    with progress() as prog:
        run = runs.build(parser.inputs(args), parser.build_options(args), prog)
    _show(args, jsonout.build_results(run.cells, run.stats), lambda: text.print_build(run.cells, run.stats))
    return exit_code(run.outcomes)


def cmd_boot(args) -> int:
    with progress() as prog:
        results = runs.boot(parser.inputs(args), parser.boot_options(args), prog)
    _show(args, jsonout.boot_results(results), lambda: text.print_boot(results))
    return exit_code(r.status for r in results)


def cmd_diff(args) -> int:
    run = runs.diff(parser.inputs(args), args.from_version, args.to_version)
    _show(args, jsonout.comparisons(run.comparisons, run.reviews),
          lambda: text.print_diff(run.comparisons, run.reviews, show_interdiff=args.interdiff))
    return EXIT_OK


def cmd_check(args) -> int:
    with progress() as prog:
        run = runs.check(parser.inputs(args), args.files, prog)
    doc = jsonout.invariants(run.results)
    if run.judged:
        doc["commit"] = run.judged  # the user's HEAD as it was when the run began
        if not args.json:
            print(f"judged {args.tree} at {run.judged}", file=sys.stderr)
    _show(args, doc, lambda: text.print_invariants(run.results))
    return exit_code(run.outcomes)


def cmd_backport(args) -> int:
    with progress() as prog:
        run = runs.backport(parser.inputs(args), parser.backport_options(args), prog)
    _show(args, jsonout.backport_run(run), lambda: text.print_backport_run(run))
    return exit_code(run.outcomes)


def cmd_tree_import(args) -> int:
    with progress() as prog:
        got = runs.import_tree(parser.import_options(args), prog)
    _show(args, jsonout.imported(got, args.dest, args.suite), lambda: text.print_imported(got, args.dest, args.suite))
    return EXIT_OK


def cmd_verify(args) -> int:
    """verify and demo: the stages composed by verify.compose, rendered here."""
    demo = getattr(args, "demo", False) or args.command == "demo"
    with progress() as prog:
        if demo:
            result, expect = _demo(args, prog)
        else:
            result = compose.verify(parser.inputs(args), parser.build_options(args), prog)
    doc = jsonout.verification(result)
    _show(args, doc, lambda: text.print_verification(result))
    if getattr(args, "report_dir", None):
        written = files.write(doc, Path(args.report_dir))
        print("reports: " + ", ".join(str(p) for p in written), file=sys.stderr)
    if getattr(args, "mail", False):
        print(files.mail(doc), file=sys.stderr if args.json else sys.stdout)
    if args.command == "demo":
        return _demo_verdict(args, result, expect)
    if result.status is Status.SKIP and not args.json:
        print("verify: nothing was judged (every stage skipped): the gate cannot say good", file=sys.stderr)
    return exit_code([result.status])


def _demo(args, prog):
    d = prepare.prepare(Path(args.work_dir) / "demo" if args.work_dir else None, progress=prog)
    result = compose.verify(Inputs(str(d.spec), str(d.source), str(d.tree), args.work_dir),
                            BuildOptions(jobs=os.cpu_count() or 2, executor=parser.executor_of(args)), prog)
    return result, spec_mod.load(str(d.spec)).raw.get("expect", {})


def _demo_verdict(args, result, expect: dict) -> int:
    wrong = demo_expect.mismatches(result, expect)
    for w in wrong:
        print(f"demo: {w}", file=sys.stderr)
    if not args.json:
        print("demo: every planted failure was found where it was planted" if not wrong
              else "demo: the tool did not find what the demo plants", file=sys.stderr)
    return EXIT_FINDINGS if wrong else EXIT_OK


COMMANDS = {"series": cmd_series, "apply": cmd_apply, "build": cmd_build, "tree": cmd_tree_import,
            "boot": cmd_boot, "diff": cmd_diff, "check": cmd_check, "backport": cmd_backport,
            "verify": cmd_verify, "demo": cmd_verify}
