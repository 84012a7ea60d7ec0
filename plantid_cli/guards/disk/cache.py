"""Result cache: diskcache on ``cache_dir / "results"``, JSON values only, pickle never run.

Keys are plain ``str`` (see :func:`cache_key`); values are JSON objects (``dict``). The custom
:class:`JSONDisk` stores a value as JSON text (``MODE_RAW`` inline, ``MODE_TEXT`` file for large
ones) and its ``fetch`` refuses anything else - in particular ``MODE_PICKLE`` rows that some
other writer (a plain ``diskcache.Cache`` on the same directory, a tampered file) put there:
the row reads as a miss and one warning is logged, ``pickle.load`` is never called. Keys that
are not stored raw (pickled keys) are refused the same way.

A damaged database (garbage or truncated ``cache.db``) is logged once, moved aside as
``cache.db.corrupt-<timestamp>`` and recreated; the cache then simply starts empty. A damaged
value (a truncated or non-UTF-8 inline row or value file) is a miss: the row is deleted and one
warning logged, so the photo is asked again once instead of failing on every run.

A cache that cannot be written (disk full, read-only folder, see guards/storage.py) never costs
an answer: ``set`` stores nothing and returns False, one warning says "answers are not being
stored", and ``get`` keeps serving what is stored through a read-only SQLite connection
(:class:`ReadOnlyResults`).

diskcache is opened at the first write, not when the cache is made: opening it runs about 80
SQLite statements (its settings, triggers and a write transaction), which a run that stores
nothing (a rerun served from the cache, a run refused by an open breaker) does not need. Until
then look-ups are one plain SELECT on the same database (`_peek_many`), and their hit/miss
counts are saved the same way.

Module-level imports: stdlib only (diskcache and jsondisk at the first write, in
cache_open.py). May import: guards.disk.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from plantid_cli.config_files import make_private_dir
from plantid_cli.errors import ConfigError
from plantid_cli.guards.disk.cache_batch import (
    Merge,
    add_counts,
    both_files,
    count,
    keep_hits,
    select_many,
    select_rows,
)
from plantid_cli.guards.disk.cache_keys import CACHE_KEY_VERSION, cache_key
from plantid_cli.guards.disk.cache_open import Opened, connect_thread, open_locked, recover
from plantid_cli.guards.disk.cache_peek import PeekUnusable, PinnedPeek
from plantid_cli.guards.disk.cache_readonly import ReadOnlyResults
from plantid_cli.guards.disk.recovery import is_moved, moved_after_waiting
from plantid_cli.guards.disk.rows import DBNAME, DamagedValue, decode_row
from plantid_cli.guards.disk.storage import is_storage_failure, reason_of, warn_once
from plantid_cli.sqlite_files import is_corruption, replaced

if TYPE_CHECKING:
    import diskcache

log = logging.getLogger("plantid")

T = TypeVar("T")

#: Look-ups counted in memory before they are written to diskcache's hit/miss statistics.
COUNT_EVERY = 1000


class ResultCache:
    """Identification results by :func:`cache_key`, shared by all processes."""

    def __init__(
        self, directory: Path, *, ttl: float = 30 * 86400, size_limit: int = 1 << 30
    ) -> None:
        self.directory = Path(directory)
        self.ttl = float(ttl)
        self.size_limit = int(size_limit)
        self._lock = threading.RLock()  # re-entered: a recovery in `_do` closes the look-ups
        self._open_lock = threading.Lock()
        self._hits = self._misses = 0  # not yet in diskcache's statistics
        self._db = self.directory / DBNAME
        self._current: Opened | None = None  # None: not opened yet, or read-only
        self._opened = False  # diskcache opened (or tried): see the module doc
        self._peek = PinnedPeek(self._db)  # look-ups before the opening
        self._reader: ReadOnlyResults | None = None  # set once writes have failed
        self._thread = threading.local()  # .on: (the diskcache this thread is connected to, pid)
        try:
            make_private_dir(self.directory)
        except OSError as exc:
            # a folder that cannot be made (its parent refuses: `/proc/self/results` is
            # ENOENT) stores nothing either; it was an internal error
            if not (is_storage_failure(exc) or isinstance(exc, FileNotFoundError)):
                raise
            self._opened = True
            self._read_only(exc)

    def _ensure_open(self) -> None:
        """Open diskcache, once: a disk that refuses makes the cache read-only, as before.
        Other threads wait for the opening (a store must not find it half done)."""
        with self._open_lock:
            if self._opened:
                return
            opened: Opened | None
            try:
                opened = self._open_or_recover()
            except (OSError, sqlite3.Error) as exc:
                if not is_storage_failure(exc):
                    raise
                self._read_only(exc)
                opened = None
            with self._lock:
                self._current = opened
                self._opened = True
                self._peek.close()

    def opened(self) -> diskcache.Cache | None:
        """diskcache itself, opened now (None when the disk refuses writes): for maintenance
        scripts (benchmarks/, the soak's checks) that walk or bulk-load the cache."""
        self._ensure_open()
        current = self._current
        return None if current is None else current[0]

    @property
    def writable(self) -> bool:
        """False once the disk refused a write: answers are then served but not stored."""
        return self._reader is None

    # -- opening / recovery -----------------------------------------------------------------

    def _open_or_recover(self) -> Opened:
        try:
            return open_locked(self.directory, self.size_limit)
        except sqlite3.DatabaseError as exc:
            if not is_corruption(exc):
                raise
            damage = exc
        # The failed opening's connection to the damaged file is held by the traceback alone:
        # closed now, before the file is moved aside (see cache_peek.py for why that matters).
        damage.__traceback__ = None
        with self._lock:
            self._peek.failed()
        recover(self.directory, damage)
        return open_locked(self.directory, self.size_limit)

    def _read_only(self, exc: BaseException) -> None:
        """From now on: no writes, reads through a read-only connection; one warning."""
        warn_once(
            f"cache-write:{self.directory}",
            "answers are not being stored: %s (result cache %s); stored answers are still "
            "used, but one that arrives now is paid again by the next run, and by any other "
            "process asking for the same photo meanwhile",
            reason_of(exc),
            self.directory,
        )
        with self._lock:
            if self._current is not None:
                with contextlib.suppress(sqlite3.Error, OSError):
                    self._current[0].close()
                self._current = None
            if self._reader is None:
                self._reader = ReadOnlyResults(self.directory)

    def _do(self, op: Callable[[diskcache.Cache], T], merge: Merge[T] | None = None) -> T:
        """`op` on diskcache opened on the file at the path, before and after it runs.

        Another process's recovery may move the file aside at any time. In WAL mode SQLite
        does not refuse a write through a connection on the renamed file: it commits there,
        silently, and a read there misses what the other processes store in the new file. So
        the file is compared before `op` and again after it: moved meanwhile, `op` runs again
        on the new file and `merge(first, again)` is the result (default: the new file's; a
        read keeps the hits it had, a count adds). An error that falls in a recovery (the
        files mid-rename) is waited out and `op` run again on the new file, not taken for a
        disk that refuses writes."""
        if not self._opened:
            self._ensure_open()
        current = self._this_thread_on(self._current)
        try:
            result = op(current[0])
        except sqlite3.DatabaseError as exc:
            # diskcache's ROLLBACK after a corruption error may raise its own error instead:
            # look at the chained context too.
            if is_moved(exc) or is_moved(exc.__context__):
                damage = None
            elif is_corruption(exc) or is_corruption(exc.__context__):
                damage = exc
            elif moved_after_waiting(self._db, current[1]):
                damage = None
            else:
                raise
            return op(self._this_thread_on(self._replace(current, damage))[0])
        if not replaced(self._db, current[1]):
            return result
        again = op(self._this_thread_on(self._replace(current, None))[0])
        return again if merge is None else merge(result, again)

    def _this_thread_on(self, current: Opened | None) -> Opened:
        """`current`, or the cache that replaced it, with the calling thread connected to it
        (cache_open.connect_thread says why not lazily). The mark is this process's: a forked
        child's diskcache reconnects by itself, lazily, so it connects here again first."""
        mark = os.getpid()
        for _ in range(3):  # a recovery per try; more would be a fleet recovering in a loop
            if current is None:
                raise _NotWritable()
            if getattr(self._thread, "on", None) == (current[0], mark):
                if not replaced(self._db, current[1]):
                    return current
            elif connect_thread(current, self.directory):
                self._thread.on = (current[0], mark)
                return current
            current = self._replace(current, None)
        if current is None:
            raise _NotWritable()
        # still moving: connected under the lock all the same (`_do` looks again after the op)
        connect_thread(current, self.directory, even_if_replaced=True)
        self._thread.on = (current[0], mark)
        return current

    def _replace(self, current: Opened, damage: BaseException | None) -> Opened:
        """diskcache on the file now at the path, instead of `current` (found damaged: moved
        aside first; or moved aside by another process). A thread that comes second takes
        the first one's; one that finds the cache gone read-only meanwhile stores nothing."""
        with self._lock:
            if self._current is not current:
                if self._current is None:
                    raise _NotWritable()
                return self._current
            with contextlib.suppress(sqlite3.Error):
                current[0].close()  # this thread's connection; the others' go with the object
            if damage is not None:
                recover(self.directory, damage)
            self._current = opened = self._open_or_recover()
            return opened

    def _guarded(self, op: Callable[[diskcache.Cache], T], merge: Merge[T] | None = None) -> T:
        """`op` on the cache; a write the disk refuses turns the cache read-only (re-raised)."""
        try:
            return self._do(op, merge)
        except (OSError, sqlite3.Error) as exc:
            if isinstance(exc, _NotWritable) or not is_storage_failure(exc):
                raise
            self._read_only(exc)
            raise _NotWritable() from exc

    # -- API ----------------------------------------------------------------------------------

    def get(self, key: str) -> dict[str, Any] | None:
        """The cached dict, or None (missing, expired, refused non-JSON row, damaged value)."""
        return self.get_many([key])[0]

    def _get_one(self, key: str) -> dict[str, Any] | None:
        """diskcache's own `get` (it counts the hit or miss itself): for the unusual rows."""
        try:
            value = self._guarded(
                lambda c: c.get(key, default=None, retry=True),
                lambda first, again: first if again is None else again,  # a hit is kept
            )
        except _NotWritable:
            value = self._reader.get(key) if self._reader is not None else None
        except DamagedValue as exc:
            self._drop_damaged(key, exc)
            return None
        return value if isinstance(value, dict) else None

    def get_many(self, keys: Sequence[str]) -> list[dict[str, Any] | None]:
        """`get` for a batch in one read: no write transaction per photo (diskcache's `get`
        counts each hit in its own), the batch's hits and misses counted in one. A WAL read
        sees one committed state, as concurrent processes' `get`s do; anything unusual (a
        damaged row, a read-only disk, a recovery) is left to `get`, one key at a time."""
        if not keys:
            return []
        for key in keys:
            if type(key) is not str:  # as JSONDisk.put says for diskcache's own get
                raise TypeError(f"result cache keys must be str, not {type(key).__name__}")
        try:
            if self._opened:
                found, odd = self._guarded(lambda c: select_many(c, keys), keep_hits)
            else:
                found, odd = self._peek_many(keys)
        except (_NotWritable, PeekUnusable, sqlite3.Error, OSError):
            return [self._get_one(key) for key in keys]
        for key in odd:  # damaged or refused rows: `_get_one` drops or refuses them as usual
            found[key] = self._get_one(key)
        values = [found.get(key) for key in keys]
        hits = sum(value is not None for value in values)
        with self._lock:  # counted in memory, written once in a while (`_save_counts`)
            self._hits += hits
            self._misses += len(keys) - hits - len(odd)
            due = self._hits + self._misses >= COUNT_EVERY
        if due:
            self._save_counts()
        return values

    def _peek_many(self, keys: Sequence[str]) -> tuple[dict[str, dict[str, Any] | None], list[str]]:
        with self._lock:
            if not self._opened:
                con = self._peek.connection()
                if con is None:
                    return {}, []
                directory = str(self.directory)
                try:
                    return select_rows(
                        con.execute, lambda m, f, v: decode_row(directory, m, f, v), keys
                    )
                except sqlite3.Error:
                    self._peek.failed()
                    raise
        # opened meanwhile (another thread stored an answer)
        return self._guarded(lambda c: select_many(c, keys), keep_hits)

    def _save_counts(self) -> None:
        """The hits and misses counted since the last save, into diskcache's statistics (one
        small transaction; a kill -9 loses at most COUNT_EVERY of them, never an answer)."""
        with self._lock:
            hits, misses, self._hits, self._misses = self._hits, self._misses, 0, 0
        if not (hits or misses):
            return
        with contextlib.suppress(_NotWritable, PeekUnusable, sqlite3.Error, OSError):
            with self._lock:
                con = None if self._opened else self._peek.connection()
                if con is not None:  # never opened: an UPDATE or two, no opening
                    try:
                        add_counts(con.execute, hits, misses)
                    except sqlite3.Error:
                        self._peek.failed()
                        raise
                    return
            if self._opened:
                self._guarded(lambda c: count(c, hits, misses))

    def _drop_damaged(self, key: str, exc: DamagedValue) -> None:
        warn_once(
            f"cache-damaged:{self.directory}",
            "a cached answer in %s was damaged (%s); removed it, the photo is asked again",
            self.directory,
            exc,
        )
        with contextlib.suppress(_NotWritable, DamagedValue):
            self._guarded(lambda c: c.delete(key, retry=True))

    def set(self, key: str, value: dict[str, Any], *, ttl: float | None = None) -> bool:
        """Store `value`; it expires after `ttl` seconds (default: the cache's TTL).

        Returns False, without raising, when the disk refuses the write (warned once): the
        caller already holds the answer and must still print it."""
        if not isinstance(value, dict):
            raise TypeError("result cache values must be dicts")
        expire = self.ttl if ttl is None else float(ttl)
        try:
            self._guarded(lambda c: c.set(key, value, expire=expire, retry=True))
        except _NotWritable:
            return False
        return True

    def stats(self) -> dict[str, Any]:
        self._save_counts()

        def op(c: diskcache.Cache) -> dict[str, Any]:
            return {
                "entries": len(c),
                "volume_bytes": c.volume(),
                "hits": int(c.reset("hits")),
                "misses": int(c.reset("misses")),
                "directory": str(self.directory),
            }

        try:
            return self._guarded(op)
        except _NotWritable:
            assert self._reader is not None
            return {**self._reader.stats(), "directory": str(self.directory), "writable": False}

    def volume(self) -> int:
        try:
            return int(self._guarded(lambda c: c.volume()))
        except _NotWritable:
            return self._reader.stats()["volume_bytes"] if self._reader is not None else 0

    def clear(self) -> int:
        """Remove every entry; return how many were removed."""
        return self._must_write(lambda c: c.clear(retry=True))

    def expire(self) -> int:
        """Remove expired entries now (diskcache also culls a few on every set)."""
        return self._must_write(lambda c: c.expire(retry=True))

    def _must_write(self, op: Callable[[diskcache.Cache], int]) -> int:
        """A write the user asked for (`plantid cache clear`): say why it cannot happen."""
        try:
            return self._guarded(op, both_files)
        except _NotWritable as exc:
            cause = exc.__cause__
            reason = reason_of(cause) if cause is not None else "it cannot be written"
            raise ConfigError(
                f"result cache {self.directory} cannot be changed: {reason} "
                "(PLANTID_CACHE_DIR, cache_dir)"
            ) from None

    @property
    def storing(self) -> bool:
        """Whether answers are still being stored (False once a write was refused: a full or
        read-only disk; reads go on through a read-only connection)."""
        return self._reader is None

    def close(self) -> None:
        self._save_counts()
        current = self._current
        if current is not None:
            with contextlib.suppress(sqlite3.Error, OSError):
                current[0].close()
        with self._lock:
            self._peek.close()
        if self._reader is not None:
            self._reader.close()

    def __enter__(self) -> ResultCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _NotWritable(OSError):
    """Internal: the cache is read-only now (the disk refused a write)."""


__all__ = [
    "CACHE_KEY_VERSION",
    "DamagedValue",
    "ResultCache",
    "cache_key",
]
