"""The shared guard state of a fleet of machines, in one Redis (``redis_url``).

Imports redis at module level: only :func:`plantid_cli.guards.backend.open_backend` imports this
module, and only when ``redis_url`` is set, so disk users never pay for it.

Same guarantees as on disk, for every process on every machine using the same Redis:

* breaker per account (guards/account.py: service, API URL, key digest): the same
  :class:`SharedBreaker` logic (single half-open probe lease), its row kept as one JSON value
  at ``plantid:v1:breaker:<account>`` and changed with WATCH/MULTI (optimistic, retried), see
  :class:`RedisState.update_json`;
* credits: the same :class:`CreditsState` over :class:`RedisState`
  (``plantid:v1:credits:<account>``);
* rate limit: a sliding log in a sorted set (``plantid:v1:rate:<account>``) checked and recorded
  by one Lua script on the Redis clock (atomic, so no window ever holds more than ``n`` starts
  across the fleet; machines' clocks do not matter), see guards/redis/ratelimit.py;
* single flight: this machine's disk lock, then redis-py's lock (``SET NX PX`` token,
  ``plantid:v1:lock:<hash>``) with an expiry renewed by a thread while the holder works;
* results: see guards/redis/cache.py (the local disk cache stays in front).

Losing Redis, at start (a ping with a short timeout) or mid-run (any RedisError: a lost
connection, a timeout, a full Redis, a database index out of range): :meth:`RedisLink.lose`
logs one warning on the ``plantid`` logger,
``[REDIS] unreachable at <url without password>; using local state on this machine``, and from
then on every primitive of this process answers from its disk backend instead.
The link (client, loss, failover) is guards/redis/link.py, which cache.py and ratelimit.py use
too; this module puts the pieces together.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import redis
from redis.exceptions import LockError

from plantid_cli.guards.breaker.row import JsonBreakerStore, SqliteBreakerStore
from plantid_cli.guards.breaker.shared import SharedBreaker
from plantid_cli.guards.disk.credits import CreditsState
from plantid_cli.guards.disk.lock import Flight
from plantid_cli.guards.disk.ratelimit import RateLimiter
from plantid_cli.guards.redis.cache import TwoLevelCache
from plantid_cli.guards.redis.link import (
    ERRORS,
    NAMESPACE,
    SOCKET_TIMEOUT,
    Failover,
    RedisLink,
    link_for,
    url_without_password,
)
from plantid_cli.guards.redis.ratelimit import FleetRateLimiter

if TYPE_CHECKING:
    from plantid_cli.config import Settings
    from plantid_cli.guards.account import Account
    from plantid_cli.guards.disk.backend import DiskBackend

T = TypeVar("T")

#: Expiry of a single-flight lock; the holder renews it every third of it while it works.
LOCK_TTL = 10.0
LOCK_POLL = 0.05


def _loads(raw: bytes | str | None, default: Any) -> Any:
    if raw is None:
        return default
    try:
        return json.loads(raw)
    except ValueError:
        return default


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class RedisState:
    """SharedState's small-JSON-value API (``get_json``, ``set_json``, ``update_json``,
    ``delete``) on Redis strings under ``plantid:v1:<key>``. Raises redis errors: wrap it in
    :class:`Failover` for the fallback."""

    def __init__(self, link: RedisLink) -> None:
        self.link = link
        self.client = link.client

    def get_json(self, key: str, default: Any = None) -> Any:
        return _loads(self.client.get(self.link.key(key)), default)

    def set_json(self, key: str, value: Any) -> None:
        self.client.set(self.link.key(key), _dumps(value))

    def delete(self, key: str) -> bool:
        return bool(self.client.delete(self.link.key(key)))

    def update_json(self, key: str, fn: Callable[[Any], Any], default: Any = None) -> Any:
        """Atomically replace the value at `key` with ``fn(old)``: WATCH, read, MULTI, SET,
        EXEC, retried from the read when another client wrote the key meanwhile (so `fn` may
        run more than once and must have no side effects)."""
        name = self.link.key(key)

        def attempt(pipe: redis.client.Pipeline) -> Any:
            new = fn(_loads(pipe.get(name), default))
            pipe.multi()
            pipe.set(name, _dumps(new))
            return new

        return self.client.transaction(attempt, name, value_from_callable=True)


class _Renewer:
    """Keeps a held lock alive: ``reacquire()`` (expiry back to LOCK_TTL) every LOCK_TTL / 3."""

    def __init__(self, link: RedisLink, lock: redis.lock.Lock) -> None:
        self.link = link
        self.lock = lock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="plantid-lock-renew", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(LOCK_TTL / 3):
            try:
                self.lock.reacquire()
            except LockError:
                return  # expired and taken by someone else: nothing left to renew
            except ERRORS as exc:
                self.link.lose(exc)
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=SOCKET_TIMEOUT * 3)


@contextlib.contextmanager
def redis_single_flight(
    link: RedisLink,
    key: str,
    timeout: float | None,
    disk_flight: Callable[[], contextlib.AbstractContextManager[Flight]],
    stop: threading.Event | None = None,
) -> Iterator[Flight]:
    """:func:`plantid_cli.guards.disk.lock.single_flight` across the fleet (same Flight contract:
    no time limit unless `timeout` is given, `stop` ends the wait). A holder's lease lasts
    LOCK_TTL and is renewed while it works, so a waiter waits for the holder's answer or its
    death (its lease running out), never less.

    The machine's disk lock is taken first, then the Redis lock (always in that order, so two
    processes never hold one each): a process of this machine waits for a local holder on
    the disk lock, and losing Redis mid-wait cannot let it past a holder still in its call
    (that paid twice). Only other machines rely on the Redis lock alone."""
    started = time.monotonic()
    stop = stop or threading.Event()
    with disk_flight() as local:
        if link.lost or not (local.acquired or local.unavailable):
            yield local  # Redis gone, or the local wait ended (stopped, timed out)
            return
        left = None if timeout is None else max(0.0, timeout - local.waited)
        with _redis_lock(link, key, left, stop) as held:
            if held is None:  # Redis lost while waiting: the disk lock is the one we have
                yield local
                return
            waited = time.monotonic() - started
            yield Flight(held, waited, local.path, stopped=stop.is_set())


@contextlib.contextmanager
def _redis_lock(
    link: RedisLink, key: str, timeout: float | None, stop: threading.Event
) -> Iterator[bool | None]:
    """Hold the fleet lock of `key` for the block: True, False (stopped or timed out), or None
    when Redis is lost (now or while waiting)."""
    name = link.key("lock", hashlib.sha256(key.encode("utf-8")).hexdigest()[:40])
    started = time.monotonic()
    acquired = False
    lock = link.client.lock(
        name,
        timeout=LOCK_TTL,
        sleep=LOCK_POLL,
        thread_local=False,  # the renewer thread extends it
    )
    try:
        # polled here rather than by redis-py, so that `stop` is heard between tries
        while not (acquired := bool(lock.acquire(blocking=False))):
            waited = time.monotonic() - started
            if timeout is not None and waited >= timeout:
                break
            pause = LOCK_POLL if timeout is None else min(LOCK_POLL, timeout - waited)
            if stop.wait(pause):
                break
    except ERRORS as exc:
        link.lose(exc)
    if link.lost:
        yield None
        return
    renewer = _Renewer(link, lock) if acquired and lock is not None else None
    try:
        yield acquired
    finally:
        if renewer is not None:
            renewer.stop()
        if acquired and lock is not None and not link.lost:
            try:
                lock.release()
            except LockError:
                pass  # expired meanwhile; nothing to release
            except ERRORS as exc:
                link.lose(exc)


class RedisBackend:
    """Shared state in Redis, with this machine's :class:`DiskBackend` as the fallback."""

    kind = "redis"

    def __init__(self, settings: Settings, disk: DiskBackend) -> None:
        self.settings = settings
        self.disk = disk
        self.link = link_for(settings.redis_url or "")
        self.kv = RedisState(self.link)

    def breaker(self, account: Account, **options: Any) -> SharedBreaker:
        store = Failover(
            self.link,
            JsonBreakerStore(self.kv, account.id),
            SqliteBreakerStore(self.disk.state, account.id),
        )
        return SharedBreaker(self.disk.state, account.provider, store=store, **options)

    def ratelimiter(self, bucket: str, limits: list[tuple[int, float]]) -> RateLimiter:
        return FleetRateLimiter(self.link, self.disk.state, bucket, limits)

    def credits(self, account: Account, cooldown: float = 300.0) -> CreditsState:
        state = Failover(self.link, self.kv, self.disk.state)
        return CreditsState(state, account.provider, cooldown=cooldown, account=account.id)  # type: ignore[arg-type]

    def cache(self) -> TwoLevelCache:
        return TwoLevelCache(self.disk.cache(), self.link, ttl=self.settings.cache_ttl)

    def single_flight(
        self, key: str, timeout: float | None, stop: threading.Event | None = None
    ) -> contextlib.AbstractContextManager[Flight]:
        return redis_single_flight(
            self.link, key, timeout, lambda: self.disk.single_flight(key, timeout, stop), stop
        )

    def info(self) -> dict[str, Any]:
        reachable = not self.link.lost
        info: dict[str, Any] = {"kind": "redis", "url": self.link.shown, "reachable": reachable}
        if not reachable:
            info["fallback"] = "disk"
        return info


__all__ = [
    "NAMESPACE",
    "Failover",
    "FleetRateLimiter",
    "RedisBackend",
    "RedisLink",
    "RedisState",
    "link_for",
    "redis_single_flight",
    "url_without_password",
]
