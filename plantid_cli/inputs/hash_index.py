"""Photos already hashed, by file identity: a rerun over unchanged files opens none of them.

Why: a rerun over two million 6 MB photos would read 12 TB only to learn that every answer is
already stored. The index maps a file's identity - ``(st_dev, st_ino, st_size, st_mtime_ns,
st_ctime_ns)`` of the file a path points at - to the sha256 of its bytes, so a rerun costs a
``stat`` per photo. Any change of the identity means "hash again":

* an edit in place (same size or not) moves mtime and ctime; an edit that puts the old mtime
  back (``touch -d``, ``os.utime``, ``cp -p``, ``rsync -t``) still moves ctime, which no user
  can set;
* a file replaced by rename (how editors and ``rsync`` save) is another inode;
* ``--rehash`` ignores the index for a run and writes what it finds.

An entry is written only when the hash is certain to match it (`identity_if_settled`): the
file's identity was the same before and after it was read, and the file is not *racy* - its
mtime and ctime are older than the filesystem's timestamp granularity at the time it was read,
so a write landing in the same clock tick after our read (same size, same timestamps) cannot
exist unseen. A racy file is hashed again next run, which is only a read.

The index is one SQLite file beside the cache (``cache_dir/hashes.sqlite3``, WAL): a kill -9
loses at most the entries not yet flushed (they are hashed again), never the file's
consistency. Device and inode numbers mean something on one machine only, so the index is never
shared through Redis (a fleet's machines each keep their own). It is an optimisation: any
failure (read-only folder, full disk, damaged file) disables it for the run with one warning,
and photos are simply hashed. Stdlib only; sqlite3 is imported when an index is opened.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from plantid_cli.constants import SQLITE_BUSY_SECONDS
from plantid_cli.sqlite_files import enable_wal, file_identity, is_corruption, replaced

if TYPE_CHECKING:
    import sqlite3

log = logging.getLogger("plantid")

#: (st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns)
Identity = tuple[int, int, int, int, int]

INDEX_FILE = "hashes.sqlite3"
#: Entries buffered before one write transaction stores them all.
FLUSH_EVERY = 512
#: A file touched less than this before it was read may still change within the same
#: timestamp tick (nanosecond filesystems: the kernel's coarse clock, a few ms)...
RACY_NS = 100_000_000
#: ...and on filesystems with whole-second (FAT: two-second) timestamps.
RACY_COARSE_NS = 2_100_000_000

#: How long a process waits, unsaid, for another's recovery of a damaged index (a few renames
#: and a new file: milliseconds) before it says so; it gives up at SQLITE_BUSY_SECONDS.
WAIT_WARN_SECONDS = 2.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    ino INTEGER NOT NULL, dev INTEGER NOT NULL,
    size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (ino, dev)
) WITHOUT ROWID
"""


def identity(st: os.stat_result) -> Identity | None:
    """The identity of a regular file's stat, or None when the filesystem gives no usable one
    (inode 0: some FUSE and network filesystems; not a regular file)."""
    if not st.st_ino or (st.st_mode & 0o170000) != 0o100000:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def identity_if_settled(
    before: os.stat_result, after: os.stat_result, read_at_ns: int
) -> Identity | None:
    """The identity to store for a hash computed between the stats `before` and `after` (the
    open file's, around the read), or None when the hash may not match it: the file changed
    during the read, or it was touched so shortly before the read (`read_at_ns`, wall clock)
    that a later write could keep the same size and timestamps."""
    first, second = identity(before), identity(after)
    if first is None or first != second:
        return None
    newest = max(before.st_mtime_ns, before.st_ctime_ns)
    coarse = before.st_mtime_ns % 1_000_000_000 == 0 and before.st_ctime_ns % 1_000_000_000 == 0
    if read_at_ns - newest < (RACY_COARSE_NS if coarse else RACY_NS):
        return None
    return first


class HashIndex:
    """sha256 by `Identity`, shared by the processes of one machine (SQLite, WAL)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._pending: dict[tuple[int, int], tuple[Identity, str]] = {}
        self._db: sqlite3.Connection | None = None
        self._file: tuple[int, int] | None = None  # (device, inode) of the file _db opened
        try:
            self._db = self._open()
        except Exception as exc:  # an optimisation: never a reason to fail the run
            self._disable(exc)

    @property
    def usable(self) -> bool:
        return self._db is not None

    def _open(self) -> sqlite3.Connection:
        """The index, opened while no other process is moving it aside (a shared flock: an
        opening that fell between a recovery's renames of the companions and of the file
        paired one with the other's and read "disk I/O error": its index off for the run)."""
        import sqlite3  # lazy: the walk (this package) is on every start-up

        try:
            with self._recovery_flock(shared=True):
                return self._connect()
        except sqlite3.DatabaseError as exc:
            if not is_corruption(exc):
                raise
            damage = exc
        return self._recover(damage)

    @contextlib.contextmanager
    def _recovery_flock(self, *, shared: bool) -> Iterator[None]:
        """The flock beside the index: shared by openings, held alone by a recovery. Waited
        for at most SQLITE_BUSY_SECONDS (the index is an optimisation: a stopped holder must
        not stop this run), and said after WAIT_WARN_SECONDS. A folder where the lock file
        cannot be made opens unlocked (nothing can be moved aside there)."""
        import fcntl  # lazy: stdlib, only here

        try:
            fd = os.open(f"{self.path}.recover-lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            if not shared:
                raise
            yield
            return
        try:
            mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
            started = time.monotonic()
            warn_at, deadline = started + WAIT_WARN_SECONDS, started + SQLITE_BUSY_SECONDS
            while True:
                try:
                    fcntl.flock(fd, mode | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    now = time.monotonic()
                    if now >= deadline:
                        raise OSError(f"another process has held {self.path}'s recovery") from None
                    if now >= warn_at:  # said, not silent: the run looked hung
                        warn_at = float("inf")
                        log.warning(
                            "hash index %s is damaged and another process has been setting it"
                            " aside for over %g s (stopped, e.g. by Ctrl-Z?); this run goes on"
                            " without the index if it is not done within %g s",
                            self.path,
                            WAIT_WARN_SECONDS,
                            SQLITE_BUSY_SECONDS,
                        )
                    time.sleep(0.01)
            yield
        finally:
            os.close(fd)  # releases the flock

    def _recover(
        self, damage: BaseException, damaged_file: tuple[int, int] | None = None
    ) -> sqlite3.Connection:
        """Move the damaged file aside and start empty: once, however many processes found it
        damaged together. Each used to move aside whatever was at the path, with no lock and
        no second look, and deleted its -wal/-shm: the second one moved aside the *new* index
        the first had just made and deleted its live -wal, and the first then wrote through a
        renamed file (refused: its index turned off, its hashes lost). Now under the flock
        held alone, the file is looked at again first, and the companions are renamed
        before the database (guards/disk/recovery.move_aside says why that order).

        `damaged_file`: the (device, inode) of a file found damaged *after* it opened (in a
        page the opening does not read): still at the path, it is moved aside without a
        second opening, which would pass."""
        import sqlite3  # lazy: see _open

        with self._recovery_flock(shared=False):
            if damaged_file is None or replaced(self.path, damaged_file):
                try:
                    return self._connect()  # made anew by whoever held the lock before us
                except sqlite3.DatabaseError as exc:
                    if not is_corruption(exc):
                        raise
            aside = f"{self.path}.corrupt-{time.time_ns()}"
            for suffix in ("-wal", "-shm", ""):
                with contextlib.suppress(FileNotFoundError):
                    os.replace(f"{self.path}{suffix}", f"{aside}{suffix}")
            log.warning("hash index %s was damaged (%s); started it empty", self.path, damage)
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        import sqlite3  # lazy: see _open

        db = sqlite3.connect(
            str(self.path),
            timeout=SQLITE_BUSY_SECONDS,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            enable_wal(db)
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(_SCHEMA)
            db.execute("SELECT count(*) FROM files WHERE ino = -1").fetchone()
        except BaseException:
            db.close()
            raise
        self._file = file_identity(self.path)
        return db

    def _live(self) -> sqlite3.Connection | None:
        """The connection, on the file at the path now (the lock held). Another process's
        recovery may have moved the index aside: a connection still on the renamed file reads
        and writes it (WAL mode: silently; the hashes stored are lost to every other run) and
        acts on the new file's companions by name (guards/disk/cache_peek.py says how that
        broke a new database). So it is reopened on the new file."""
        db = self._db
        if db is None or not replaced(self.path, self._file):
            return db
        with contextlib.suppress(Exception):
            db.close()
        self._db = None
        try:
            self._db = self._open()
        except Exception as exc:
            self._disable(exc)
        return self._db

    def _disable(self, exc: BaseException) -> None:
        """From now on photos are hashed every time in this process; said once."""
        log.warning("hash index %s not used: %s (photos are read and hashed)", self.path, exc)
        db, self._db = self._db, None
        self._pending.clear()
        if db is not None:
            with contextlib.suppress(Exception):
                db.close()

    def _repair_or_disable(self, exc: BaseException) -> bool:
        """After a failed read or write (the lock held): damage found past the opening's
        probe is moved aside and the index started empty (True); it used to turn the index
        off with a warning, every run, and hash every photo whose entry was past the damage,
        for ever. Anything else turns it off for the run (False)."""
        db, damaged_file = self._db, self._file
        if db is None or not is_corruption(exc):
            self._disable(exc)
            return False
        with contextlib.suppress(Exception):
            db.close()
        self._db = None
        try:
            self._db = self._recover(exc, damaged_file)
        except Exception as again:
            self._disable(again)
            return False
        return True

    def get_many(self, identities: Iterable[Identity | None]) -> list[str | None]:
        """The stored sha256 for each identity (None: unknown, changed, or no identity). One
        query for the whole batch."""
        wanted = list(identities)
        found: dict[tuple[int, int], tuple[Identity, str]] = {}
        inodes = sorted({ident[1] for ident in wanted if ident is not None})
        with self._lock:
            db = self._live()
            for ident in wanted:  # this process's hashes not flushed yet
                if ident is not None and ident[:2] in self._pending:
                    found[ident[:2]] = self._pending[ident[:2]]
            if db is not None and inodes:
                try:
                    for start in range(0, len(inodes), 900):  # SQLite's variable limit
                        part = inodes[start : start + 900]
                        marks = ",".join("?" * len(part))
                        rows = db.execute(
                            # the primary key starts with ino: an index look-up per photo
                            "SELECT dev, ino, size, mtime_ns, ctime_ns, sha256 FROM files"
                            f" WHERE ino IN ({marks})",
                            part,
                        ).fetchall()
                        for dev, ino, size, mtime, ctime, sha in rows:
                            found.setdefault((dev, ino), ((dev, ino, size, mtime, ctime), sha))
                except Exception as exc:
                    self._repair_or_disable(exc)
        result: list[str | None] = []
        for ident in wanted:
            entry = found.get(ident[:2]) if ident is not None else None
            # the whole identity must match: size, mtime and ctime, not only the inode
            result.append(entry[1] if entry is not None and entry[0] == ident else None)
        return result

    def get(self, ident: Identity | None) -> str | None:
        return self.get_many([ident])[0]

    def put(self, ident: Identity, sha256: str) -> None:
        """Remember `sha256` for `ident` (buffered; stored `FLUSH_EVERY` at a time)."""
        with self._lock:
            if self._db is None:
                return
            self._pending[ident[:2]] = (ident, sha256)
            if len(self._pending) < FLUSH_EVERY:
                return
        self.flush()

    def flush(self) -> None:
        with self._lock:
            db, pending = self._live(), list(self._pending.values())
            self._pending.clear()
            if db is None or not pending:
                return
            rows = [(ino, dev, *rest, sha) for (dev, ino, *rest), sha in pending]
            try:
                _store(db, rows)
                if self._live() is not db and self._db is not None:
                    _store(self._db, rows)  # moved aside while storing: into the new file
            except Exception as exc:
                if self._repair_or_disable(exc) and self._db is not None:
                    with contextlib.suppress(Exception):
                        _store(self._db, rows)  # into the index started anew

    def close(self) -> None:
        self.flush()
        with self._lock:
            db, self._db = self._db, None
        if db is not None:
            with contextlib.suppress(Exception):
                db.close()


def _store(db: sqlite3.Connection, rows: list[tuple[object, ...]]) -> None:
    db.execute("BEGIN IMMEDIATE")
    try:
        db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)", rows)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def open_index(cache_dir: Path | str) -> HashIndex:
    return HashIndex(Path(cache_dir) / INDEX_FILE)


__all__ = ["HashIndex", "Identity", "identity", "identity_if_settled", "open_index"]
