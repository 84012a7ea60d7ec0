"""Opening the result cache's diskcache across processes, and moving a damaged one aside.

Why apart from cache.py: this is the part that must be right for any number of processes at
once (one opener at a time, no opening in the middle of another's recovery, the identity of
the file opened taken under the same lock), while cache.py decides what a failure means for
the run (read-only, a miss, a retry on the new file).

diskcache is imported here, at the first write (see cache.py). May import: guards.disk.jsondisk,
guards.disk.recovery, guards.disk.rows.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from plantid_cli.config_files import make_private_dir
from plantid_cli.constants import SQLITE_BUSY_SECONDS
from plantid_cli.guards.disk.recovery import move_aside, recovery_lock, sqlite_file_is_healthy
from plantid_cli.guards.disk.rows import DBNAME
from plantid_cli.sqlite_files import file_identity, replaced

if TYPE_CHECKING:
    import diskcache

log = logging.getLogger("plantid")

#: diskcache and the (device, inode) of the file it opened, read and replaced as one value:
#: read as two fields, a thread could pair the old diskcache with the new file's identity,
#: pass the check and read the file moved aside (a miss: the photo bought again).
Opened = tuple["diskcache.Cache", "tuple[int, int] | None"]

#: Who holds the result cache's recovery lock alone (its openings do too: `open_locked`).
EXCLUSIVE_HOLDER = "moving a damaged result cache aside or opening it"


def _open(directory: Path, size_limit: int) -> diskcache.Cache:
    # lazy: diskcache is imported by the first write (see cache.py's module doc)
    import diskcache

    # lazy: its Disk subclass, with it
    from plantid_cli.guards.disk.jsondisk import JSONDisk

    return diskcache.Cache(
        str(directory),
        disk=JSONDisk,
        size_limit=size_limit,
        timeout=SQLITE_BUSY_SECONDS,  # as every database here (diskcache's own: 60 s)
        statistics=1,  # hits/misses counted in the cache's Settings table, across processes
        eviction_policy="least-recently-stored",
        # diskcache's defaults map 64 MB of the file and cache 32 MB of pages per thread's
        # connection: resident memory that grows with the cache, not with the work (a rerun
        # of 100,000 photos). Reads go through the OS page cache instead.
        sqlite_mmap_size=0,
        sqlite_cache_size=2**10,
    )


def open_locked(directory: Path, size_limit: int) -> Opened:
    """diskcache on `directory`, opened while no recovery is renaming the file (see
    recovery.recovery_lock), and while no other process is opening it: one at a time.

    diskcache's opening is not safe to run in two processes at once on a new database
    (grantjenks/python-diskcache#266, #349): it runs its statements with a busy timeout of
    0 and retries only "database is locked", so a racing switch to WAL or CREATE TABLE
    can fail as "disk I/O error" or "database or disk is full". That reads as a disk that
    refuses writes: the cache would go read-only and store nothing, and the other
    processes buy every photo again. (The rest of the fleet test's 16 calls for 8 photos,
    in the recovering process, was a look-up connection on the renamed file: see
    cache_peek.py.) An opening is a few milliseconds, so processes wait for each other's,
    not for each other's runs. The identity of the file opened is taken under the lock: no
    recovery can fall between the two."""
    import diskcache  # noqa: F401  # lazy: imported before the lock, not under it

    # diskcache makes its folder itself (mode 0o755) when it is gone: one removed
    # mid-run (rm -rf, a cleaner) came back world-readable. Ours is private.
    make_private_dir(directory)
    db = directory / DBNAME
    with recovery_lock(db, opening=True, exclusive_holder=EXCLUSIVE_HOLDER):
        cache = _open(directory, size_limit)
        return cache, file_identity(db)


def recover(directory: Path, damage: BaseException) -> None:
    """Move the damaged database aside, once however many processes found it so."""
    db = directory / DBNAME
    with recovery_lock(db, exclusive_holder=EXCLUSIVE_HOLDER):
        if sqlite_file_is_healthy(db):  # another process already rebuilt it
            return
        target = move_aside(db)
    log.warning(
        "result cache %s was damaged (%s); moved it aside to %s and started empty",
        db,
        damage,
        target.name,
    )


def connect_thread(opened: Opened, directory: Path, *, even_if_replaced: bool = False) -> bool:
    """Give the calling thread its connection to `opened` now, while no recovery is renaming
    the file; False when the file was moved aside (the caller opens the new one), unless
    `even_if_replaced` (a caller that has run out of tries: connected all the same).

    Why: diskcache connects each thread lazily, by path, at its first statement, outside any
    lock. A thread whose first statement fell between a recovery's renames of the companions
    and of the database opened the damaged file with a new -wal and -shm at the path, read
    "disk I/O error" (SQLITE_IOERR_SHORT_READ: read as a disk that refuses writes, so the
    cache stored nothing more for the run), and left those companions for the next database
    made at the path to adopt; one that fell after the database's rename made an empty file
    and raised "no such table: Cache" out of `set`. Once connected, a thread keeps its open
    files and `replaced` tells it when to move on. (``_sql`` connects the thread: diskcache
    5.6's own, used here as in cache_batch.py; pinned in pyproject.toml.)"""
    db = directory / DBNAME
    with recovery_lock(db, shared=True):
        if replaced(db, opened[1]) and not even_if_replaced:
            return False
        opened[0]._sql  # noqa: B018  # the property connects this thread
        return True


__all__ = ["EXCLUSIVE_HOLDER", "Opened", "connect_thread", "open_locked", "recover"]
