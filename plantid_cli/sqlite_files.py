"""What every SQLite file plantid keeps (the shared state, the result cache, the rerun index)
shares: which errors mean a damaged file, the switch to WAL that racing processes survive, and
whether the file a connection opened is still the one at the path.

One damage test: the index used to count anything but "locked" as damage, so a full disk or a
folder turned read-only moved a healthy index aside and it was rebuilt, photo by photo, for
nothing. One WAL switch: the index's had no retry, and one process in six that opened a new
index together turned it off for its run ("database is locked").

Stdlib only (sqlite3 is imported when an error is looked at: the walk imports this module
on every start-up).
May import: constants.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from plantid_cli.constants import SQLITE_BUSY_SECONDS

if TYPE_CHECKING:
    import sqlite3  # noqa: F401  (also imported lazily below)

# Primary SQLite result codes that mean "this file is not a usable database".
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26


def is_corruption(exc: BaseException | None) -> bool:
    """True for a damaged / non-SQLite file; False for busy/locked, full, read-only and other
    operational errors (and for anything that is not a sqlite3.DatabaseError)."""
    if exc is None:
        return False
    import sqlite3  # lazy: a SQLite error means it is imported already (a dict look-up)

    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text


def file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at `path`, None when there is none or it cannot be looked
    at: a long-lived connection records it when it opens and asks `replaced` before each use,
    because one open on a file another process moved aside acts on the new file's companions
    by name (see guards/disk/cache_peek.py)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def replaced(path: Path, identity: tuple[int, int] | None) -> bool:
    """Whether the file at `path` is no longer the one whose `file_identity` was `identity`:
    moved aside (gone, or another file there now), so a connection opened on it must be
    reopened. SQLite says nothing of it in WAL mode: a write through a connection on a renamed
    file commits into the renamed file, silently, and a read misses what others store.

    A path that cannot be looked at (EACCES: the folder's search permission was taken away
    mid-run) is *not* replaced: the open connection still works on its open descriptor, and a
    reopen would fail; the stat used to raise out of every look-up (a traceback)."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False
    return (st.st_dev, st.st_ino) != identity


def enable_wal(con: sqlite3.Connection) -> None:
    """Switch to WAL (persistent in the file). Changing the journal mode needs an exclusive
    lock and SQLite does not always run the busy handler for it, so processes racing to create
    the file retry here on "database is locked"."""
    import sqlite3  # lazy: imported already, by whoever made `con`

    (mode,) = con.execute("PRAGMA journal_mode").fetchone()
    if str(mode).lower() == "wal":
        return
    deadline = time.monotonic() + SQLITE_BUSY_SECONDS
    while True:
        try:
            con.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(0.005)


__all__ = ["enable_wal", "file_identity", "is_corruption", "replaced"]
