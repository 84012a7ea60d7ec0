"""Decoding result-cache rows: JSON text only, never pickles, never unpickles. Stdlib only.

Why apart from jsondisk.py (the diskcache `Disk` that writes rows): reading a row needs no
diskcache, and a run that only reads (a cached rerun, a run refused by an open breaker) should
not pay diskcache's import (~5 ms, it imports pickle, tempfile, shutil and the compressors).
The storage modes and the database's name are diskcache's (tests/test_guards_cache.py checks
they still are).

Rows are decoded with orjson when it is installed (a cached rerun decodes one stored answer
per photo: about half the stdlib's time here); text orjson refuses is decoded by the stdlib,
so what is accepted is the stdlib's rule either way.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

#: diskcache.core's names for the database file and the storage modes of a row.
DBNAME = "cache.db"
MODE_RAW, MODE_BINARY, MODE_TEXT, MODE_PICKLE = 1, 2, 3, 4

_fast_loads: Callable[[str], Any] | None = None
_fast_loads_tried = False

log = logging.getLogger("plantid")

_warned_refusal = False
_warn_lock = threading.Lock()


class RefusedValue(OSError):
    """Raised for a row that is not JSON. diskcache's get() catches OSError ("file vanished")
    and returns the default, so a refused row is a plain cache miss."""


class DamagedValue(Exception):
    """A JSON row whose text is cut or not UTF-8: ResultCache.get deletes it and misses."""


def refuse(why: str) -> RefusedValue:
    global _warned_refusal
    with _warn_lock:
        if not _warned_refusal:
            _warned_refusal = True
            log.warning("refusing a non-JSON cache value (%s); treating it as a miss", why)
    return RefusedValue(why)


def decode_row(directory: str, mode: int, filename: str | None, value: Any) -> Any:
    """The JSON value of one row (`mode`, `filename`, `value` of diskcache's Cache table);
    RefusedValue for anything but JSON text, DamagedValue for cut or non-UTF-8 text, OSError
    for a value file that cannot be read."""
    try:
        if mode == MODE_RAW:
            if isinstance(value, (bytes, bytearray, memoryview)):
                text = bytes(value).decode("utf-8", errors="strict")
            elif isinstance(value, str):
                text = value
            else:
                raise refuse(f"raw {type(value).__name__}")
        elif mode in (MODE_TEXT, MODE_BINARY) and isinstance(filename, str):
            with open(os.path.join(directory, filename), "rb") as reader:
                text = reader.read().decode("utf-8")
        else:  # MODE_PICKLE or anything unknown: never hand it to pickle
            raise refuse(f"storage mode {mode}")
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
