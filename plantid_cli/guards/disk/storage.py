"""Which errors mean "this disk will not take writes", and saying so once per process.

A full disk (ENOSPC, EFBIG under a file-size limit), a read-only mount (EROFS), a folder we may
not write (EACCES) or SQLite's own words for them ("database or disk is full", "attempt to write
a readonly database", "disk I/O error", "unable to open database file") are facts about the
environment, not about a photo. The result cache and the shared state meet them; both then keep
going without writing (the cache still serves what it holds, the guards keep this process's own
state) and each warns once - never a per-photo "internal error", never a lost answer.

Stdlib only.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger("plantid")

# Primary SQLite result codes that mean "cannot write here" (not busy/locked, not corruption).
_SQLITE_PERM = 3
_SQLITE_READONLY = 8
_SQLITE_IOERR = 10
_SQLITE_FULL = 13
_SQLITE_CANTOPEN = 14
#: SQLite's extended code for a write through a connection whose file was renamed since it
#: was opened (rollback-journal mode only; in WAL mode SQLite says nothing, see
#: recovery.replaced): another process's recovery moved it aside, not a full disk.
SQLITE_READONLY_DBMOVED = _SQLITE_READONLY | (4 << 8)
_STORAGE_CODES = frozenset(
    {_SQLITE_PERM, _SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CANTOPEN}
)
_STORAGE_WORDS = ("disk is full", "readonly", "read-only", "disk i/o error", "unable to open")

_warned: set[str] = set()
_warn_lock = threading.Lock()


def is_storage_failure(exc: BaseException | None) -> bool:
    """True when `exc` (or the error it was raised from) says the disk refuses writes."""
    for error in (exc, getattr(exc, "__context__", None)):
        if isinstance(error, sqlite3.Error):
            code = getattr(error, "sqlite_errorcode", None)
            if code == SQLITE_READONLY_DBMOVED:  # moved aside by a recovery: reopened
                return False
            if code is not None and (code & 0xFF) in _STORAGE_CODES:
                return True
            if any(word in str(error).lower() for word in _STORAGE_WORDS):
                return True
        elif isinstance(error, OSError) and not isinstance(error, FileNotFoundError):
            return True
    return False


def reason_of(exc: BaseException) -> str:
    """A short reason for the user: ``No space left on device``, ``database or disk is full``."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def warn_once(topic: str, message: str, *args: object) -> None:
    """Log `message` the first time `topic` comes up in this process, and never again."""
    with _warn_lock:
        if topic in _warned:
            return
        _warned.add(topic)
    log.warning(message, *args)


__all__ = ["SQLITE_READONLY_DBMOVED", "is_storage_failure", "reason_of", "warn_once"]
