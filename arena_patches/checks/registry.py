"""The registry of checks, what a check declares (name, scope, needs, tool), what it is
given (a PatchContext) and what running it gives (a CheckResult: status, findings,
summary). Every unit in this package registers itself; `all_checks` imports them all, so
adding a check is adding one module.
"""
from __future__ import annotations

import enum
import importlib
import pkgutil
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from arena_patches.core.errors import InfraError, UserError
from arena_patches.core.findings import Finding
from arena_patches.core.model import Patch, Version
from arena_patches.core.runner import Runner
from arena_patches.core.sandbox import around
from arena_patches.core.verdicts import Status
from arena_patches.tree.repo import WorkRepo


class Scope(str, enum.Enum):
    PATCH = "patch"
    VERSION = "version"
    SERIES = "series"


class Need(str, enum.Enum):
    MAIL = "mail"  # the patch mail alone: runs on every patch, applied or not
    TREE = "tree"  # the base tree (its scripts)
    APPLIED = "applied"  # the patch applied: its commit and its parent
    BUILD = "build"  # the build matrix's cells for this patch (O= dir, compiler)


class Skipped(Exception):
    """The check cannot judge this patch; the message says why (and what to install)."""


class Failed(Exception):
    """The check could not run (a tool failed or hung): recorded as `error`."""


@dataclass(frozen=True)
class PatchContext:
    version: Version
    patch: Patch
    work: Path  # the checks' own scratch directory, inside the work dir
    runner: Runner
    wr: WorkRepo | None = None
    base: str | None = None  # the version's base commit
    commit: str | None = None  # the patch applied (None: not applied)
    parent: str | None = None  # the commit under it
    cells: tuple = ()  # the build matrix's cells for this patch (kbuild.matrix.BuildCell)
    w1: bool = False  # the build ran with W=1

    def run_tree_code(self, argv: list[str], cwd: Path, timeout: float):
        """The base tree's own scripts (checkpatch.pl, kernel-doc, its semantic patches) are
        code from the tree: run in the sandbox (core/sandbox.py), writing only the checks'
        scratch directory. PATH is the system's: spatch runs its python3 by name, and a
        python under the user's home (pyenv) is not in the sandbox."""
        return self.runner.run(argv, cwd=cwd, timeout=timeout, env={"PATH": "/usr/bin:/bin"},
                               sandbox=around((self.work,)))

    @property
    def where(self) -> str:
        return f"v{self.version.version} {self.patch.number}/{self.patch.total}"


@dataclass(frozen=True)
class CheckResult:
    check: str
    version: int
    patch: int
    status: Status
    findings: tuple[Finding, ...] = ()
    detail: str = ""  # why it was skipped or errored
    seconds: float = 0.0
    fixed: tuple[Finding, ...] = ()  # the previous version's findings on this patch now gone

    @property
    def new(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.new)

    @property
    def summary(self) -> str:
        """One line, the same in every command and report."""
        if self.detail:
            return self.detail
        inherited = len(self.findings) - len(self.new)
        words = [f"{len(self.new)} new finding{'s' * (len(self.new) != 1)}"]
        if inherited:
            words.append(f"{inherited} inherited")
        if self.fixed:
            words.append(f"{len(self.fixed)} fixed since the previous version")
        return ", ".join(words)


def status_of(findings: list[Finding]) -> Status:
    """What a check's findings come to: only what the patch brought (new) counts."""
    new = [f.status for f in findings if f.new]
    return Status.FAIL if Status.FAIL in new else Status.WARN if new else Status.PASS


class Check:
    """A unit declares these and implements `run`; raising Skipped or Failed says why it
    did not judge."""

    name: str = ""
    scope: Scope = Scope.PATCH
    needs: frozenset[Need] = frozenset({Need.MAIL})
    tool: tuple[str, str] | None = None  # (program on PATH, the Debian package that has it)
    timeout: float = 300.0

    def run(self, ctx: PatchContext) -> list[Finding]:
        raise NotImplementedError

    @property
    def reads_code(self) -> bool:
        return bool(self.needs & {Need.APPLIED, Need.BUILD})

    def missing_tool(self) -> str | None:
        if self.tool and shutil.which(self.tool[0]) is None:
            return f"{self.tool[0]} not found: apt-get install {self.tool[1]}"
        return None

    def unmet(self, ctx: PatchContext) -> str | None:
        """Why this patch cannot be judged by this check, or None."""
        if self.missing_tool():
            return self.missing_tool()
        if self.needs - {Need.MAIL} and (ctx.wr is None or ctx.base is None):
            return "no --tree given"
        if Need.APPLIED in self.needs and (ctx.commit is None or ctx.parent is None):
            return "the patch is not applied"
        if Need.BUILD in self.needs and not ctx.cells:
            return "the patch was not built"
        return None

    def judge(self, ctx: PatchContext) -> CheckResult:
        v, k = ctx.version.version, ctx.patch.number
        why = self.unmet(ctx)
        if why:
            return CheckResult(self.name, v, k, Status.SKIP, detail=why)
        start = time.monotonic()
        try:
            found = [f.at(v, k) for f in self.run(ctx)]
        except Skipped as e:
            return CheckResult(self.name, v, k, Status.SKIP, detail=str(e))
        except (Failed, InfraError, OSError) as e:  # this check could not run; the others still do
            return CheckResult(self.name, v, k, Status.ERROR, detail=str(e) if isinstance(e, Failed) else f"{self.name}: {e}",
                               seconds=time.monotonic() - start)
        return CheckResult(self.name, v, k, status_of(found), tuple(found),
                           seconds=time.monotonic() - start)


_REGISTRY: dict[str, Check] = {}


def register(cls: type[Check]) -> type[Check]:
    _REGISTRY[cls.name] = cls()
    return cls


def all_checks() -> dict[str, Check]:
    """Every check, in the order their modules are named (one import of each unit)."""
    for m in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda m: m.name):
        if m.name not in _INFRA:
            importlib.import_module(f"{__package__}.{m.name}")
    return dict(sorted(_REGISTRY.items()))


_INFRA = {"registry", "history", "run", "basetree"}


def select(names: str | None, disabled: bool = False) -> list[Check]:
    """`--checks a,b` (None: all of them); `--no-checks`: none."""
    known = all_checks()
    if disabled:
        return []
    if names is None:
        return list(known.values())
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in known]
    if unknown or not wanted:
        raise UserError(f"--checks {names}: unknown check {', '.join(unknown) or '(none named)'}",
                        f"known: {', '.join(known)}", f"--checks {names}")
    return [known[n] for n in wanted]


def timed_out(rec, what: str) -> None:
    """A hung checker is killed by the runner's timeout: say so as an error."""
    if rec.timed_out:
        raise Failed(f"{what} timed out after {rec.seconds:.0f} s (killed)")

