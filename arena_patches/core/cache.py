"""The one versioned JSON cache: a directory of entries, each a JSON document under a key.

The format version is part of the directory: format 1 lives in the bare directory (the
entries written before this helper existed keep serving), format N > 1 in `<dir>.v<N>`,
so an entry of another format is never misread. A torn, unreadable or malformed entry is
a miss, never an error (the work is done again); writes are atomic (a temporary file
renamed), so an interrupted run leaves no half entry for the next one.

Each entry carries its key and is read back only under it: an entry copied over another's
(or one written before entries carried keys) is a miss, never another input's answer.
Entries are opened without following links (a link planted in the cache is a miss).
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, TypeVar

T = TypeVar("T")


class JsonCache:
    def __init__(self, root: Path, version: int = 1, suffix: str = ".json"):
        self.dir = root if version == 1 else root.with_name(f"{root.name}.v{version}")
        self.suffix = suffix

    def path(self, key: str) -> Path:
        return self.dir / f"{key}{self.suffix}"

    def get(self, key: str, load: Callable[[Any], T] = lambda x: x) -> T | None:
        """The entry read back through `load`, or None (absent, or not readable as it)."""
        try:
            fd = os.open(self.path(key), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            with os.fdopen(fd, "rb") as f:
                doc = json.loads(f.read())
            if not isinstance(doc, dict) or doc.get("key") != key or "entry" not in doc:
                return None
            return load(doc["entry"])
        except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
            return None

    def put(self, key: str, doc: Any) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".tmp-", suffix=self.suffix)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump({"key": key, "entry": doc}, f)
            os.replace(tmp, self.path(key))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
