"""Subcommands and exit codes only; the work is in the stage modules.

Exit codes: 0 all good, 1 findings (a patch fails to apply or build, an invariant
breaks), 2 usage or input error, 3 infrastructure failure.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

from arena_patches.verify import stages as pipeline
from arena_patches.core.errors import ArenaPatchesError, bad_input
from arena_patches.core.model import exit_code
from arena_patches.report import jsonout, text

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
    p.add_argument("--spec", help="series spec: a TOML path or the name of a shipped spec "
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


def _build_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("--version", default="all", help="a version number or 'all' (default)")
    p.add_argument("--base", help="apply onto this revision instead of guessing the base")
    p.add_argument("--targets", help="comma list of x86_64,i386,arm,arm64,riscv64,loongarch64 "
                                     "(default: the spec's)")
    p.add_argument("--toolchain", choices=("gcc", "llvm"),
                   help="compiler family where the target has both (loongarch64: llvm only)")
    p.add_argument("--config", help="tiny (default: tinyconfig + the series' options), defconfig, "
                                    "allmodconfig, or a kconfig fragment file")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="make -j")
    p.add_argument("--w1", action="store_true", help="build with W=1 (extra warnings)")
    _executor_opts(p)


def _executor_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="where the matrix's units run: here (default) or on Ray")
    p.add_argument("--ray-address", help="with --executor ray: a running cluster's address "
                                         "(default: start a local Ray instance for this run)")


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

    p = sub.add_parser("build", help="build every patch of each version on each target; "
                                     "without --source/--version, the tree as it is")
    _common(p, tree=True, tree_required=True)
    _build_opts(p)
    p.set_defaults(source=None, version=None)

    p = sub.add_parser("boot", help="boot the result per target in QEMU and run the arena probe")
    _common(p, tree=True, tree_required=True)
    p.set_defaults(source=None)
    p.add_argument("--version", help="boot the last patch of this version (needs --source); "
                                     "without it, the tree as it is")
    p.add_argument("--base", help="apply onto this revision instead of guessing the base")
    p.add_argument("--targets", help="comma list (default: the spec's [boot] targets)")
    p.add_argument("--toolchain", choices=("gcc", "llvm"))
    p.add_argument("--state", choices=("before", "after"),
                   help="which expectations apply (default: before for the tree as is, "
                        "after for a version)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    _executor_opts(p)

    p = sub.add_parser("diff", help="compare versions against their changelogs; track reviews")
    _common(p)
    p.add_argument("--from", dest="from_version", type=int, help="older version (default: each pair)")
    p.add_argument("--to", dest="to_version", type=int, help="newer version")
    p.add_argument("--interdiff", action="store_true", help="print each changed patch's interdiff")

    p = sub.add_parser("check", help="hold the tree, each applied patch, or loose files "
                                     "against the spec's invariants")
    _common(p, tree=True)
    p.set_defaults(source=None)
    p.add_argument("--files", help="a directory of C files to judge (no tree needed)")
    p.add_argument("--version", help="with --source: a version number or 'all'")
    p.add_argument("--base", help="apply onto this revision instead of guessing the base")

    p = sub.add_parser("backport", help="carry a version to a stable tree; say what stands in the way")
    _common(p)
    p.add_argument("--to", required=True, help="the stable tree (a git tree; only read)")
    p.add_argument("--version", help="the version to carry (default: the newest)")
    p.add_argument("--upstream", help="a newer tree: name the commit that introduced each missing piece")
    p.add_argument("--work-dir")
    p.add_argument("--build", action="store_true",
                   help="when every patch applies, build the result on the spec's targets")
    p.add_argument("--targets", help="with --build: comma list of targets")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 2)

    p = sub.add_parser("tree", help="kernel tree utilities")
    tsub = p.add_subparsers(dest="tree_command", required=True, metavar="ACTION")
    ti = tsub.add_parser("import", help="turn a kernel source tarball into a git tree with one commit")
    ti.add_argument("tarball", help="a .tar.xz/.tar.gz, or debian:linux-source-X.Y (fetched from "
                    "another Debian suite into the cache; the machine's apt set-up is not touched)")
    ti.add_argument("dest")
    ti.add_argument("--suite", default="sid", help="with debian:: the Debian suite (default sid)")
    ti.add_argument("--mirror", help="with debian:: the archive URL (default: the machine's own)")
    ti.add_argument("--no-checkout", action="store_true", help="only the repository, no files")
    ti.add_argument("--json", action="store_true")

    p = sub.add_parser("verify", help="run the stages in order: the pre-merge gate")
    _common(p, tree=True)
    _build_opts(p)
    p.add_argument("--no-build", action="store_true", help="skip the build stage")
    p.add_argument("--no-boot", action="store_true", help="skip the boot stage")
    p.add_argument("--boot-targets", help="comma list (default: the spec's [boot] targets)")
    p.add_argument("--report-dir", help="write report.json, junit.xml, report.md, report.html here")
    p.add_argument("--mail", action="store_true", help="print a reply in the style maintainers post")
    p.add_argument("--demo", action="store_true",
                   help="verify the embedded demo series on the Debian 6.12 kernel (offline)")

    p = sub.add_parser("demo", help="the embedded default: same as verify --demo")
    p.add_argument("--json", action="store_true")
    p.add_argument("--work-dir")
    p.add_argument("--report-dir", help="write report.json, junit.xml, report.md, report.html here")
    p.add_argument("--mail", action="store_true", help="print a reply in the style maintainers post")
    _executor_opts(p)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        stream=sys.stderr, format="%(levelname)s: %(message)s")
    try:
        return _dispatch(args)
    except ArenaPatchesError as e:
        print(f"arena-patches: error: {e}", file=sys.stderr)
        if getattr(args, "json", False):  # a script reading stdout still gets a document
            jsonout.dump({"schema": jsonout.SCHEMA_VERSION, "error": {
                "kind": "input" if e.exit_code == 2 else "infrastructure",
                "message": e.message, "hint": e.hint, "input": getattr(e, "input", None)}})
        return e.exit_code
    except KeyboardInterrupt:
        print("arena-patches: interrupted; a re-run resumes from the cache", file=sys.stderr)
        return 130
    except OSError as e:
        # the last net: a file the run could not read or write, named, never a traceback;
        # one the user named on the command line is an input error, anything else the machine's
        named = e.filename is not None and any(str(e.filename).startswith(a) or a.startswith(str(e.filename))
                                               for a in (argv if argv is not None else sys.argv[1:]) if a.startswith("/") or "/" in a)
        err = ArenaPatchesError(f"{e.filename or 'a file'}: {e.strerror or e}")
        err.exit_code = 2 if named else 3
        print(f"arena-patches: error: {err}", file=sys.stderr)
        if getattr(args, "json", False):
            jsonout.dump({"schema": jsonout.SCHEMA_VERSION, "error": {
                "kind": "input" if named else "infrastructure", "message": err.message, "hint": None,
                "input": str(e.filename) if e.filename else None}})
        return err.exit_code
    except BrokenPipeError:
        return EXIT_OK


def executor_of(args: argparse.Namespace):
    from arena_patches.core import executor
    return executor.make(getattr(args, "executor", None), getattr(args, "ray_address", None))


def _check_args(args: argparse.Namespace) -> None:
    """What can be judged before any work: a bad option is said at once, never after a
    long run (a report dir that is a file would otherwise lose the run's report)."""
    jobs = getattr(args, "jobs", None)
    if jobs is not None and jobs < 1:
        raise bad_input(f"--jobs {jobs}", "must be 1 or more")
    executor_of(args)  # --executor/--ray-address judged by the one place that reads them
    rd = getattr(args, "report_dir", None)
    if rd:
        p = Path(rd)
        if p.exists() and not p.is_dir():
            raise bad_input(f"--report-dir {rd}", "exists and is not a directory")
        try:
            p.mkdir(parents=True, exist_ok=True)
            probe = p / ".arena-patches-probe"
            probe.touch()
            probe.unlink()
        except OSError as e:
            raise bad_input(f"--report-dir {rd}", f"cannot be written ({e.strerror or e})")


def _dispatch(args: argparse.Namespace) -> int:
    _check_args(args)
    cmd = args.command
    if cmd == "series":
        return cmd_series(args)
    if cmd == "apply":
        return cmd_apply(args)
    if cmd == "build":
        return cmd_build(args)
    if cmd == "tree":
        return cmd_tree_import(args)
    if cmd == "boot":
        return cmd_boot(args)
    if cmd == "diff":
        return cmd_diff(args)
    if cmd == "check":
        return cmd_check(args)
    if cmd == "backport":
        return cmd_backport(args)
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
    bad = any(p.status.is_finding
              for r in results for p in r.patches)
    return EXIT_FINDINGS if bad else EXIT_OK


def cmd_build(args) -> int:
    spec = pipeline.load_spec(args.spec)
    with ExitStack() as stack, progress(True) as prog:
        wr = pipeline.open_tree(stack, args.tree, args.work_dir)
        if args.source is None and args.version is None:  # the tree as it is
            commit = wr.resolve("HEAD")
            cells, stats = pipeline.build_tree(spec, wr, commit, args.targets, args.toolchain,
                                               args.config, args.jobs, args.w1, prog, executor_of(args))
        else:
            s = pipeline.load_series(spec, args.source or "lore", wr)
            applied = pipeline.apply_series(s, wr, pipeline.pick_versions(s, args.version or "all"),
                                            args.base, prog)
            cells, stats = pipeline.build_series(spec, s, wr, applied, args.targets, args.toolchain,
                                                 args.config, args.jobs, args.w1, prog,
                                                 executor_of(args))
    if args.json:
        jsonout.dump(jsonout.build_results(cells, stats))
    else:
        text.print_build(cells, stats)
    return exit_code(c.status for c in cells)


def cmd_boot(args) -> int:
    from arena_patches.boot import stage
    from arena_patches.build import targets as targets_mod
    spec = pipeline.load_spec(args.spec)
    boot_default = tuple(spec.raw.get("boot", {}).get("targets", ())) or ("x86_64",)
    chosen = targets_mod.select(args.targets, boot_default)
    with ExitStack() as stack, progress(True) as prog:
        wr = pipeline.open_tree(stack, args.tree, args.work_dir)
        version = patch = None
        if args.source or args.version:
            s = pipeline.load_series(spec, args.source or "lore", wr)
            (n,) = pipeline.pick_versions(s, args.version or str(s.versions[-1].version))
            (r,) = pipeline.apply_series(s, wr, [n], args.base, prog)
            if r.head is None:
                from arena_patches.core.errors import UserError
                raise UserError(f"v{n}: patch 1 does not apply, nothing to boot")
            commit, version = r.head, n
            patch = max(p.number for p in r.patches if p.commit)
            state = args.state or "after"
        else:
            commit, state = wr.resolve("HEAD"), args.state or "before"
        results = stage.boot_targets(wr, spec, chosen, args.toolchain, commit, state, version,
                                     patch, args.jobs, prog, executor_of(args))
    if args.json:
        jsonout.dump(jsonout.boot_results(results))
    else:
        text.print_boot(results)
    return exit_code(r.status for r in results)


def cmd_diff(args) -> int:
    from arena_patches.review import compare as versions
    spec = pipeline.load_spec(args.spec)
    s = pipeline.load_series(spec, args.source)
    have = [v.version for v in s.versions]
    if args.from_version is not None or args.to_version is not None:
        a = args.from_version if args.from_version is not None else max(
            (n for n in have if n < args.to_version), default=None)
        b = args.to_version if args.to_version is not None else min(
            (n for n in have if n > a), default=None)
        for n, what in ((a, "--from"), (b, "--to")):
            if n not in have:
                from arena_patches.core.errors import bad_input
                raise bad_input(f"{what} {n}", f"the source holds versions {have}")
        pairs = [(a, b)]
    else:
        pairs = versions.consecutive(s)
    all_pairs = {(a, b): versions.compare(s, a, b) for a, b in versions.consecutive(s)}
    comps = [all_pairs.get((a, b)) or versions.compare(s, a, b) for a, b in pairs]
    reviews = versions.track(s, all_pairs)
    if args.json:
        jsonout.dump(jsonout.comparisons(comps, reviews))
    else:
        text.print_diff(comps, reviews, show_interdiff=args.interdiff)
    return EXIT_OK


def cmd_check(args) -> int:
    from pathlib import Path
    from arena_patches.invariants import evaluate, rules
    from arena_patches.core.errors import UserError
    spec = pipeline.load_spec(args.spec)
    rs = rules.from_spec(spec.raw, spec.path)
    judged = None
    if not rs:
        raise UserError(f"{spec.path}: the spec has no [[invariants]]")
    if args.files:
        root = Path(args.files)
        if not root.is_dir():
            from arena_patches.core.errors import bad_input
            raise bad_input(f"--files {args.files}", "not a directory")
        results = evaluate.over_texts(rs, evaluate.files_reader(root))
    elif not args.tree:
        raise UserError("check needs --tree T (with --source for the series' versions) or --files DIR")
    else:
        with ExitStack() as stack, progress(True) as prog:
            wr = pipeline.open_tree(stack, args.tree, args.work_dir)
            if args.source or args.version:
                s = pipeline.load_series(spec, args.source or "lore", wr)
                applied = pipeline.apply_series(s, wr, pipeline.pick_versions(s, args.version),
                                                args.base, prog)
                results = evaluate.over_versions(wr, rs, applied)
            else:
                judged = wr.resolve("HEAD")
                results = evaluate.over_texts(rs, evaluate.commit_reader(wr, judged))
    if args.json:
        doc = jsonout.invariants(results)
        if judged:
            doc["commit"] = judged  # the user's HEAD as it was when the run began
        jsonout.dump(doc)
    else:
        if judged:
            print(f"judged {args.tree} at {judged}", file=sys.stderr)
        text.print_invariants(results)
    bad = any(r.verdict in ("regressed", "later", "never") or
              (r.first_holds is None and any(c.status.is_finding for c in r.cells) and
               all(c.version is None for c in r.cells)) for r in results)
    return EXIT_FINDINGS if bad else EXIT_OK


def cmd_backport(args) -> int:
    from arena_patches.tree import backport
    spec = pipeline.load_spec(args.spec)
    with ExitStack() as stack, progress(True) as prog:
        wr = pipeline.open_tree(stack, args.to, args.work_dir)
        s = pipeline.load_series(spec, args.source)
        (n,) = pipeline.pick_versions(s, args.version or str(s.versions[-1].version))
        upstream = None
        if args.upstream:
            from arena_patches.tree import repo as tree_mod
            upstream = tree_mod.open_user_tree(args.upstream).path
        target, patches = backport.backport(wr, s.version(n), upstream, None, prog)
        cells = stats = None
        if args.build and all(p.status == "applied" for p in patches):
            applied = (backport.as_applied(s.version(n), target, patches),)
            cells, stats = pipeline.build_series(spec, s, wr, applied, args.targets, None, None,
                                                 args.jobs, False, prog)
    doc = jsonout.backport(str(args.to), target, n, patches)
    if cells is not None:
        doc["build"] = jsonout.build_results(cells, stats)
    elif args.build:
        doc["build"] = None  # not every patch applied: nothing to build
    if args.json:
        jsonout.dump(doc)
    else:
        text.print_backport(doc)
        if cells is not None:
            text.print_build(cells, stats)
    failed = cells is not None and any(c.status.is_finding for c in cells)
    return EXIT_FINDINGS if failed or any(p.status != "applied" for p in patches) else EXIT_OK


def cmd_tree_import(args) -> int:
    from arena_patches.tree import debian
    from arena_patches.tree import repo as tree
    fetched = None
    with progress(True) as prog:
        tarball = args.tarball
        if debian.is_debian_ref(tarball):
            prog(f"fetching {tarball} from Debian {args.suite}")
            fetched = debian.fetch(tarball, suite=args.suite, mirror=args.mirror)
            tarball = fetched.tarball
        sha, created, left_out = tree.import_tarball(tarball, args.dest, not args.no_checkout,
                                                     progress=lambda n: prog(f"importing: {n} files"))
    if args.json:
        doc = {"commit": sha, "created": created, "dest": args.dest, "tarball": str(tarball),
               "left_out": list(left_out)}
        if fetched:
            doc["package"] = {"name": fetched.package, "version": fetched.version,
                              "suite": args.suite, "downloaded": fetched.downloaded}
        jsonout.dump(doc)
    else:
        if fetched:
            print(f"{fetched.package} {fetched.version} ({args.suite}): {tarball}")
        print(f"{args.dest}: {'imported' if created else 'already imported'} as {sha}")
        for x in left_out:
            print(f"  left out: {x}")
    return EXIT_OK


def cmd_verify(args) -> int:
    """verify and demo: the stages composed by verify.verify, rendered here."""
    from arena_patches.core.model import Status
    from arena_patches.verify.compose import BuildOptions, expectation_mismatches, show, to_json, verify
    demo_mode = getattr(args, "demo", False) or args.command == "demo"
    with progress(True) as prog:
        if demo_mode:
            from arena_patches.demo import prepare as demo
            from arena_patches.mail import spec as spec_mod
            d = demo.prepare(Path(args.work_dir) / "demo" if args.work_dir else None, progress=prog)
            result = verify(str(d.spec), str(d.source), str(d.tree), args.work_dir, progress=prog,
                            build=BuildOptions(jobs=os.cpu_count() or 2, executor=executor_of(args)))
            expect = spec_mod.load(str(d.spec)).raw.get("expect", {})
        else:
            result = verify(args.spec, args.source, args.tree, args.work_dir, args.version,
                            args.base, prog, BuildOptions(args.targets, args.toolchain, args.config,
                                                          args.jobs, args.w1, not args.no_build,
                                                          not args.no_boot, args.boot_targets,
                                                          executor_of(args)))
    doc = to_json(result)
    if args.json:
        jsonout.dump(doc)
    else:
        show(result)
    if getattr(args, "report_dir", None):
        from arena_patches.report import files
        written = files.write(doc, Path(args.report_dir))
        print("reports: " + ", ".join(str(p) for p in written), file=sys.stderr)
    if getattr(args, "mail", False):
        from arena_patches.report import files
        print(files.mail(doc), file=sys.stderr if args.json else sys.stdout)
    if args.command == "demo":
        wrong = expectation_mismatches(result, expect)
        for w in wrong:
            print(f"demo: {w}", file=sys.stderr)
        if not args.json:
            print("demo: every planted failure was found where it was planted" if not wrong
                  else "demo: the tool did not find what the demo plants", file=sys.stderr)
        return EXIT_FINDINGS if wrong else EXIT_OK
    if result.status is Status.SKIP and not args.json:
        print("verify: nothing was judged (every stage skipped): the gate cannot say good", file=sys.stderr)
    return exit_code([result.status])

