"""The base commit's own tools (scripts/, and what its scripts/kernel-doc links to),
copied out of git into the work dir once per base: a check runs the base's checkers,
never a copy a patch could have changed, and never from the user's tree. Files a patch
touched are written beside them (before/after), each path held inside the work dir."""
from __future__ import annotations

import os
import tarfile
from pathlib import Path

from arena_patches.checks.registry import Failed, PatchContext, Skipped
from arena_patches.core.paths import confined

TOOLS = ("scripts", "tools/docs", "tools/lib/python")


def base_tree(ctx: PatchContext) -> Path:
    """work/base-<sha>/ holding the base's scripts/ (and the tools its kernel-doc runs)."""
    assert ctx.wr is not None and ctx.base is not None
    root = ctx.work / f"base-{ctx.base[:12]}"
    if (root / ".complete").exists():
        return root
    have = [p for p in TOOLS if ctx.wr.git("ls-tree", "--name-only", ctx.base, "--", p).stdout.strip()]
    if "scripts" not in have:
        raise Skipped(f"the base {ctx.base[:12]} has no scripts/")
    root.mkdir(parents=True, exist_ok=True)
    tar = ctx.work / f"base-{ctx.base[:12]}.tar"
    ctx.wr.git("archive", "--format=tar", "-o", str(tar), ctx.base, "--", *have, timeout=600)
    with tarfile.open(tar) as t:
        _extract(t, root)
    tar.unlink()
    (root / ".complete").write_text(ctx.base)
    return root


def _extract(t: tarfile.TarFile, root: Path) -> None:
    """Every member under root: no member outside it, no device, no link out. Python's own
    "data" filter where it has one (3.11.4 on); Debian 12's python3 is 3.11.2: the same
    rules said here."""
    if hasattr(tarfile, "data_filter"):
        t.extractall(root, filter="data")
        return
    for m in t.getmembers():
        dest = confined(root, m.name)
        if dest is None or not (m.isfile() or m.isdir() or m.issym()):
            raise Failed(f"the base's scripts/ archive holds {m.name!r}: not a plain file inside it")
        if m.issym() and (m.linkname.startswith("/") or not os.path.normpath(
                os.path.join(dest.parent, m.linkname)).startswith(str(root) + os.sep)):
            raise Failed(f"the base's scripts/ archive links {m.name!r} out of it")
    t.extractall(root)


def interpreter(script: Path) -> list[str]:
    """How the tree runs it: perl or python, by its own first line."""
    first = script.read_text(errors="replace").split("\n", 1)[0]
    return ["perl" if "perl" in first else "python3", str(script)]


def touched_files(ctx: PatchContext, suffixes: tuple[str, ...], kind: str) -> tuple[Path, list[str]]:
    """The patch's files with these suffixes, at the parent (before/) and at the patch
    (after/) under work/<kind>/v<v>-<k>/; a file absent on one side is absent there too."""
    assert ctx.wr is not None and ctx.commit and ctx.parent
    here = ctx.work / kind / f"v{ctx.version.version}-{ctx.patch.number}"
    paths = [p for p in ctx.patch.paths if p.endswith(suffixes)]
    for side, rev in (("before", ctx.parent), ("after", ctx.commit)):
        (here / side).mkdir(parents=True, exist_ok=True)
        for p in paths:
            dest = confined(here / side, p)
            if dest is None:
                raise Failed(f"{p}: a path outside the tree")
            r = ctx.wr.git("show", f"{rev}:{p}", check=False)
            if r.returncode == 0:
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_text(r.stdout)
            else:
                dest.unlink(missing_ok=True)
    return here, paths
