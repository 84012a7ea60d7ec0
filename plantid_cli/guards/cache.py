"""Result cache: diskcache on ``cache_dir / "results"``, JSON values only, pickle never run.

Keys are plain ``str`` (see :func:`cache_key`); values are JSON objects (``dict``). The custom
:class:`JSONDisk` stores a value as JSON text (``MODE_RAW`` inline, ``MODE_TEXT`` file for large
ones) and its ``fetch`` refuses anything else - in particular ``MODE_PICKLE`` rows that some
other writer (a plain ``diskcache.Cache`` on the same directory, a tampered file) put there:
the row reads as a miss and one warning is logged, ``pickle.load`` is never called. Keys that
are not stored raw (pickled keys) are refused the same way.

A damaged database (garbage or truncated ``cache.db``) is logged once, moved aside as
``cache.db.corrupt-<timestamp>`` and recreated; the cache then simply starts empty.

Module-level imports: stdlib + diskcache (~8 ms, accepted by docs/design.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import diskcache
from diskcache.core import DBNAME, MODE_BINARY, MODE_RAW, MODE_TEXT, UNKNOWN

from plantid_cli.guards.state import (
    is_corruption,
    make_private_dir,
    move_aside,
    recovery_lock,
    sqlite_file_is_healthy,
)

log = logging.getLogger("plantid")

T = TypeVar("T")

CACHE_KEY_VERSION = "v1"

_warned_refusal = False
_warn_lock = threading.Lock()


def cache_key(provider: str, api_version: str, sha256: str, params: Mapping[str, object]) -> str:
    """``v1:<provider>:<api_version>:<sha256 of photo>:<32 hex of sha256(sorted JSON params)>``.

    `params` is everything that changes the answer (``Provider.cache_params``): organs,
    language, details... It must never contain the API key or any credential - the key
    identifies the account, not the answer, and cache keys end up in logs and on disk.
    """
    blob = json.dumps(dict(params), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]
    return f"{CACHE_KEY_VERSION}:{provider}:{api_version}:{sha256}:{digest}"


class _RefusedValue(OSError):
    """Raised by JSONDisk.fetch for a row that is not JSON. diskcache's get() catches OSError
    ("file vanished") and returns the default, so a refused row is a plain cache miss."""


def _refuse(why: str) -> _RefusedValue:
    global _warned_refusal
    with _warn_lock:
        if not _warned_refusal:
            _warned_refusal = True
            log.warning("refusing a non-JSON cache value (%s); treating it as a miss", why)
    return _RefusedValue(why)


class JSONDisk(diskcache.Disk):
    """diskcache serialisation with JSON text only; never pickles, never unpickles."""

    def put(self, key: Any) -> tuple[Any, bool]:
        if type(key) is not str:
            raise TypeError(f"result cache keys must be str, not {type(key).__name__}")
        return key, True

    def get(self, key: Any, raw: bool) -> Any:
        if not raw or not isinstance(key, str):
            raise _refuse("pickled key")
        return key

    def store(self, value: Any, read: bool, key: Any = UNKNOWN) -> tuple:
        if read:
            raise TypeError("result cache does not store file objects")
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        # str below min_file_size -> MODE_RAW inline; larger -> MODE_TEXT file (UTF-8).
        return super().store(text, False, key=key)

    def fetch(self, mode: int, filename: str | None, value: Any, read: bool) -> Any:
        if read:
            raise _refuse("file handle requested")
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
        try:
            return json.loads(text)
        except ValueError as exc:
            raise _refuse("invalid JSON") from exc


class ResultCache:
    """Identification results by :func:`cache_key`, shared by all processes."""

    def __init__(
        self, directory: Path, *, ttl: float = 30 * 86400, size_limit: int = 1 << 30
    ) -> None:
        self.directory = Path(directory)
        self.ttl = float(ttl)
        self.size_limit = int(size_limit)
        make_private_dir(self.directory)
        self._lock = threading.Lock()
        self._cache = self._open_or_recover()

    # -- opening / recovery -----------------------------------------------------------------

    def _open(self) -> diskcache.Cache:
        return diskcache.Cache(
            str(self.directory),
            disk=JSONDisk,
            size_limit=self.size_limit,
            statistics=1,  # hits/misses counted in the cache's Settings table, across processes
            eviction_policy="least-recently-stored",
        )

    def _open_or_recover(self) -> diskcache.Cache:
        try:
            return self._open()
        except sqlite3.DatabaseError as exc:
            if not is_corruption(exc):
                raise
            self._recover(exc)
            return self._open()

    def _recover(self, exc: BaseException) -> None:
        db = self.directory / DBNAME
        with recovery_lock(db):
            if sqlite_file_is_healthy(db):  # another process already rebuilt it
                return
            target = move_aside(db)
        log.warning(
            "result cache %s was damaged (%s); moved it aside to %s and started empty",
            db,
            exc,
            target.name,
        )

    def _do(self, op: Callable[[diskcache.Cache], T]) -> T:
        try:
            return op(self._cache)
        except sqlite3.DatabaseError as exc:
            # diskcache's ROLLBACK after a corruption error may raise its own error instead:
            # look at the chained context too.
            if not (is_corruption(exc) or is_corruption(exc.__context__)):
                raise
            with self._lock:
                try:
                    self._cache.close()
                except sqlite3.Error:
                    pass
                self._recover(exc)
                self._cache = self._open_or_recover()
            return op(self._cache)

    # -- API ----------------------------------------------------------------------------------

    def get(self, key: str) -> dict | None:
        """The cached dict, or None (missing, expired, refused non-JSON row)."""
        value = self._do(lambda c: c.get(key, default=None, retry=True))
        return value if isinstance(value, dict) else None

    def set(self, key: str, value: dict, *, ttl: float | None = None) -> None:
        """Store `value`; it expires after `ttl` seconds (default: the cache's TTL)."""
        if not isinstance(value, dict):
            raise TypeError("result cache values must be dicts")
        expire = self.ttl if ttl is None else float(ttl)
        self._do(lambda c: c.set(key, value, expire=expire, retry=True))

    def stats(self) -> dict:
        def op(c: diskcache.Cache) -> dict:
            return {
                "entries": len(c),
                "volume_bytes": c.volume(),
                "hits": int(c.reset("hits")),
                "misses": int(c.reset("misses")),
                "directory": str(self.directory),
            }

        return self._do(op)

    def volume(self) -> int:
        return self._do(lambda c: c.volume())

    def clear(self) -> int:
        """Remove every entry; return how many were removed."""
        return self._do(lambda c: c.clear(retry=True))

    def expire(self) -> int:
        """Remove expired entries now (diskcache also culls a few on every set)."""
        return self._do(lambda c: c.expire(retry=True))

    def close(self) -> None:
        self._cache.close()

    def __enter__(self) -> ResultCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["CACHE_KEY_VERSION", "JSONDisk", "ResultCache", "cache_key"]
