"""Look-ups in the result cache before diskcache is opened (see cache.py): one plain SQLite
connection, never used on a file that is no longer the one at the path.

Why "pinned" to the file: a recovery (recovery.move_aside) renames a damaged ``cache.db`` and
the next opener creates a new database at the same path. A connection still open on the
renamed file keeps the *path's* names for its companions: its next read found the new
database's rollback journal "hot" (nobody holds a lock on the renamed file), played it back
into the renamed file and deleted it, and the opening that was committing that journal failed
with "disk I/O error" (SQLITE_IOERR_DELETE_NOENT). That reads as a disk that refuses writes:
the opening process stored nothing and the fleet bought its photos again (four processes,
eight photos, sixteen calls, about one run in 80 on a loaded machine; 300 openings of 300
failed so next to a thread that kept reading the renamed file). And a look-up on the renamed
file misses what the other processes store in the new one: the photo is bought again
(tests/test_cache_moved_aside.py). So the file at the path is
compared with the connection's (device, inode) before every read, and a connection whose read
failed is closed and not replaced while that same file is at the path: the caller opens
diskcache instead, which waits for the recovery (recovery.recovery_lock).

The check and the read are two steps: a recovery and a new database's commit that both fall
in the microseconds between them are not excluded (a lock around every look-up would be, but
would let a busy fleet's look-ups starve the opener that waits for it).

Stdlib only. May import: the top-level modules.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from plantid_cli.constants import SQLITE_BUSY_SECONDS
from plantid_cli.sqlite_files import file_identity


class PeekUnusable(Exception):
    """The file at the path cannot be read this way now (damaged, being moved aside): open
    diskcache, which recovers it or waits for the process that does."""


class PinnedPeek:
    """The look-up connection; its user holds one lock around every call (ResultCache._lock)."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self._con: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None
        self._failed_on: tuple[int, int] | None = None  # a read failed on this file

    def connection(self) -> sqlite3.Connection | None:
        """A connection to the file at the path now; None when there is none (every key is a
        miss: nothing is stored). Raises PeekUnusable (see the module doc)."""
        try:
            st = os.stat(self.db)
        except (FileNotFoundError, NotADirectoryError):
            self.close()
            return None
        except OSError:  # cannot look (EACCES): the open connection still reads its file
            if self._con is not None:
                return self._con
            raise PeekUnusable(str(self.db)) from None
        current = (st.st_dev, st.st_ino)
        if current == self._failed_on:
            raise PeekUnusable(str(self.db))
        if self._con is not None and current == self._identity:
            return self._con
        self.close()  # the file was moved aside and replaced: a connection to the new one
        con = sqlite3.connect(
            str(self.db), timeout=SQLITE_BUSY_SECONDS, isolation_level=None, check_same_thread=False
        )
        if file_identity(self.db) != current:  # replaced while connecting: not known which
            con.close()
            raise PeekUnusable(str(self.db))
        self._con, self._identity = con, current
        return con

    def failed(self) -> None:
        """A read on the connection failed: close it, and use none on this file again."""
        self._failed_on = self._identity
        self.close()

    def close(self) -> None:
        if self._con is not None:
            with contextlib.suppress(sqlite3.Error):
                self._con.close()
        self._con = self._identity = None


__all__ = ["PeekUnusable", "PinnedPeek"]
