"""The typed options every run takes: what the command line says, once parsed. The CLI
builds them from argparse; everything under verify/ reads nothing else."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Inputs:
    """Where a run reads from: the series spec, the mails, the user's tree (only read),
    the work dir, and which version onto which base."""

    spec: str | None = None
    source: str | None = "lore"
    tree: str | None = None
    work_dir: str | None = None
    version: str | None = None  # a number or 'all'; None: the command's default
    base: str | None = None
    series: str | None = None  # which series of a source holding several (a title's words)


@dataclass(frozen=True)
class BuildOptions:
    targets: str | None = None
    toolchain: str | None = None
    config: str | None = None
    jobs: int = 2
    w1: bool = False
    enabled: bool = True
    boot: bool = True
    boot_targets: str | None = None
    executor: Any = None  # core.executor.LocalExecutor (None) or RayExecutor
    scratch: bool = False  # build: every state cold, not on the one before (a check)
    sandbox: bool = True  # the tree's code in bwrap (core/sandbox.py); False: --no-sandbox


@dataclass(frozen=True)
class BootOptions:
    targets: str | None = None
    toolchain: str | None = None
    state: str | None = None  # before | after; None: before for the tree as is, after for a version
    jobs: int = 2
    executor: Any = None
    sandbox: bool = True


@dataclass(frozen=True)
class BackportOptions:
    to: str = ""  # the stable tree
    upstream: str | None = None
    build: bool = False
    targets: str | None = None
    jobs: int = 2
    sandbox: bool = True


@dataclass(frozen=True)
class ImportOptions:
    tarball: str = ""
    dest: str = ""
    checkout: bool = True
    suite: str = "sid"
    mirror: str | None = None


@dataclass(frozen=True)
class ChecksOptions:
    names: str | None = None  # --checks a,b (None: every check in the registry)
    enabled: bool = True  # --no-checks
