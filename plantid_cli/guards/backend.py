"""Where the shared guard state lives: on disk under ``cache_dir`` (default) or in Redis.

:func:`open_backend` is the one selection point. The engine, the guards and ``plantid status``
ask the backend for a breaker, a rate limiter, the credits state, the result cache and the
single-flight lock, and never care which one it is:

* :class:`DiskBackend` (guards/disk/backend.py): everything under ``cache_dir`` (SQLite
  state, diskcache, lock files); shared by the processes of one machine.
* ``RedisBackend`` (guards/redis/backend.py, imported only when ``redis_url`` is set): shared by
  a fleet of machines. When Redis cannot be reached - at start or mid-run - the process logs one
  ``[REDIS] unreachable at ...`` warning and carries on with its disk backend.

Stdlib only at import time (plus the guard modules, which are stdlib only too): a disk user
never imports redis.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from threading import Event
from typing import TYPE_CHECKING, Any, Protocol

from plantid_cli.errors import ConfigError
from plantid_cli.guards.breaker.shared import SharedBreaker
from plantid_cli.guards.disk.backend import DiskBackend
from plantid_cli.guards.disk.credits import CreditsState
from plantid_cli.guards.disk.lock import Flight
from plantid_cli.guards.disk.ratelimit import RateLimiter

if TYPE_CHECKING:
    from plantid_cli.config import Settings
    from plantid_cli.guards.account import Account


class AnswerCache(Protocol):
    """The result cache a backend hands out: the disk ResultCache, or Redis's TwoLevelCache
    over it. What the engine and `plantid cache` use, and nothing more."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def get_many(self, keys: list[str]) -> list[dict[str, Any] | None]: ...

    def set(self, key: str, value: dict[str, Any]) -> object: ...

    def stats(self) -> dict[str, Any]: ...

    def volume(self) -> int: ...

    def clear(self) -> int: ...

    def expire(self) -> int: ...

    def close(self) -> None: ...

    @property
    def storing(self) -> bool: ...  # an answer arriving now is stored (not a refusing disk)


class Backend(Protocol):
    kind: str

    # breaker, rate limit and credits belong to an account (guards/account.py), never to a
    # service name alone: the bucket of a rate limiter is the account id too
    def breaker(self, account: Account, **options: Any) -> SharedBreaker: ...

    def ratelimiter(self, bucket: str, limits: list[tuple[int, float]]) -> RateLimiter: ...

    def credits(self, account: Account, cooldown: float = 300.0) -> CreditsState: ...

    def cache(self) -> AnswerCache: ...

    def single_flight(
        self, key: str, timeout: float | None, stop: Event | None = None
    ) -> AbstractContextManager[Flight]: ...

    def info(self) -> dict[str, Any]: ...


def open_backend(settings: Settings) -> Backend:
    """The backend `settings` asks for: Redis when ``redis_url`` is set, else the disk."""
    disk = DiskBackend(settings)
    if not settings.redis_url:
        return disk
    try:
        # lazy: keeps redis-py (~90 ms) off every disk user's path
        from plantid_cli.guards.redis.backend import RedisBackend
    except ImportError as exc:
        if (exc.name or "").partition(".")[0] != "redis":
            raise
        raise ConfigError(
            "redis_url (PLANTID_REDIS_URL) is set but the redis package is not installed:"
            " pip install 'plantid-cli[redis]'"
        ) from None
    return RedisBackend(settings, disk)


__all__ = ["Backend", "DiskBackend", "open_backend"]
