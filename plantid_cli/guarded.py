"""Everything that stands between a prepared upload and the HTTP call, for one provider.

Order of the guards (cheapest and most final first): cache -> credits cool-down -> breaker
check -> single-flight lock -> cache again -> [breaker-guarded: rate limit -> call, retried].
Each guard's state is shared by every process through `cache_dir` (see guards/).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from .errors import CreditsExhausted, ServiceUnavailable, UnusableAnswer
from .events import EventBus
from .guards.account import account_for
from .guards.backend import Backend, open_backend
from .guards.ratelimit import parse_rate_limit

if TYPE_CHECKING:
    from .config import Settings
    from .guards.cache import ResultCache

T = TypeVar("T")

BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0


class ProviderGuards:
    """The guards of one provider's account (its own breaker, rate limit and credits state)."""

    def __init__(
        self,
        settings: Settings,
        provider: str,
        api_key: str,
        bus: EventBus,
        backend: Backend | None = None,
    ) -> None:
        self.settings = settings
        self.provider = provider
        self.bus = bus
        # disk (cache_dir) or Redis (redis_url): see guards/backend.py; a run shares one
        self.backend: Backend = backend or open_backend(settings)
        #: whose state this is: service, API URL and key digest (never one service's name)
        self.account = account_for(settings, provider, api_key)
        self.breaker = self.backend.breaker(
            self.account,
            fail_max=settings.breaker_fail_max,
            reset_timeout=settings.breaker_reset_timeout,
            success_threshold=settings.breaker_success_threshold,
            on_change=self._breaker_changed,
            # the probe holds its lease through every retry of one guarded call
            probe_lease=(
                settings.timeout * (settings.retries + 1) + BACKOFF_CAP * settings.retries + 5
            ),
        )
        self.credits = self.backend.credits(self.account, cooldown=settings.credits_cooldown)
        self.ratelimit = self.backend.ratelimiter(
            self.account.id, parse_rate_limit(settings.rate_limit)
        )

    def _breaker_changed(self, provider: str, old: str, new: str, failures: int) -> None:
        self.bus.emit("circuit.state", provider=provider, old=old, new=new, failures=failures)

    def check(self) -> None:
        """Fail fast, without any network: credits known to be gone, or the breaker open."""
        self.credits.check()
        self.breaker.check()

    def call(self, fn: Callable[[], T], path: str) -> T:
        """One breaker-guarded call; transient failures retried inside it (one failure total)."""
        return self.breaker.call(lambda: self._with_retries(fn, path))

    def _with_retries(self, fn: Callable[[], T], path: str) -> T:
        attempts = self.settings.retries + 1
        for attempt in range(1, attempts + 1):
            waited = self.ratelimit.acquire(on_wait=self._first_wait_only())
            if waited:
                self.bus.emit("rate.wait.done", provider=self.provider, seconds=waited)
            self.bus.emit("rate.acquired", provider=self.provider, seconds=waited)
            self.bus.emit("upstream.start", provider=self.provider, path=path, attempt=attempt)
            started = time.monotonic()
            try:
                result = fn()
            except CreditsExhausted as exc:
                self._emit_call(path, "credits", started)
                self.credits.mark_exhausted(exc.message)
                self.bus.emit("credits.exhausted", provider=self.provider)
                raise
            except UnusableAnswer as exc:
                # Charged: a retry would pay again for the same junk (errors.UnusableAnswer).
                self._emit_call(path, _outcome(exc), started)
                raise
            except ServiceUnavailable as exc:
                self._emit_call(path, _outcome(exc), started)
                if attempt == attempts:
                    raise
                delay = getattr(exc, "retry_after", None)
                if delay is None:
                    delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
                    delay *= random.uniform(0.5, 1.5)
                self.bus.emit(
                    "upstream.retry",
                    provider=self.provider,
                    attempt=attempt + 1,
                    delay=delay,
                    reason=exc.reason,
                )
                time.sleep(min(delay, 60.0))
            except Exception as exc:
                self._emit_call(path, _outcome(exc), started)
                raise
            else:
                self._emit_call(path, "ok", started)
                remaining = getattr(result, "remaining", None)
                if remaining is not None:
                    self.credits.set_remaining(remaining)
                return result
        raise AssertionError("unreachable")

    def _first_wait_only(self) -> Callable[[float], None]:
        """`[RATE] wait` once per call: the limiter may sleep several times while other
        processes take the freed slots, and one line per sleep is noise."""
        said = []

        def on_wait(seconds: float) -> None:
            if not said:
                said.append(True)
                self.bus.emit("rate.wait", provider=self.provider, seconds=seconds)

        return on_wait

    def _emit_call(self, path: str, outcome: str, started: float) -> None:
        self.bus.emit(
            "upstream.call",
            provider=self.provider,
            outcome=outcome,
            seconds=time.monotonic() - started,
            path=path,
        )


def _outcome(exc: Exception) -> str:
    """Metric label for a failed call: auth, credits, bad_response (a paid answer we cannot
    use), timeout, server_error or client_error."""
    reason = getattr(exc, "reason", "")
    code = getattr(exc, "code", "")
    if code == "auth":
        return "auth"
    if code == "credits":
        return "credits"
    if code == "bad_response":
        return "bad_response"
    if reason == "timeout":
        return "timeout"
    if isinstance(exc, ServiceUnavailable):
        return "server_error"
    return "client_error"


def open_cache(settings: Settings) -> ResultCache:
    """The result cache of the configured backend (with Redis: local disk in front of it)."""
    return open_backend(settings).cache()
