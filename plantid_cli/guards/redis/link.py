"""One Redis client per URL and process, and whether this process has lost it.

Its own module because the fleet cache (cache.py), rate limiter (ratelimit.py) and backend
(backend.py) all talk through it: kept below them, none of them imports another back. Imports
redis at module level, like everything in guards/redis/ (loaded only when ``redis_url`` is set).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from plantid_cli.errors import ConfigError
from plantid_cli.redact import register_secret

log = logging.getLogger("plantid")

T = TypeVar("T")

#: Every key starts with this, so one Redis can serve several projects (and later versions).
NAMESPACE = "plantid:v1:"
CONNECT_TIMEOUT = 0.5
SOCKET_TIMEOUT = 1.0

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
