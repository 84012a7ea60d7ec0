"""diskcache serialisation with JSON text only: never pickles, never unpickles.

Its own module (not in cache.py) because both the read-write cache (cache.py) and the read-only
reader (cache_readonly.py) decode rows with it, and cache.py imports cache_readonly: kept here,
neither imports the other back.

Rows are decoded with orjson when it is installed (a cached rerun decodes one stored answer
per photo: about half the stdlib's time here); text orjson refuses is decoded by the stdlib,
so what is accepted is the stdlib's rule either way.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import diskcache
from diskcache.core import MODE_BINARY, MODE_RAW, MODE_TEXT, UNKNOWN

_fast_loads: Callable[[str], Any] | None = None
_fast_loads_tried = False

log = logging.getLogger("plantid")

_warned_refusal = False
_warn_lock = threading.Lock()


class _RefusedValue(OSError):
    """Raised by JSONDisk.fetch for a row that is not JSON. diskcache's get() catches OSError
    ("file vanished") and returns the default, so a refused row is a plain cache miss."""


class DamagedValue(Exception):
    """A JSON row whose text is cut or not UTF-8: ResultCache.get deletes it and misses."""


def _refuse(why: str) -> _RefusedValue:
    global _warned_refusal
    with _warn_lock:
        if not _warned_refusal:
            _warned_refusal = True
            log.warning("refusing a non-JSON cache value (%s); treating it as a miss", why)
    return _RefusedValue(why)


class JSONDisk(diskcache.Disk):  # type: ignore[misc]  # diskcache has no type information
    """diskcache serialisation with JSON text only; never pickles, never unpickles."""

    def put(self, key: Any) -> tuple[Any, bool]:
        if type(key) is not str:
            raise TypeError(f"result cache keys must be str, not {type(key).__name__}")
        return key, True

    def get(self, key: Any, raw: bool) -> Any:
        if not raw or not isinstance(key, str):
            raise _refuse("pickled key")
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
            raise _refuse("file handle requested")
        try:
            if mode == MODE_RAW:
                if isinstance(value, (bytes, bytearray, memoryview)):
                    text = bytes(value).decode("utf-8", errors="strict")
                elif isinstance(value, str):
                    text = value
                else:
                    raise _refuse(f"raw {type(value).__name__}")
            elif mode in (MODE_TEXT, MODE_BINARY):
                # Disk.fetch reads the file for these two modes and never unpickles.
                data = super().fetch(mode, filename, value, False)
                text = data.decode("utf-8") if isinstance(data, bytes) else data
            else:  # MODE_PICKLE or anything unknown: never hand it to pickle
                raise _refuse(f"storage mode {mode}")
            return _loads(text)
        except UnicodeDecodeError as exc:
            raise DamagedValue(f"not UTF-8 at byte {exc.start}") from None
        except ValueError as exc:  # JSONDecodeError: cut short or garbage
            raise DamagedValue(f"not JSON ({exc})") from None


def _loads(text: str) -> Any:
    global _fast_loads, _fast_loads_tried
    if not _fast_loads_tried:  # at the first stored answer read: a run that reads none (a
        # refusing breaker, a fresh batch) does not pay orjson's import (it imports uuid)
        _fast_loads_tried = True
        try:
            # lazy: see above
            from orjson import loads as _fast_loads
        except ImportError:  # an optional speed-up: the stdlib decodes the same text
            _fast_loads = None
    if _fast_loads is not None:
        try:
            return _fast_loads(text)
        except ValueError:  # orjson.JSONDecodeError is one
            pass  # the stdlib says what is wrong (or accepts what orjson does not)
    return json.loads(text)
