"""Kernel trees: the private work repo, tarball import, apply, backport."""
