"""Small real git trees for apply tests, and a snapshot of everything a run could touch."""
from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

ENV = {"GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "T",
       "GIT_COMMITTER_EMAIL": "t@example.org", "GIT_AUTHOR_DATE": "@1700000000 +0000",
       "GIT_COMMITTER_DATE": "@1700000000 +0000", "PATH": "/usr/bin:/bin"}


def run(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env=ENV).stdout


def make(path: Path, files: dict[str, str]) -> Path:
    path.mkdir(parents=True)
    run(path, "init", "-q", "-b", "main")
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    run(path, "add", "-A")
    run(path, "commit", "-q", "-m", "base")
    return path


def snapshot(repo: Path) -> dict:
    """What "never modified" means, checkably: status, HEAD, refs, worktrees, stash, and
    every file under .git with its bytes (objects included: nothing is written there)."""
    gitdir = Path(run(repo, "rev-parse", "--absolute-git-dir").strip())
    files = {}
    for f in sorted(gitdir.rglob("*")):
        if f.is_file():
            files[str(f.relative_to(gitdir))] = hashlib.sha256(f.read_bytes()).hexdigest()
    bare = run(repo, "rev-parse", "--is-bare-repository").strip() == "true"
    return {"status": "" if bare else run(repo, "status", "--porcelain", "--untracked-files=all",
                                          "--ignored"),
            "head": run(repo, "rev-parse", "HEAD"), "refs": run(repo, "for-each-ref"),
            "worktrees": run(repo, "worktree", "list", "--porcelain"),
            "symbolic": run(repo, "symbolic-ref", "-q", "HEAD"), "gitdir": files}
