"""The command line: parse -> call the stage's run -> render -> exit code. Each command is
a few lines; the work is in verify/ (runs.py: one stage alone; compose.py: verify), the
rendering in report/, the exit policy in core.verdicts. No other module imports argparse,
prints a result, or exits.

Exit codes: 0 all good, 1 findings (a patch fails to apply or build, an invariant
breaks), 2 usage or input error, 3 infrastructure failure or nothing judged.
"""
from __future__ import annotations

import argparse
import io
import logging
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from arena_patches.cli import parser
from arena_patches.core.errors import ArenaPatchesError
from arena_patches.core.progress import is_step
from arena_patches.core.verdicts import EXIT_FINDINGS, EXIT_INFRA, EXIT_INPUT, EXIT_OK, Status, exit_code
from arena_patches.demo import expect as demo_expect
from arena_patches.demo import prepare
from arena_patches.mail import spec as spec_mod
from arena_patches.report import checks as report_checks, escape, files, jsonout, text
from arena_patches.verify import compose, runs
from arena_patches.verify.options import BuildOptions, Inputs
from arena_patches.verify.timings import Clock

__all__ = ["main", "EXIT_OK", "EXIT_FINDINGS", "EXIT_INPUT", "EXIT_INFRA"]


@contextmanager
def progress(enabled: bool = True) -> Iterator:
    """A live status line on stderr when it is a terminal; otherwise (a CI log) one line
    per numbered step (`[12/72] v3 2/4 x86_64 pass 41 s`), nothing else."""
    if not enabled or sys.stderr is None:
        yield lambda msg: None
        return
    if not sys.stderr.isatty():
        yield _log_lines()
        return
    con = text.console(stderr=True)
    with con.status("starting") as st:
        yield lambda msg: st.update(msg)


def _log_lines(every: float = 10.0):
    """Progress into a log: every numbered step, and any other message that starts a new
    phase (the cold base build before the first step, an import, a boot) or comes 10 s
    after the last line; never a line per file of a 86,000-file import."""
    last = {"at": float("-inf"), "head": None}

    def say(msg: str) -> None:
        now, head = time.monotonic(), msg.split(" ", 1)[0]
        if is_step(msg) or head != last["head"] or now - last["at"] >= every:
            print(escape.terminal(msg), file=sys.stderr, flush=True)
            last["at"], last["head"] = now, head
    return say


class OutputLost(Exception):
    """stdout cannot take the answer (closed, full): said on stderr, exit 3."""


def main(argv: list[str] | None = None) -> int:
    _tolerant_streams()
    try:
        args = parser.build_parser().parse_args(argv)
    except parser.UsageError as e:
        given = argv if argv is not None else sys.argv[1:]
        return _error(argparse.Namespace(json="--json" in given, dumped=False), e, "input", e.hint, e.input)
    args.dumped = False  # one JSON document per run: an error after the answer adds none
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_InertFormatter("%(levelname)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, handlers=[handler])
    try:
        try:
            parser.check(args)
            rc = COMMANDS[args.command](args)
        except ArenaPatchesError as e:
            rc = _error(args, e, "input" if e.exit_code == EXIT_INPUT else "infrastructure",
                        e.hint, getattr(e, "input", None))
        except KeyboardInterrupt:
            _say("interrupted; a re-run resumes from the cache")
            _error_doc(args, "interrupted", "interrupted; a re-run resumes from the cache", None, None)
            return 130
        except BrokenPipeError:
            _quiet_stdout()
            return EXIT_OK
        except OSError as e:
            rc = _os_error(args, argv, e)
        _flush()
        return rc
    except OutputLost as e:
        _quiet_stdout()
        _say(f"stdout cannot take the answer ({e}); nothing was printed")
        return EXIT_INFRA
    except BrokenPipeError:  # the reader left (| head) while an error was being said
        _quiet_stdout()
        return EXIT_OK


class _InertFormatter(logging.Formatter):
    """-v logs what is run, subjects and paths included: shown, never obeyed, like stdout."""

    def format(self, record: logging.LogRecord) -> str:
        return escape.terminal(super().format(record))


def _tolerant_streams() -> None:
    """A character the terminal's encoding lacks ("Łukasz" under PYTHONIOENCODING=latin-1)
    is shown as an escape, never a UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="backslashreplace")
            except (OSError, ValueError):  # its descriptor is gone: said when written to
                pass


def _say(message: str) -> None:
    if sys.stderr is not None:
        print(f"arena-patches: {escape.terminal(message)}", file=sys.stderr)


def _flush() -> None:
    if sys.stdout is None:
        return
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_stdout()
    except OSError as e:
        raise OutputLost(e.strerror or str(e)) from None


def _quiet_stdout() -> None:
    """What could not be written is dropped here, not again at exit ("Exception ignored")."""
    try:
        out = sys.stdout.fileno()
        fd = os.open(os.devnull, os.O_WRONLY)
        if fd != out:  # with fd 1 closed, devnull opens as fd 1 itself: keep it open
            os.dup2(fd, out)
            os.close(fd)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass


def _os_error(args: argparse.Namespace, argv, e: OSError) -> int:
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
    _say(f"error: {e}")
    _error_doc(args, kind, e.message, hint, named)
    return e.exit_code


def _error_doc(args: argparse.Namespace, kind: str, message: str, hint, named) -> None:
    """With --json, a script reading stdout still gets a document, and only one."""
    if getattr(args, "json", False) and not getattr(args, "dumped", False):
        try:
            _dump(args, {"schema": jsonout.SCHEMA_VERSION, "error": {
                "kind": kind, "message": message, "hint": hint, "input": named}})
        except BrokenPipeError:  # the reader left: the exit code still says what happened
            _quiet_stdout()


def _dump(args: argparse.Namespace, doc) -> None:
    args.dumped = True
    try:
        jsonout.dump(doc)
    except BrokenPipeError:
        raise
    except (OSError, ValueError) as e:  # closed (ValueError: I/O on a closed file) or full
        raise OutputLost(getattr(e, "strerror", None) or str(e)) from None


def _show(args: argparse.Namespace, doc, render) -> None:
    if args.json:
        _dump(args, doc)
        return
    try:
        render()
    except BrokenPipeError:
        raise
    except OSError as e:  # rendering only writes: stdout is full or gone
        raise OutputLost(e.strerror or str(e)) from None


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
    _show(args, jsonout.comparisons(run.comparisons, run.reviews, run.claims, run.status, run.summary),
          lambda: text.print_diff(run.comparisons, run.reviews, show_interdiff=args.interdiff,
                                  judged=run.claims, summary=(run.status, run.summary)))
    return exit_code(run.outcomes)


def cmd_check(args) -> int:
    with progress() as prog:
        run = runs.check(parser.inputs(args), args.files, prog)
    doc = jsonout.invariants(run.results)
    if run.judged:
        doc["commit"] = run.judged  # the user's HEAD as it was when the run began
        if not args.json:
            print(escape.terminal(f"judged {args.tree} at {run.judged}"), file=sys.stderr)
    _show(args, doc, lambda: text.print_invariants(run.results))
    return exit_code(run.outcomes)


def cmd_checks(args) -> int:
    with progress() as prog:
        run = runs.checks(parser.inputs(args), parser.checks_options(args), prog)
    _show(args, report_checks.document(run.results), lambda: text.print_checks(run.results))
    return exit_code(run.outcomes)


def cmd_backport(args) -> int:
    with progress() as prog:
        run = runs.backport(parser.inputs(args), parser.backport_options(args), prog)
    _show(args, jsonout.backport_run(run), lambda: text.print_backport_run(run))
    return exit_code(run.outcomes)


def cmd_spec(args) -> int:
    path = runs.spec_draft(parser.inputs(args), args.name, args.out)
    _show(args, {"schema": jsonout.SCHEMA_VERSION, "written": str(path)}, lambda: print(f"wrote {path}"))
    return EXIT_OK


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
            result = compose.verify(parser.inputs(args), parser.build_options(args), prog,
                                    checks=parser.checks_options(args))
    doc = jsonout.verification(result)
    lost = _reports(args, doc)  # before the answer: its failure is part of the one document
    _show(args, doc, lambda: text.print_verification(result))
    if lost:
        return EXIT_INFRA
    if getattr(args, "mail", False):
        print(files.mail(doc), file=sys.stderr if args.json else sys.stdout)
    if args.command == "demo":
        return _demo_verdict(args, result, expect)
    if result.status is Status.SKIP and not args.json:
        print("verify: nothing was judged (every stage skipped): the gate cannot say good", file=sys.stderr)
    return exit_code([result.status])


def _reports(args, doc: dict) -> bool:
    """Write --report-dir's files; a failure (a full disk) is said on stderr and in the
    document (`reports_error`), and each file is left whole, old or new."""
    if not getattr(args, "report_dir", None):
        return False
    try:
        written = files.write(doc, Path(args.report_dir))
    except OSError as e:
        doc["reports_error"] = f"{e.filename or args.report_dir}: {e.strerror or e}"
        _say(f"error: the reports were not written: {doc['reports_error']}")
        return True
    print(escape.terminal("reports: " + ", ".join(str(p) for p in written)), file=sys.stderr)
    return False


def _demo(args, prog):
    clock = Clock()
    with clock.stage("prepare"):  # the 6.12 import (once) and the demo series' mails
        d = prepare.prepare(Path(args.work_dir) / "demo" if args.work_dir else None, progress=prog)
    result = compose.verify(Inputs(str(d.spec), str(d.source), str(d.tree), args.work_dir),
                            BuildOptions(jobs=os.cpu_count() or 2, executor=parser.executor_of(args),
                                         sandbox=not args.no_sandbox), prog,
                            clock)
    return result, spec_mod.load(str(d.spec)).raw.get("expect", {})


def _demo_verdict(args, result, expect: dict) -> int:
    wrong = demo_expect.mismatches(result, expect)
    for w in wrong:
        print(escape.terminal(f"demo: {w}"), file=sys.stderr)
    if not args.json:
        print("demo: every planted failure was found where it was planted" if not wrong
              else "demo: the tool did not find what the demo plants", file=sys.stderr)
    return EXIT_FINDINGS if wrong else EXIT_OK


COMMANDS = {"series": cmd_series, "apply": cmd_apply, "build": cmd_build, "tree": cmd_tree_import,
            "boot": cmd_boot, "diff": cmd_diff, "check": cmd_check, "checks": cmd_checks, "backport": cmd_backport,
            "verify": cmd_verify, "demo": cmd_verify, "spec": cmd_spec}
