"""What every SQLite file plantid keeps (the shared state, the result cache, the rerun index)
shares: which errors mean a damaged file, and the switch to WAL that racing processes survive.

One damage test: the index used to count anything but "locked" as damage, so a full disk or a
folder turned read-only moved a healthy index aside and it was rebuilt, photo by photo, for
nothing. One WAL switch: the index's had no retry, and one process in six that opened a new
index together turned it off for its run ("database is locked").

Stdlib only (sqlite3 is imported when an error is looked at: the walk imports this module
on every start-up).
May import: constants.
"""

from __future__ import annotations

import time
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


__all__ = ["enable_wal", "is_corruption"]
