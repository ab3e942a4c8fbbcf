"""The command line's grammar: argparse, and the typed options (verify/options.py) read
from it. Nothing here runs a stage."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from arena_patches.core import executor
from arena_patches.core.errors import UserError, bad_input
from arena_patches.verify.options import (
    BackportOptions,
    BootOptions,
    BuildOptions,
    ChecksOptions,
    ImportOptions,
    Inputs,
)


def _common(p: argparse.ArgumentParser, tree: bool = False, tree_required: bool = False) -> None:
    p.add_argument("--spec", help="series spec: a TOML path or the name of a series under series/ "
                                  "(default: the one whose Message-IDs the source holds; none: the "
                                  "series is read from its mails alone)")
    p.add_argument("--series", help="when the source holds several series: which one (words of its "
                                    "title, or a Message-ID of one of its mails)")
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
    p.add_argument("--version", default="all", help="a version as reports name it (3, v3, v2#2) or 'all' (default)")
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
    _sandbox_opt(p)


def _sandbox_opt(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-sandbox", action="store_true",
                   help="run the patches' code (make, the tree's scripts, QEMU) without the bwrap "
                        "sandbox, with your rights: only where no sandbox can be made (README: Sandbox)")


def _checks_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checks", help="comma list of checks to run (default: all of them)")
    p.add_argument("--no-checks", action="store_true", help="run no per-patch check")


def _executor_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="where the matrix's units run: here (default) or on Ray")
    p.add_argument("--ray-address", help="with --executor ray: a running cluster's address "
                                         "(default: start a local Ray instance for this run)")


class UsageError(UserError):
    """A command line argparse refuses: said like every input error (exit 2, and with
    --json one JSON document), not by argparse's own exit."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message}", f"{self.prog} --help lists the options",
                         self.prog)


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="arena-patches",
                                 description="Verify a multi-version kernel patch series before merging it.")
    ap.add_argument("-v", "--verbose", action="store_true", help="log what is run, on stderr")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("series", help="read every version of the series: patches, gaps, "
                                      "changelog claims, review replies")
    _common(p, tree=True)

    p = sub.add_parser("apply", help="apply each version to a kernel tree, patch by patch")
    _common(p, tree=True, tree_required=True)
    p.add_argument("--version", default="all", help="a version as reports name it (3, v3, v2#2) or 'all' (default)")
    p.add_argument("--base", help="apply onto this revision instead of guessing the base")

    p = sub.add_parser("build", help="build every patch of each version on each target; "
                                     "without --source/--version, the tree as it is")
    _common(p, tree=True, tree_required=True)
    _build_opts(p)
    p.add_argument("--from-scratch", action="store_true",
                   help="build every state cold, not on the state before it (a check on the "
                        "incremental builds: the cells must be the same)")
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
    _sandbox_opt(p)

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

    p = sub.add_parser("checks", help="the kernel's own per-patch checks (checkpatch, commit tags, "
                                      "kernel-doc, sparse, W=1, Coccinelle) on each patch")
    _common(p, tree=True)
    p.add_argument("--version", default="all", help="a version as reports name it (3, v3, v2#2) or 'all' (default)")
    p.add_argument("--base", help="apply onto this revision instead of guessing the base")
    _checks_opts(p)

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
    _sandbox_opt(p)

    p = sub.add_parser("spec", help="series specs: draft one from the mails")
    ssub = p.add_subparsers(dest="spec_command", required=True, metavar="ACTION")
    sd = ssub.add_parser("draft", help="write series/NAME/spec.toml from the mails alone: versions, "
                                       "every claim with its drafted check, guessed build targets")
    sd.add_argument("--source", required=True, help="the mails: an mbox, a maildir or a directory")
    sd.add_argument("--name", required=True, help="the series' name (its directory under series/)")
    sd.add_argument("--out", help="write here instead of series/NAME/spec.toml")
    sd.add_argument("--series", help="when the source holds several series: which one")
    sd.add_argument("--json", action="store_true")

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
    _checks_opts(p)
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
    _sandbox_opt(p)
    return ap


def executor_of(args: argparse.Namespace):
    return executor.make(getattr(args, "executor", None), getattr(args, "ray_address", None))


_PATHS = ("spec", "source", "tree", "work_dir", "to", "upstream", "files", "config", "report_dir",
          "base", "version", "tarball", "dest")


def check(args: argparse.Namespace) -> None:
    """What can be judged before any work: a bad option is said at once, never after a
    long run (a report dir that is a file would otherwise lose the run's report)."""
    for opt in _PATHS:  # "" is no path: it must not read as "not given" further on
        v = getattr(args, opt, None)
        if isinstance(v, str) and not v.strip():
            raise bad_input(f"--{opt.replace('_', '-')} {v!r}", "is empty")
    jobs = getattr(args, "jobs", None)
    if jobs is not None and jobs < 1:
        raise bad_input(f"--jobs {jobs}", "must be 1 or more")
    executor_of(args)  # --executor/--ray-address judged by the one place that reads them
    for opt in ("targets", "boot_targets"):
        v = getattr(args, opt, None)
        if v is not None and not [n for n in v.split(",") if n.strip()]:
            raise bad_input(f"--{opt.replace('_', '-')} {v!r}", "names no target",
                            "a comma list such as x86_64,arm64; leave the option out for the spec's")
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


def inputs(args: argparse.Namespace) -> Inputs:
    return Inputs(getattr(args, "spec", None), getattr(args, "source", None), getattr(args, "tree", None),
                  getattr(args, "work_dir", None), getattr(args, "version", None), getattr(args, "base", None),
                  getattr(args, "series", None))


def build_options(args: argparse.Namespace) -> BuildOptions:
    return BuildOptions(args.targets, args.toolchain, args.config, args.jobs, args.w1,
                        not getattr(args, "no_build", False), not getattr(args, "no_boot", False),
                        getattr(args, "boot_targets", None), executor_of(args),
                        getattr(args, "from_scratch", False), not args.no_sandbox)


def checks_options(args: argparse.Namespace) -> ChecksOptions:
    return ChecksOptions(getattr(args, "checks", None), not getattr(args, "no_checks", False))


def boot_options(args: argparse.Namespace) -> BootOptions:
    return BootOptions(args.targets, args.toolchain, args.state, args.jobs, executor_of(args),
                       not args.no_sandbox)


def backport_options(args: argparse.Namespace) -> BackportOptions:
    return BackportOptions(args.to, args.upstream, args.build, args.targets, args.jobs, not args.no_sandbox)


def import_options(args: argparse.Namespace) -> ImportOptions:
    return ImportOptions(args.tarball, args.dest, not args.no_checkout, args.suite, args.mirror)
