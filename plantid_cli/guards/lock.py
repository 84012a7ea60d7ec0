"""Single flight across processes: one lock file per cache key (portalocker, imported lazily).

Usage (the engine)::

    with single_flight(cache_dir / "locks", key, timeout=15.0) as flight:
        if flight.acquired:  # or simply `if flight:`
            ...  # re-check the cache, then call the API and store the result
        else:
            ...  # waited `timeout` seconds: one last cache lookup, then proceed without the lock

The context manager never raises because of a timeout and never waits longer than `timeout`
(plus one poll interval). It yields a :class:`Flight` (deviation from the design sketch, which
yields a bare bool): ``flight.acquired`` (also its truth value) and ``flight.waited`` (seconds
spent waiting for the lock), so the caller can log "waited 2.3 s for a parallel identical
request".

portalocker's default locker on POSIX is ``fcntl.flock``: the lock belongs to the open file
description, so it is released when the holder exits or is killed (kill -9 cannot wedge it).
The lock file is left in place on release (deleting it would let two processes lock two
different inodes for the same key).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path

from plantid_cli.guards.state import make_private_dir
from plantid_cli.guards.storage import warn_once

log = logging.getLogger("plantid")

DEFAULT_CHECK_INTERVAL = 0.05


class Flight:
    """Result of :func:`single_flight`: ``acquired`` (also the truth value), ``waited`` (s)."""

    __slots__ = ("acquired", "waited", "path")

    def __init__(self, acquired: bool, waited: float, path: Path) -> None:
        self.acquired = acquired
        self.waited = waited
        self.path = path

    def __repr__(self) -> str:
        return f"Flight(acquired={self.acquired}, waited={self.waited:.3f}, path={self.path})"

    def __bool__(self) -> bool:
        return self.acquired


def lock_path(lock_dir: Path, key: str) -> Path:
    return Path(lock_dir) / (hashlib.sha256(key.encode("utf-8")).hexdigest()[:40] + ".lock")


@contextlib.contextmanager
def single_flight(
    lock_dir: Path,
    key: str,
    timeout: float = 15.0,
    *,
    check_interval: float = DEFAULT_CHECK_INTERVAL,
) -> Iterator[Flight]:
    """Hold the exclusive lock for `key` for the duration of the block, if it can be had in time."""
    from .lazy_imports import portalocker as _load

    path = lock_path(lock_dir, key)
    try:
        portalocker = _load()  # lazy, and without redis-py: see lazy_imports
    except OSError as exc:
        # portalocker's import asks tempfile for a writable folder: a full disk fails it. As a
        # lock we cannot take, that only costs a possible duplicate request.
        warn_once("lock-import", "single-flight lock unavailable (%s); continuing without it", exc)
        yield Flight(False, 0.0, path)
        return
    started = time.monotonic()
    lock = None
    try:
        make_private_dir(Path(lock_dir))
        lock = portalocker.Lock(
            str(path),
            mode="a",
            timeout=max(0.0, float(timeout)),
            check_interval=check_interval,
            fail_when_locked=False,
            flags=portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING,
        )
        lock.acquire()
        acquired = True
    except portalocker.exceptions.AlreadyLocked:
        acquired = False
    except (portalocker.exceptions.LockException, OSError) as exc:
        # A lock we cannot take (read-only cache dir, filesystem without locks) only costs
        # a possible duplicate request; do not fail the photo for it.
        log.warning("single-flight lock unavailable (%s); continuing without it", exc)
        acquired = False
    flight = Flight(acquired, time.monotonic() - started, path)
    try:
        yield flight
    finally:
        if acquired and lock is not None:
            lock.release()


__all__ = ["Flight", "lock_path", "single_flight"]
