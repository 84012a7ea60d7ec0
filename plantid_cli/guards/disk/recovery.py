"""A damaged SQLite file (the shared state, the result cache): recognised, checked, and moved
aside once across every process that shares it, so that it is recreated.

Stdlib only (each process opens these files at start-up). May import: the top-level modules,
guards.disk.storage.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from plantid_cli.constants import SQLITE_BUSY_SECONDS
from plantid_cli.guards.disk.storage import SQLITE_READONLY_DBMOVED, warn_once
from plantid_cli.sqlite_files import is_corruption, replaced

#: How long a process waits for another's recovery lock before it says so: the longest a
#: holder takes when it is not stopped. An opener's connect and its switch to WAL may each wait
#: out SQLite's busy file (SQLITE_BUSY_SECONDS); a recovery's quick_check waits once.
RECOVERY_WARN_SECONDS = 2 * SQLITE_BUSY_SECONDS


def is_moved(exc: BaseException | None) -> bool:
    """True for SQLite's refusal to write through a connection whose file was renamed or
    deleted since it was opened (SQLITE_READONLY_DBMOVED): another process's recovery, not a
    disk that refuses writes; the connection is reopened on the file now at the path. SQLite
    refuses so only in rollback-journal mode (a database before its switch to WAL); in WAL
    mode the write succeeds into the renamed file, which is why every use asks `replaced`."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.Error) and code == SQLITE_READONLY_DBMOVED


def move_aside(path: Path) -> Path:
    """Rename a damaged database (and its -wal/-shm companions) to ``*.corrupt-<timestamp>``.

    The companions go first, the database last. The other way round, a process that found
    the path empty (it never saw the damage, so it takes no recovery lock) created a new
    database there, and the renames that followed carried *its* live -wal away: the answers
    it stored went into a file nobody else reads, and the other processes bought them again
    (four processes, eight photos, sixteen calls, on a loaded machine). This way, whoever
    opens in between still finds the damaged file and waits for the recovery lock."""
    stamp = time.strftime("%Y%m%dT%H%M%S") + f"-{os.getpid()}"
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    for suffix in ("-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.replace(f"{path}{suffix}", f"{target}{suffix}")
    with contextlib.suppress(FileNotFoundError):
        os.replace(path, target)
    return target


#: What an exclusive holder of a recovery lock is doing, as the waiters are told: only a
#: recovery, unless the file's openings hold it alone too (`opening`; the result cache's).
RECOVERING = "moving a damaged database aside"


@contextlib.contextmanager
def recovery_lock(
    path: Path, *, shared: bool = False, opening: bool = False, exclusive_holder: str = RECOVERING
) -> Iterator[None]:
    """Serialise "move the damaged file aside" between processes (flock, dies with the process).

    `shared`: held while *opening* the database. Renaming a database and its companions is
    several steps; a process that opened the path in between paired one file with another's
    -wal/-shm, got "disk I/O error", took the cache for read-only and stored nothing, so the
    other processes bought every photo again (four processes, eight photos: sixteen calls,
    on a loaded machine). Openings share the lock (`shared`) or, where the opening itself is
    not safe to run twice at once, hold it alone (`opening`); a recovery excludes them. A
    folder where the lock file cannot be made (read-only) opens unlocked: nothing can be
    moved there.

    Why the wait is not silent: a recovery whose process was stopped (Ctrl-Z) held every
    other run that shares the cache, with no word, for as long as it stayed stopped. Going
    on without the lock would open the files mid-rename (the defect above), so a waiter
    keeps waiting, but says after RECOVERY_WARN_SECONDS which process holds the lock."""
    import fcntl  # stdlib, cheap

    lock_file = f"{path}.recover-lock"
    try:
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        if not (shared or opening):
            raise
        yield
        return
    try:
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        _flock_saying_who_holds_it(fd, mode, lock_file, exclusive_holder)
        yield
    finally:
        os.close(fd)  # closing releases the flock


def _flock_saying_who_holds_it(fd: int, mode: int, lock_file: str, exclusive_holder: str) -> None:
    import fcntl  # stdlib, cheap

    warn_at = time.monotonic() + RECOVERY_WARN_SECONDS
    pause = 0.005
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
        if time.monotonic() >= warn_at:
            warn_at = float("inf")
            warn_once(
                f"recovery-wait:{lock_file}",
                "waiting for %s: %s for over %g s (stopped, e.g. by Ctrl-Z?); "
                "this run goes on when it finishes or ends",
                lock_file,
                _who_holds(fd, exclusive_holder),
                RECOVERY_WARN_SECONDS,
            )
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def _who_holds(fd: int, exclusive_holder: str) -> str:
    """Who holds the flock on `fd`'s file, from the kernel's own table (/proc/locks, Linux):
    an exclusive holder is a recovery, shared ones are opening the database. Never from a pid
    the holder wrote down: one killed mid-recovery would leave a pid that holds nothing (a
    red-team pass found a finished recovery named so). Elsewhere: not known."""
    try:
        st = os.fstat(fd)
        inode = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
        with open("/proc/locks", encoding="ascii", errors="replace") as table:
            rows = [line.split() for line in table]
    except OSError:
        rows = []
    held = [(row[3], row[4]) for row in rows if len(row) > 5 and row[1] == "FLOCK"
            and row[5] == inode]  # fmt: skip
    recovering = [pid for kind, pid in held if kind == "WRITE"]
    if recovering:
        return f"process {recovering[0]} has been {exclusive_holder}"
    if held:
        pids = ", ".join(sorted({pid for _, pid in held}))
        return f"process {pids} has been opening the database"
    return "another process has been opening the database or moving it aside"


def moved_after_waiting(path: Path, identity: tuple[int, int] | None) -> bool:
    """Whether the file a connection opened (`identity`) was moved aside, looked at once any
    recovery renaming it now has finished: an error that fell while its files were mid-rename
    (a -wal renamed, the database not yet) is that, not a disk that refuses writes."""
    with recovery_lock(path, shared=True):
        return replaced(path, identity)


def sqlite_file_is_healthy(path: Path) -> bool:
    """Open `path` read-only on a private connection and run ``PRAGMA quick_check``."""
    if not path.exists():
        return True
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=SQLITE_BUSY_SECONDS)
        try:
            row = con.execute("PRAGMA quick_check(1)").fetchone()
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        return not is_corruption(exc)
    return bool(row) and row[0] == "ok"
