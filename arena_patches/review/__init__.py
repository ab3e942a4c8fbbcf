"""Versions against their changelogs; review replies tracked."""
