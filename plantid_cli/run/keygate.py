"""One service's API key, as far as this run knows: unproven, working, or rejected.

Why: a wrong key used to be tried once per photo — 200 photos, 200 calls, all 401. The first
401/403 from a service now ends the run for that service: every later photo of that service
gets an `auth` error record without a call (the user expects each input to have a record, and
with `--provider auto|both` the other service goes on), and one warning names
`plantid keys set <provider>`.

No gate in front of the first call: a run's first calls go out together (the calls already in
flight when the first 401 comes back, at most `--concurrency`, finish; none starts after it).
Holding every call behind the first one would make a wrong key cost exactly one call, but it
costs every run one call's latency and turns a hung first call into a hung run.

The same holds for the other answer that says this run's settings are wrong, not the photo:
a 404 for the endpoint (a wrong API URL, a Pl@ntNet flora the service does not have). Every
call would get it, so the first one ends the run's calls to that service too, each later
photo reported with the first error (a mistyped `--project` used to send one request per
photo of the batch).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from plantid_cli.config import key_env
from plantid_cli.errors import AuthError, ConfigError
from plantid_cli.events import Event, EventBus

T = TypeVar("T")


def key_remedy(provider: str) -> str:
    """Where the right key goes, both ways: the environment variable wins over the keys
    file, so `plantid keys set` alone changed nothing for a key taken from it (README
    walk-through, session 19)."""
    return f"{key_env(provider)} (it wins over the keys file), or `plantid keys set {provider}`"


class KeyGate:
    def __init__(self, provider: str, bus: EventBus) -> None:
        self.provider = provider
        self.bus = bus
        self._lock = threading.Lock()
        self._rejected: AuthError | None = None
        self._misdirected: ConfigError | None = None  # the first 404 for the endpoint

    def check(self) -> None:
        """Refuse at once, without a call, once the service has rejected the key (or said
        that the endpoint or flora does not exist)."""
        rejected = self._rejected
        if rejected is not None:
            raise AuthError(
                f"{self.provider}: not sent: the service rejected the API key earlier in this run; "
                f"set the right key: {key_remedy(self.provider)}"
            )
        misdirected = self._misdirected
        if misdirected is not None:
            raise ConfigError(f"not sent, as earlier in this run: {misdirected.message}")

    def call(self, fn: Callable[[], T]) -> T:
        """`fn()` (one guarded call), unless the key was rejected earlier in this run."""
        self.check()
        try:
            return fn()
        except AuthError as exc:
            self._reject(exc)
            raise
        except ConfigError as exc:
            with self._lock:
                self._misdirected = self._misdirected or exc
            raise

    def _reject(self, error: AuthError) -> None:
        with self._lock:
            first = self._rejected is None
            self._rejected = self._rejected or error
        if first:  # one warning per service and run, not one per photo
            self.bus.emit(
                Event.AUTH_REJECTED,
                provider=self.provider,
                message=error.message,
                remedy=key_remedy(self.provider),
            )
