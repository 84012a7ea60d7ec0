"""One service's API key, as far as this run knows: unproven, working, or rejected.

Why: a wrong key used to be tried once per photo — 200 photos, 200 calls, all 401. The first
401/403 from a service now ends the run for that service: every later photo of that service
gets an `auth` error record without a call (the user expects each input to have a record, and
with `--provider auto|both` the other service goes on), and one warning names
`plantid keys set <provider>`.

Exact, not "at most `concurrency`": until the key has been seen to work, one call at a time
goes to the service (the others wait for its answer), so a wrong key costs exactly one call
at any concurrency. Any outcome but a key rejection opens the gate — a 5xx or a timeout says
nothing against the key, and keeping an outage serial is the breaker's business, not this.
The price is one call's latency at the start of a run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from plantid_cli.errors import AuthError
from plantid_cli.events import Event, EventBus

T = TypeVar("T")


class KeyGate:
    def __init__(self, provider: str, bus: EventBus) -> None:
        self.provider = provider
        self.bus = bus
        self._cond = threading.Condition()
        self._open = False  # a call has come back without a key rejection
        self._probing = False  # the first call is out; the others wait for its answer
        self._rejected: AuthError | None = None

    def check(self) -> None:
        """Refuse at once, without a call, once the service has rejected the key."""
        rejected = self._rejected
        if rejected is not None:
            raise AuthError(
                f"{self.provider}: not sent: the service rejected the API key earlier in this run; "
                f"set the right key with `plantid keys set {self.provider}`"
            )

    def call(self, fn: Callable[[], T]) -> T:
        """`fn()` (one guarded call), the first one alone until the key has been seen to work."""
        with self._cond:
            while not self._open and self._probing and self._rejected is None:
                self._cond.wait()
            self.check()
            probe = not self._open
            self._probing = self._probing or probe
        try:
            result = fn()
        except AuthError as exc:
            self._reject(exc)
            raise
        except BaseException:
            if probe:
                self._settle()
            raise
        if probe:
            self._settle()
        return result

    def _settle(self) -> None:
        with self._cond:
            self._open = True
            self._cond.notify_all()

    def _reject(self, error: AuthError) -> None:
        with self._cond:
            first = self._rejected is None
            self._rejected = self._rejected or error
            self._cond.notify_all()
        if first:  # one warning per service and run, not one per photo
            self.bus.emit(Event.AUTH_REJECTED, provider=self.provider, message=error.message)
