"""Where the shared guard state lives: on disk under ``cache_dir`` (default) or in Redis.

:func:`open_backend` is the one selection point. The engine, the guards and ``plantid status``
ask the backend for a breaker, a rate limiter, the credits state, the result cache and the
single-flight lock, and never care which one it is:

* :class:`DiskBackend`: everything under ``cache_dir`` (SQLite state, diskcache, lock files);
  shared by the processes of one machine.
* ``RedisBackend`` (guards/redis_backend.py, imported only when ``redis_url`` is set): shared by
  a fleet of machines. When Redis cannot be reached - at start or mid-run - the process logs one
  ``[REDIS] unreachable at ...`` warning and carries on with its disk backend.

Stdlib only at import time (plus the guard modules, which are stdlib only too): a disk user
never imports redis.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from threading import Event
from typing import TYPE_CHECKING, Any, Protocol

from plantid_cli.guards.breaker.row import SqliteBreakerStore
from plantid_cli.guards.breaker.shared import SharedBreaker
from plantid_cli.guards.disk.credits import CreditsState
from plantid_cli.guards.disk.ratelimit import RateLimiter
from plantid_cli.guards.disk.state import SharedState, make_private_dir

if TYPE_CHECKING:
    from plantid_cli.config import Settings
    from plantid_cli.guards.account import Account
    from plantid_cli.guards.disk.cache import ResultCache
    from plantid_cli.guards.disk.lock import Flight


class AnswerCache(Protocol):
    """The result cache a backend hands out: the disk ResultCache, or Redis's TwoLevelCache
    over it. What the engine and `plantid cache` use, and nothing more."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def set(self, key: str, value: dict[str, Any]) -> object: ...

    def stats(self) -> dict[str, Any]: ...

    def volume(self) -> int: ...

    def clear(self) -> int: ...

    def expire(self) -> int: ...

    def close(self) -> None: ...


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


class DiskBackend:
    """All shared state under ``settings.cache_path`` (one machine)."""

    kind = "disk"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        _usable_folder(settings.cache_path)
        self.state = SharedState(settings.cache_path / "state.sqlite3")
        self.lock_dir = settings.cache_path / "locks"

    def breaker(self, account: Account, **options: Any) -> SharedBreaker:
        store = SqliteBreakerStore(self.state, account.id)
        return SharedBreaker(self.state, account.provider, store=store, **options)

    def ratelimiter(self, bucket: str, limits: list[tuple[int, float]]) -> RateLimiter:
        return RateLimiter(self.state, bucket, limits)

    def credits(self, account: Account, cooldown: float = 300.0) -> CreditsState:
        return CreditsState(self.state, account.provider, cooldown=cooldown, account=account.id)

    def cache(self) -> ResultCache:
        from plantid_cli.guards.disk.cache import ResultCache

        settings = self.settings
        return ResultCache(
            settings.cache_path / "results",
            ttl=settings.cache_ttl,
            size_limit=settings.cache_size_limit,
        )

    def single_flight(
        self, key: str, timeout: float | None, stop: Event | None = None
    ) -> AbstractContextManager[Flight]:
        from plantid_cli.guards.disk.lock import single_flight

        return single_flight(self.lock_dir, key, timeout, stop=stop)

    def info(self) -> dict[str, Any]:
        return {"kind": "disk", "reachable": True}


def _usable_folder(path: Path) -> None:
    """Create the cache folder (0700), or say which setting points at an unusable place."""
    from plantid_cli.errors import ConfigError

    try:
        make_private_dir(path)
    except OSError as exc:
        reason = exc.strerror or str(exc)
    else:
        if path.is_dir():
            return
        reason = "not a folder"
    raise ConfigError(
        f"cache folder {path} cannot be used: {reason} (PLANTID_CACHE_DIR, cache_dir)"
    )


def open_backend(settings: Settings) -> Backend:
    """The backend `settings` asks for: Redis when ``redis_url`` is set, else the disk."""
    disk = DiskBackend(settings)
    if not settings.redis_url:
        return disk
    try:
        from plantid_cli.guards.redis.backend import RedisBackend  # lazy: redis costs ~90 ms
    except ImportError as exc:
        if (exc.name or "").partition(".")[0] != "redis":
            raise
        from plantid_cli.errors import ConfigError

        raise ConfigError(
            "redis_url (PLANTID_REDIS_URL) is set but the redis package is not installed:"
            " pip install 'plantid-cli[redis]'"
        ) from None
    return RedisBackend(settings, disk)


__all__ = ["Backend", "DiskBackend", "open_backend"]
