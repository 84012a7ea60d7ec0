"""diskcache serialisation with JSON text only: never pickles, never unpickles.

The `Disk` that diskcache writes rows with (cache.py opens diskcache with it); rows are read by
guards/disk/rows.py, which needs no diskcache, so a run that only reads does not import it.
"""

from __future__ import annotations

import json
from typing import Any

import diskcache
from diskcache.core import UNKNOWN

from plantid_cli.guards.disk.rows import decode_row, refuse


class JSONDisk(diskcache.Disk):  # type: ignore[misc]  # diskcache has no type information
    """diskcache serialisation with JSON text only; never pickles, never unpickles."""

    def put(self, key: Any) -> tuple[Any, bool]:
        if type(key) is not str:
            raise TypeError(f"result cache keys must be str, not {type(key).__name__}")
        return key, True

    def get(self, key: Any, raw: bool) -> Any:
        if not raw or not isinstance(key, str):
            raise refuse("pickled key")
        return key

    def store(self, value: Any, read: bool, key: Any = UNKNOWN) -> tuple[Any, ...]:
        if read:
            raise TypeError("result cache does not store file objects")
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        # str below min_file_size -> MODE_RAW inline; larger -> MODE_TEXT file (UTF-8).
        stored: tuple[Any, ...] = super().store(text, False, key=key)
        return stored

    def fetch(self, mode: int, filename: str | None, value: Any, read: bool) -> Any:
        if read:
            raise refuse("file handle requested")
        return decode_row(self._directory, mode, filename, value)
