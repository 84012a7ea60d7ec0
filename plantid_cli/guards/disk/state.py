"""Shared state for every `plantid` process: one small SQLite file under cache_dir.

Each invocation is its own process (xargs -P, cron, several users), so everything the guards
need to agree on (breaker state, probe lease, rate-limit log, credits) lives in this file:

* WAL journal, ``synchronous=NORMAL``, ``busy_timeout`` 30 s;
* read-modify-write goes through :meth:`SharedState.transaction` (``BEGIN IMMEDIATE``), so it
  is atomic across processes (SQLite serialises writers on the database file lock);
* one connection per process, opened lazily, shared by threads behind a lock (and reopened
  after a fork);
* a damaged file (not SQLite, truncated) is reported once on the ``plantid`` logger, moved
  aside as ``<name>.corrupt-<timestamp>`` and recreated;
* a file the disk will not let us write (full, read-only; guards/storage.py) is warned about
  once and replaced, for this process, by a private in-memory database: the guards then work
  per process instead of failing every photo.

Stdlib only: importing this module must stay cheap (see docs/design.md, "Start-up budget").
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from plantid_cli.config_files import make_private_dir
from plantid_cli.constants import SQLITE_BUSY_SECONDS
from plantid_cli.guards.disk.recovery import (
    is_moved,
    move_aside,
    moved_after_waiting,
    recovery_lock,
    sqlite_file_is_healthy,
)
from plantid_cli.guards.disk.storage import is_storage_failure, reason_of, warn_once
from plantid_cli.sqlite_files import enable_wal, file_identity, is_corruption, replaced

log = logging.getLogger("plantid")

T = TypeVar("T")


SCHEMA = (
    "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS breaker ("
    " provider TEXT PRIMARY KEY,"
    " state TEXT NOT NULL DEFAULT 'closed',"
    " failures INTEGER NOT NULL DEFAULT 0,"
    " successes INTEGER NOT NULL DEFAULT 0,"
    " opened_at REAL,"
    " probe_token TEXT,"
    " probe_until REAL,"
    " probe_pid INTEGER,"
    " probe_host TEXT)",
    "CREATE TABLE IF NOT EXISTS ratelog (bucket TEXT NOT NULL, ts REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS ratelog_bucket_ts ON ratelog (bucket, ts)",
)


def _in_memory(path: Path) -> sqlite3.Connection:
    """A private stand-in for a state file that cannot be written: a copy of what it holds
    (an open breaker stays open, `plantid status` shows the real state), same tables, no
    sharing. ``immutable=1`` reads a file whose folder will not even take SQLite's -shm file."""
    con = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    try:  # a pipe at the path (not a database) would hold a read-only open for ever
        regular = stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        regular = False
    for flags in ("mode=ro", "immutable=1") if regular else ():
        try:
            source = sqlite3.connect(f"file:{path}?{flags}", uri=True)
            try:
                source.backup(con)
            finally:
                source.close()
            break
        except sqlite3.Error:
            continue
    for statement in SCHEMA:
        con.execute(statement)
    return con


#: The tables and indexes SCHEMA creates, by name.
_SCHEMA_NAMES = frozenset(re.findall(r"IF NOT EXISTS (\w+)", " ".join(SCHEMA)))


def _has_schema(con: sqlite3.Connection) -> bool:
    """Whether every table and index of SCHEMA exists: then opening writes nothing (every
    process opens the state file; a write transaction each is a lock every one queues for)."""
    rows = con.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")
    return _SCHEMA_NAMES <= {name for (name,) in rows}


class SharedState:
    """Cross-process key/value + tables in one SQLite file (``cache_dir / "state.sqlite3"``)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._con: sqlite3.Connection | None = None
        self._pid: int | None = None
        self._identity: tuple[int, int] | None = None  # the file the connection opened
        self._depth = 0  # nesting of transaction() in the thread that holds self._lock
        self._private = False  # True once the file refused writes: an in-memory stand-in
        #: why the file refused writes (None while it takes them): `breaker reset` must fail
        self.refused: str | None = None

    # -- connection -------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        con = sqlite3.connect(
            str(self.path),
            timeout=SQLITE_BUSY_SECONDS,
            isolation_level=None,  # we issue BEGIN IMMEDIATE / COMMIT ourselves
            check_same_thread=False,  # shared by threads, always used under self._lock
        )
        try:
            con.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_SECONDS * 1000)}")
            enable_wal(con)
            con.execute("PRAGMA synchronous = NORMAL")
            if not _has_schema(con):  # a write transaction only when something is missing
                con.execute("BEGIN IMMEDIATE")
                try:
                    for statement in SCHEMA:
                        con.execute(statement)
                    con.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        con.execute("ROLLBACK")
                    raise
        except BaseException:
            con.close()
            raise
        with contextlib.suppress(OSError):
            os.chmod(self.path, 0o600)
        return con

    def _open_locked(self) -> sqlite3.Connection:
        """`_open` while no recovery is renaming the file (see `recovery_lock`); the folder
        first, for the lock file."""
        make_private_dir(self.path.parent)
        with recovery_lock(self.path, shared=True):
            con = self._open()
            self._identity = file_identity(self.path)
            return con

    def _connection(self) -> sqlite3.Connection:
        pid = os.getpid()
        if self._con is not None and self._pid == pid:
            # (never inside a transaction: `run` looks once it has committed)
            if self._private or self._depth or not replaced(self.path, self._identity):
                return self._con
            # Another process moved the file aside (a recovery): a connection still on it
            # reads the damaged file and writes into it, silently (recovery.replaced).
            self._drop_connection()
        # First use, or we are a forked child: never reuse the parent's connection.
        self._con = None
        if self._private:
            con = _in_memory(self.path)
        else:
            try:
                try:
                    con = self._open_locked()
                except sqlite3.DatabaseError as exc:
                    if not is_corruption(exc):
                        raise
                    self._recover(exc)
                    con = self._open_locked()
            except (OSError, sqlite3.Error) as exc:
                if not is_storage_failure(exc):
                    raise
                self._go_private(exc)
                con = _in_memory(self.path)
        self._con, self._pid = con, pid
        return con

    def _go_private(self, exc: BaseException) -> None:
        """The file refuses writes: keep this process's guard state in memory from now on."""
        warn_once(
            f"state-write:{self.path}",
            "shared state %s cannot be written (%s); breaker, rate limit and credits are kept "
            "by this process alone",
            self.path,
            reason_of(exc),
        )
        self._drop_connection()
        self._private = True
        self.refused = reason_of(exc)

    def _recover(self, exc: BaseException) -> None:
        """Move a damaged database aside (once across racing processes) so it gets recreated."""
        self._drop_connection()
        with recovery_lock(self.path):
            # Another process may have replaced the file while we waited for the lock.
            if sqlite_file_is_healthy(self.path):
                return
            target = move_aside(self.path)
        log.warning(
            "shared state %s was damaged (%s); moved it aside to %s and started afresh",
            self.path,
            exc,
            target.name,
        )

    def _drop_connection(self) -> None:
        if self._con is not None:
            with contextlib.suppress(sqlite3.Error):
                self._con.close()
        self._con = None
        self._depth = 0

    def close(self) -> None:
        with self._lock:
            self._drop_connection()

    # -- transactions -----------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error); re-entrant per thread.

        The write lock is taken at BEGIN, so a read-modify-write inside is atomic across
        processes. A nested call in the same thread joins the outer transaction.
        """
        with self._lock:
            con = self._connection()
            if self._depth:
                self._depth += 1
                try:
                    yield con
                finally:
                    self._depth -= 1
                return
            con.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield con
            except BaseException:
                self._depth = 0
                with contextlib.suppress(sqlite3.Error):
                    con.execute("ROLLBACK")
                raise
            else:
                self._depth = 0
                con.execute("COMMIT")

    def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` in one transaction, on the file every process shares.

        Unlike a bare ``with transaction()``, a database found damaged while doing so is
        recovered (moved aside, recreated) and ``fn`` retried once, so callers never see
        corruption errors. And a transaction that another process's recovery moved the file
        out from under commits into the renamed file (WAL mode: SQLite says nothing), so it is
        run again on the file now at the path: an increment of the credits spent or a breaker
        failure was lost, with no error. ``fn`` may therefore run twice; its result is the
        last run's.
        """
        with self._lock:
            try:
                return self._run_on_shared_file(fn)
            except sqlite3.DatabaseError as exc:
                self._mend(exc)
            return self._run_on_shared_file(fn)

    def _run_on_shared_file(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self.transaction() as con:
            result = fn(con)
        if self._depth or self._private or not replaced(self.path, self._identity):
            return result  # (nested: the outermost `run` looks)
        self._drop_connection()
        with self.transaction() as con:
            return fn(con)

    def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read-only ``fn(connection)`` without a write lock (a single SELECT is atomic)."""
        try:
            with self._lock:
                return fn(self._connection())
        except sqlite3.DatabaseError as exc:
            with self._lock:
                self._mend(exc)
                return fn(self._connection())

    def _mend(self, exc: sqlite3.DatabaseError) -> None:
        """After `exc`, make the store usable for one more try (the lock held): a disk that
        refuses writes moves the state to a private copy, a damaged file is recovered; any
        other error, or one inside an outer transaction (the outermost level handles it), is
        re-raised."""
        if self._depth:
            raise exc
        if is_moved(exc) or self._moved_meanwhile():
            self._drop_connection()  # reopened on the file now at the path
        elif is_storage_failure(exc) and not self._private:
            self._go_private(exc)
        elif is_corruption(exc):
            self._recover(exc)
        else:
            raise exc

    def _moved_meanwhile(self) -> bool:
        """Whether another process's recovery moved the file aside under the connection
        (recovery.moved_after_waiting); never for the private stand-in."""
        if self._private or self._con is None:
            return False
        return moved_after_waiting(self.path, self._identity)

    # -- small JSON values --------------------------------------------------------------------

    def get_json(self, key: str, default: Any = None) -> Any:
        row = self.read(
            lambda con: con.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        )
        if row is None:
            return default
        try:
            return json.loads(row[0])
        except ValueError:
            return default

    def set_json(self, key: str, value: Any) -> None:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"))
        self.run(
            lambda con: con.execute(
                "INSERT INTO kv (key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, text),
            )
        )

    def delete(self, key: str) -> bool:
        return self.run(
            lambda con: con.execute("DELETE FROM kv WHERE key = ?", (key,)).rowcount > 0
        )

    def update_json(self, key: str, fn: Callable[[Any], Any], default: Any = None) -> Any:
        """Atomically replace the value at `key` with ``fn(old)`` (``default`` when missing)."""

        def body(con: sqlite3.Connection) -> Any:
            row = con.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
            old = default
            if row is not None:
                with contextlib.suppress(ValueError):
                    old = json.loads(row[0])
            new = fn(old)
            con.execute(
                "INSERT INTO kv (key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(new, sort_keys=True, separators=(",", ":"))),
            )
            return new

        return self.run(body)
