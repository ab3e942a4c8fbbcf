"""The embedded demo: a three-version series written on a real kernel, and its expectations."""
