"""The disk backend: every guard primitive under ``settings.cache_path`` (one machine).

Its own module, below guards/backend.py (which chooses between it and Redis), because the Redis
backend falls back to it: redis/backend.py imports this, and nothing here imports Redis or the
chooser back. Stdlib only at import time (diskcache is loaded by :meth:`DiskBackend.cache`).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from threading import Event
from typing import TYPE_CHECKING, Any

from plantid_cli.config_files import make_private_dir
from plantid_cli.errors import ConfigError
from plantid_cli.guards.breaker.row import SqliteBreakerStore
from plantid_cli.guards.breaker.shared import SharedBreaker
from plantid_cli.guards.disk.credits import CreditsState
from plantid_cli.guards.disk.lock import Flight, single_flight
from plantid_cli.guards.disk.ratelimit import RateLimiter
from plantid_cli.guards.disk.state import SharedState

if TYPE_CHECKING:
    from plantid_cli.config import Settings
    from plantid_cli.guards.account import Account
    from plantid_cli.guards.disk.cache import ResultCache


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
        # lazy: keeps diskcache off the paths that only check guards (status, the fast path)
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
        return single_flight(self.lock_dir, key, timeout, stop=stop)

    def info(self) -> dict[str, Any]:
        return {"kind": "disk", "reachable": True}


def _usable_folder(path: Path) -> None:
    """Create the cache folder (0700), or say which setting points at an unusable place."""
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


__all__ = ["DiskBackend"]
