"""Two-level result cache for a fleet: this machine's disk cache in front, Redis behind.

* ``get``: the local :class:`ResultCache` first (no network for a photo this machine has seen);
  on a local miss, Redis (``GET`` + ``PTTL`` of ``plantid:v1:result:<cache key>``); a Redis hit
  is copied into the local cache with the time it has left, so both expire together.
* ``set``: both levels, Redis with ``SET ... PX ttl`` (the same keys and TTL as on disk).
* Values are JSON objects only, as on disk: anything else in Redis reads as a miss.
* Redis lost: the local level keeps working alone (see RedisLink.run).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from plantid_cli.guards.disk.cache import ResultCache
    from plantid_cli.guards.redis.link import RedisLink

SCAN_BATCH = 1000


class TwoLevelCache:
    """The ResultCache API (get, set, stats, volume, clear, expire, close) over two levels."""

    def __init__(self, local: ResultCache, link: RedisLink, *, ttl: float) -> None:
        self.local = local
        self.link = link
        self.ttl = float(ttl)
        self.directory = local.directory

    def _name(self, key: str) -> str:
        return self.link.key("result", key)

    @property
    def storing(self) -> bool:
        """Whether an answer arriving now is stored on either level (ResultCache.storing)."""
        return self.local.storing or not self.link.lost

    def get(self, key: str) -> dict[str, Any] | None:
        value = self.local.get(key)
        if value is not None:
            return value
        return self._get_remote_copy(key)

    def get_many(self, keys: list[str]) -> list[dict[str, Any] | None]:
        """The local level in one read; Redis asked only for what this machine lacks."""
        values = self.local.get_many(keys)
        return [
            value if value is not None else self._get_remote_copy(key)
            for key, value in zip(keys, values, strict=True)
        ]

    def _get_remote_copy(self, key: str) -> dict[str, Any] | None:
        found = self.link.run(lambda: self._remote_get(key), lambda: None)
        if found is None:
            return None
        value, left = found
        self.local.set(key, value, ttl=left)
        return value

    def _remote_get(self, key: str) -> tuple[dict[str, Any], float] | None:
        pipe = self.link.client.pipeline(transaction=False)
        pipe.get(self._name(key))
        pipe.pttl(self._name(key))
        raw, pttl = pipe.execute()
        if raw is None:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(value, dict):
            return None
        left = pttl / 1000 if isinstance(pttl, int) and pttl > 0 else self.ttl
        return value, left

    def set(self, key: str, value: dict[str, Any]) -> None:
        self.local.set(key, value)
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        millis = max(1, int(self.ttl * 1000))
        self.link.run(lambda: self.link.client.set(self._name(key), text, px=millis), lambda: None)

    def stats(self) -> dict[str, Any]:
        info = self.local.stats()
        info["shared"] = "redis"
        return info

    def volume(self) -> int:
        return self.local.volume()

    def expire(self) -> int:
        return self.local.expire()

    def clear(self) -> int:
        """Remove every answer, here and in Redis; return the larger of the two counts."""
        removed = self.local.clear()
        return max(removed, self.link.run(self._remote_clear, lambda: 0))

    def _remote_clear(self) -> int:
        client = self.link.client
        removed = 0
        batch: list[bytes] = []
        for name in client.scan_iter(match=self._name("*"), count=SCAN_BATCH):
            batch.append(name)
            if len(batch) >= SCAN_BATCH:
                removed += client.unlink(*batch)
                batch = []
        if batch:
            removed += client.unlink(*batch)
        return removed

    def close(self) -> None:
        self.local.close()

    def __enter__(self) -> TwoLevelCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["TwoLevelCache"]
