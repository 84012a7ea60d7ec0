"""Lookups in a result cache the disk will not let us write (full, read-only): see cache.py.

Stdlib only (rows are decoded by rows.py): a run that only reads never imports diskcache.
May import: guards.disk.rows, guards.disk.storage.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from plantid_cli.guards.disk.rows import DBNAME, DamagedValue, decode_row
from plantid_cli.guards.disk.storage import warn_once
from plantid_cli.sqlite_files import file_identity, replaced

_SELECT = (
    "SELECT mode, filename, value FROM Cache"
    " WHERE key = ? AND raw = 1 AND (expire_time IS NULL OR expire_time > ?)"
)


class ReadOnlyResults:
    """Lookups in a result cache that cannot be written: a plain read-only SQLite connection.

    diskcache itself cannot even open such a cache (it writes its settings on open and counts
    every hit). ``mode=ro`` sees committed WAL contents; where SQLite cannot create the shared
    memory file either (a read-only folder), ``immutable=1`` reads the checkpointed database."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._con: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None  # the file _con opened
        self._tried = False
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection | None:
        db = self.directory / DBNAME
        if self._tried and (self._con is None or not replaced(db, self._identity)):
            return self._con
        # first use, or another process moved the file aside (a recovery: one that can
        # rename on a full disk): the renamed file's answers are not the ones stored now
        self._close_connection()
        try:
            exists = db.is_file()
        except OSError:  # EACCES: the folder cannot be searched now; looked at again next time
            return None
        self._tried = True
        if not exists:
            return None
        identity = file_identity(db)  # before: a file replaced meanwhile is reopened next time
        for flags in ("mode=ro", "immutable=1"):
            try:
                con = sqlite3.connect(f"file:{db}?{flags}", uri=True, check_same_thread=False)
                con.execute("SELECT count(*) FROM Cache").fetchone()
            except sqlite3.Error:
                continue
            self._con, self._identity = con, identity
            break
        return self._con

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            con = self._connection()
            if con is None:
                return None
            try:
                row = con.execute(_SELECT, (key, time.time())).fetchone()
            except sqlite3.Error:
                return None
        if row is None:
            return None
        try:
            value = decode_row(str(self.directory), row[0], row[1], row[2])
        except DamagedValue as exc:
            warn_once(
                f"cache-damaged:{self.directory}",
                "a cached answer in %s was damaged (%s); the photo is asked again",
                self.directory,
                exc,
            )
            return None
        except OSError:  # a refused (non-JSON) row, a vanished value file
            return None
        return value if isinstance(value, dict) else None

    def stats(self) -> dict[str, Any]:
        with self._lock:
            con = self._connection()
            if con is None:
                return {"entries": 0, "volume_bytes": 0, "hits": 0, "misses": 0}
            try:
                (entries,) = con.execute("SELECT count(*) FROM Cache").fetchone()
                row = con.execute("SELECT value FROM Settings WHERE key = 'size'").fetchone()
                (pages,) = con.execute("PRAGMA page_count").fetchone()
                (page_size,) = con.execute("PRAGMA page_size").fetchone()
            except sqlite3.Error:
                return {"entries": 0, "volume_bytes": 0, "hits": 0, "misses": 0}
        volume = pages * page_size + int(row[0] if row else 0)
        return {"entries": int(entries), "volume_bytes": volume, "hits": 0, "misses": 0}

    def _close_connection(self) -> None:
        """(the lock held)"""
        if self._con is not None:
            with contextlib.suppress(sqlite3.Error):
                self._con.close()
        self._con = self._identity = None

    def close(self) -> None:
        with self._lock:
            self._close_connection()


__all__ = ["ReadOnlyResults"]
