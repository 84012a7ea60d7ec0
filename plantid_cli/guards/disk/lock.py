"""Single flight across processes: one lock file per cache key (portalocker, imported lazily).

Usage (the engine)::

    with single_flight(cache_dir / "locks", key, stop=stop) as flight:
        if flight.acquired:  # or simply `if flight:`
            ...  # re-check the cache, then call the API and store the result
        elif flight.stopped:
            ...  # Ctrl-C / SIGTERM while waiting: one last cache lookup, then send nothing
        else:
            ...  # waited `timeout` seconds: one last cache lookup, then proceed without the lock

A waiter waits for the holder's answer (the lock is released) or the holder's death, never a
fixed time shorter than the holder's call: with ``timeout=None`` (the default, and the
engine's unless `lock_timeout` is set) there is no time limit at all; `stop` ends the wait at
once. The context manager never raises because of a timeout. It yields a :class:`Flight`
(deviation from the design sketch, which yields a bare bool): ``flight.acquired`` (also its
truth value), ``flight.waited`` (seconds spent waiting for the lock) and ``flight.stopped``.

portalocker's default locker on POSIX is ``fcntl.flock``: the lock belongs to the open file
description, so it is released when the holder exits or is killed (kill -9 cannot wedge it).
The lock file is left in place on release (deleting it would let two processes lock two
different inodes for the same key).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from plantid_cli.config_files import make_private_dir
from plantid_cli.guards.disk.storage import warn_once
from plantid_cli.guards.lazy_imports import portalocker as _load

log = logging.getLogger("plantid")

DEFAULT_CHECK_INTERVAL = 0.05


class Flight:
    """Result of :func:`single_flight`: ``acquired`` (also the truth value), ``waited`` (s),
    ``stopped`` (the wait ended because the run is stopping), ``unavailable`` (no lock could
    be made at all: not a timeout, and warned about once per process, not per photo)."""

    __slots__ = ("acquired", "waited", "path", "stopped", "unavailable")

    def __init__(
        self,
        acquired: bool,
        waited: float,
        path: Path,
        stopped: bool = False,
        unavailable: bool = False,
    ) -> None:
        self.acquired = acquired
        self.waited = waited
        self.path = path
        self.stopped = stopped
        self.unavailable = unavailable

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
    timeout: float | None = None,
    *,
    stop: threading.Event | None = None,
    check_interval: float = DEFAULT_CHECK_INTERVAL,
) -> Iterator[Flight]:
    """Hold the exclusive lock for `key` for the duration of the block, once it can be had
    (within `timeout` seconds when one is given; until `stop` is set in any case)."""
    path = lock_path(lock_dir, key)
    try:
        portalocker = _load()  # lazy, and without redis-py: see lazy_imports
    except OSError as exc:
        # portalocker's import asks tempfile for a writable folder: a full disk fails it. As a
        # lock we cannot take, that only costs a possible duplicate request.
        _unavailable(lock_dir, exc)
        yield Flight(False, 0.0, path, unavailable=True)
        return
    started = time.monotonic()
    stop = stop or threading.Event()
    handle = None
    acquired = unavailable = False
    try:
        make_private_dir(Path(lock_dir))
        handle = open(path, "a")  # noqa: SIM115 - held open for as long as the lock is
        flags = portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING
        while True:
            try:
                portalocker.lock(handle, flags)
                acquired = True
                break
            except portalocker.exceptions.AlreadyLocked:
                pass
            waited = time.monotonic() - started
            if timeout is not None and waited >= timeout:
                break
            pause = check_interval if timeout is None else min(check_interval, timeout - waited)
            if stop.wait(pause):
                break
    except (portalocker.exceptions.LockException, OSError) as exc:
        # A lock we cannot take (read-only cache dir, filesystem without locks) only costs
        # a possible duplicate request; do not fail the photo for it.
        _unavailable(lock_dir, exc)
        unavailable = True
    waited = time.monotonic() - started
    flight = Flight(acquired, waited, path, stopped=stop.is_set(), unavailable=unavailable)
    try:
        yield flight
    finally:
        if handle is not None:
            if acquired:
                with contextlib.suppress(OSError, portalocker.exceptions.LockException):
                    portalocker.unlock(handle)
            handle.close()


def _unavailable(lock_dir: Path, exc: BaseException) -> None:
    """One warning per lock folder and process: every photo meets the same refusal."""
    warn_once(
        f"lock-dir:{lock_dir}",
        "single-flight locks unavailable in %s (%s); going on without them (another process "
        "asking for the same photo at the same time may pay for it again)",
        lock_dir,
        getattr(exc, "strerror", None) or exc,
    )


__all__ = ["Flight", "lock_path", "single_flight"]
