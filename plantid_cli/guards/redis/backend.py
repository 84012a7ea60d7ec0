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
  across the fleet; machines' clocks do not matter), see guards/redis_ratelimit.py;
* single flight: this machine's disk lock, then redis-py's lock (``SET NX PX`` token,
  ``plantid:v1:lock:<hash>``) with an expiry renewed by a thread while the holder works;
* results: see guards/redis_cache.py (the local disk cache stays in front).

Losing Redis, at start (a ping with a short timeout) or mid-run (any RedisError: a lost
connection, a timeout, a full Redis, a database index out of range): :meth:`RedisLink.lose`
logs one warning on the ``plantid`` logger,
``[REDIS] unreachable at <url without password>; using local state on this machine``, and from
then on every primitive of this process answers from its disk backend instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.exceptions import LockError
from redis.retry import Retry

from plantid_cli.errors import ConfigError
from plantid_cli.guards.breaker.row import JsonBreakerStore, SqliteBreakerStore
from plantid_cli.guards.breaker.shared import SharedBreaker
from plantid_cli.guards.disk.credits import CreditsState
from plantid_cli.guards.disk.lock import Flight
from plantid_cli.guards.disk.ratelimit import RateLimiter
from plantid_cli.guards.redis.ratelimit import FleetRateLimiter

if TYPE_CHECKING:
    from plantid_cli.config import Settings
    from plantid_cli.guards.account import Account
    from plantid_cli.guards.backend import DiskBackend
    from plantid_cli.guards.redis.cache import TwoLevelCache

log = logging.getLogger("plantid")

T = TypeVar("T")

#: Every key starts with this, so one Redis can serve several projects (and later versions).
NAMESPACE = "plantid:v1:"
CONNECT_TIMEOUT = 0.5
SOCKET_TIMEOUT = 1.0
#: Expiry of a single-flight lock; the holder renews it every third of it while it works.
LOCK_TTL = 10.0
LOCK_POLL = 0.05

#: Redis errors that make this process fall back to local state (one warning). Every one:
#: besides a lost connection, a full Redis (OOM under noeviction), a database index out of
#: range, a read-only replica or a refused AUTH are the Redis's state, never a photo's fault.
#: (LockError is one too: callers that expect it catch it first.)
ERRORS: tuple[type[BaseException], ...] = (redis.RedisError,)


def url_without_password(url: str) -> str:
    """``redis://user:secret@host:6379/0`` -> ``redis://user@host:6379/0`` (query dropped)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = host + (f":{parts.port}" if parts.port else "")
        if parts.username:
            netloc = f"{parts.username}@{netloc}"
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    except ValueError:
        return "<invalid redis url>"


def _passwords(url: str) -> list[str]:
    """Every password `url` carries: ``redis://:pw@host`` and ``?password=pw`` (redis-py
    reads both), so that both are masked wherever they might be shown."""
    from urllib.parse import parse_qs

    try:
        parts = urlsplit(url)
        found = [parts.password or ""] + parse_qs(parts.query).get("password", [])
    except ValueError:
        return []
    return [password for password in found if password]


class RedisLink:
    """One Redis client per URL and process, and whether this process has lost it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.shown = url_without_password(url)
        self.passwords = _passwords(url)
        from plantid_cli.redact import register_secret

        for password in self.passwords:
            register_secret(password)
        try:
            self.client = redis.Redis.from_url(
                url,
                socket_connect_timeout=CONNECT_TIMEOUT,
                socket_timeout=SOCKET_TIMEOUT,
                retry=Retry(NoBackoff(), 1),  # one quick retry: a pooled socket may be stale
                health_check_interval=0,
            )
        except ValueError as exc:
            raise ConfigError(f"redis_url {self.shown!r} is not a Redis URL: {exc}") from None
        self.lost = False
        self._lock = threading.Lock()

    def key(self, *parts: str) -> str:
        return NAMESPACE + ":".join(parts)

    def connect(self) -> None:
        """Ping once; a Redis that does not answer is lost for this process (one warning)."""
        self.run(self.client.ping, lambda: None)

    def lose(self, exc: BaseException) -> None:
        with self._lock:
            if self.lost:
                return
            self.lost = True
        detail = str(exc) or type(exc).__name__
        for password in self.passwords:
            detail = detail.replace(password, "****")
        log.warning(
            "[REDIS] unreachable at %s; using local state on this machine (%s)",
            self.shown,
            detail,
        )

    def run(self, op: Callable[[], T], fallback: Callable[[], T]) -> T:
        """``op()`` on Redis; once Redis is lost (now or before), ``fallback()`` on disk."""
        if not self.lost:
            try:
                return op()
            except ERRORS as exc:
                self.lose(exc)
        return fallback()


_links: dict[str, RedisLink] = {}
_links_lock = threading.Lock()


def link_for(url: str) -> RedisLink:
    """The process's link to `url` (created and pinged on first use)."""
    with _links_lock:
        link = _links.get(url)
        if link is None:
            link = _links[url] = RedisLink(url)
            link.connect()
        return link


class Failover:
    """Calls a method on `primary` (Redis); once Redis is lost, the same one on `secondary`."""

    def __init__(self, link: RedisLink, primary: Any, secondary: Any) -> None:
        self._link = link
        self._primary = primary
        self._secondary = secondary

    def __getattr__(self, name: str) -> Callable[..., Any]:
        primary = getattr(self._primary, name)
        secondary = getattr(self._secondary, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._link.run(
                lambda: primary(*args, **kwargs), lambda: secondary(*args, **kwargs)
            )

        return call


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
        from plantid_cli.guards.redis.cache import TwoLevelCache

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
