"""Everything that stands between a prepared upload and the HTTP call, for one provider.

Order of the guards (cheapest and most final first): cache -> credits cool-down -> breaker
check -> single-flight lock -> cache again -> [breaker-guarded: rate limit -> call, retried].
Each guard's state is shared by every process through `cache_dir` (see guards/).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from plantid_cli.constants import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    BACKOFF_JITTER,
    DEADLINE_SLACK,
    RETRY_AFTER_CAP,
    SETTLE_SECONDS,
)
from plantid_cli.errors import (
    CreditsExhausted,
    Interrupted,
    PlantidError,
    ServiceUnavailable,
    UnusableAnswer,
)
from plantid_cli.events import Event, EventBus
from plantid_cli.guards.account import account_for
from plantid_cli.guards.backend import AnswerCache, Backend, open_backend
from plantid_cli.guards.disk.ratelimit import parse_rate_limit

if TYPE_CHECKING:
    from plantid_cli.config import Settings
    from plantid_cli.guards.wire import Turn

T = TypeVar("T")


@dataclass(frozen=True)
class Deadlines:
    """Every wait bound of one photo's guarded call, derived from one another (one place).

    `call`: the longest the attempts and the waits between them may take (each attempt one
    `timeout` plus SETTLE_SECONDS, providers/exchange.py; each wait at most the larger of the
    backoff and the Retry-After caps); a retry wait that would not leave room for the next
    attempt inside it fails the photo at once.
    `held`: the longest a photo's single-flight lock is held: its call and, before it, its wait
    for a slot of the run's concurrency (`Wire`: at most one other photo's call), and, when it
    finds its own run's breaker trial out, for each trial the circuit needs to close (its
    success threshold) a wait for that trial and one more for a slot (breaker.ProbeInFlight).
    `probe_lease`: how long a half-open breaker probe may hold its slot (the call plus slack:
    the lease is taken once the photo has its slot).
    `lock_wait`: how long a process waits for another one asking for the same photo. None
    (`lock_timeout` unset): no time limit, it waits for the holder's answer or the holder's
    death (guards/lock.py). A `lock_timeout` shorter than `held` plus slack is raised to it,
    so no waiter gives up on a holder still inside its own call and pays a second time.
    """

    call: float
    held: float
    probe_lease: float
    lock_wait: float | None


def deadlines(settings: Settings) -> Deadlines:
    """The deadlines of `settings` (see :class:`Deadlines`)."""
    between = max(BACKOFF_CAP * BACKOFF_JITTER, RETRY_AFTER_CAP)
    attempt = settings.timeout + SETTLE_SECONDS
    call = attempt * (settings.retries + 1) + between * settings.retries
    held = 2 * (1 + settings.breaker_success_threshold) * call
    wait = (
        None if settings.lock_timeout is None else max(settings.lock_timeout, held + DEADLINE_SLACK)
    )
    return Deadlines(call=call, held=held, probe_lease=call + DEADLINE_SLACK, lock_wait=wait)


class ProviderGuards:
    """The guards of one provider's account (its own breaker, rate limit and credits state)."""

    #: Set by the run (Engine) on the first Ctrl-C or SIGTERM: no attempt starts after it, and
    #: every wait (retry, rate limit) ends at once.
    stop: threading.Event | None = None

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
            probe_lease=deadlines(settings).probe_lease,
        )
        self._said_exhausted = False  # `[CREDITS] ... exhausted` said in this run
        self._said_lock = threading.Lock()
        self.credits = self.backend.credits(self.account, cooldown=settings.credits_cooldown)
        self.ratelimit = self.backend.ratelimiter(
            self.account.id, parse_rate_limit(settings.rate_limit)
        )

    def _first_exhausted(self) -> bool:
        with self._said_lock:
            first, self._said_exhausted = not self._said_exhausted, True
        return first

    def _breaker_changed(self, provider: str, old: str, new: str, failures: int) -> None:
        self.bus.emit(Event.CIRCUIT_STATE, provider=provider, old=old, new=new, failures=failures)

    def check(self, *, admitted: bool = False) -> None:
        """Fail fast, without any network: credits known to be gone, or the breaker open.
        `admitted`: for a call the breaker let through earlier that waited since (for its
        slot, for its retry) while another photo's answer closed the way (by any process):
        safe inside the breaker's own call, where a probe is not refused by its own lease."""
        self.credits.check()
        if admitted:
            self.breaker.refuse_if_open()
        else:
            self.breaker.check()

    def call(self, fn: Callable[[], T], path: str, turn: Turn | None = None) -> T:
        """One breaker-guarded call; transient failures retried inside it (one failure total).
        `turn`: the unit's place among the run's requests (guards/wire.py), held by the caller
        from before this call (taken before the breaker admits it: a refusal learned while
        waiting for it is this process's, never the service's answer, and a probe lease is
        never held while waiting) until the answer is stored or the failure counted; a retry
        asks its `recheck` after its wait."""
        return self.breaker.call(lambda: self._with_retries(fn, path, turn))

    def _learned_meanwhile(self, turn: Turn | None) -> bool:
        """Whether another photo's answer, while this one waited to retry, refuses its retry
        (the key rejected, the credits gone): the photo then keeps its own error, unsent."""
        try:
            if turn is not None:
                turn.recheck()
            else:
                self.check(admitted=True)
        except PlantidError:
            return True
        return False

    def _with_retries(self, fn: Callable[[], T], path: str, turn: Turn | None) -> T:
        attempts = self.settings.retries + 1
        deadline = time.monotonic() + deadlines(self.settings).call
        stop = self.stop or threading.Event()
        for attempt in range(1, attempts + 1):
            if stop.is_set():  # stopped before a slot was taken, or while waiting for one
                raise Interrupted("stopped before the request was sent")
            waited = self.ratelimit.acquire(on_wait=self._first_wait_only(), stop=stop)
            if stop.is_set():
                raise Interrupted("stopped before the request was sent")
            self.bus.emit(Event.RATE_ACQUIRED, provider=self.provider, seconds=waited)
            self.bus.emit(Event.UPSTREAM_START, provider=self.provider, path=path, attempt=attempt)
            started = time.monotonic()
            try:
                result = fn()
            except CreditsExhausted as exc:
                self._emit_call(path, "credits", started)
                self.credits.mark_exhausted(exc.message)
                if self._first_exhausted():  # once per run, not once per photo in flight
                    self.bus.emit(Event.CREDITS_EXHAUSTED, provider=self.provider)
                raise
            except UnusableAnswer as exc:
                # Charged: a retry would pay again for the same junk (errors.UnusableAnswer).
                self._emit_call(path, _outcome(exc), started)
                raise
            except ServiceUnavailable as exc:
                self._emit_call(path, _outcome(exc), started)
                if attempt == attempts:
                    raise
                delay = self._retry_delay(exc, attempt, attempts, deadline)
                if delay is None or self.breaker.is_open():
                    raise  # an open breaker (any process's) stops the retries in flight too
                self.bus.emit(
                    Event.UPSTREAM_RETRY,
                    provider=self.provider,
                    attempt=attempt + 1,
                    delay=delay,
                    reason=exc.reason,
                )
                if stop.wait(delay):  # Ctrl-C / SIGTERM: no retry; the photo keeps this error
                    raise
                if self.breaker.is_open() or self._learned_meanwhile(turn):
                    raise  # opened, or the key rejected or the credits gone, while it waited
            except Exception as exc:
                self._emit_call(path, _outcome(exc), started)
                raise
            else:
                self._emit_call(path, "ok", started)
                remaining = getattr(result, "remaining", None)
                quota = getattr(result, "quota", None) or {}
                if remaining is not None:
                    self.credits.set_remaining(
                        remaining, limit=quota.get("limit"), resets_in=quota.get("resets_in")
                    )
                return result
        raise AssertionError("unreachable")

    def _retry_delay(
        self, exc: ServiceUnavailable, attempt: int, attempts: int, deadline: float
    ) -> float | None:
        """Seconds to wait before attempt `attempt + 1`, or None to give up now: the service
        asks for more than RETRY_AFTER_CAP, or the wait would leave the remaining attempts no
        room inside the photo's deadline (a Retry-After never stretches a photo past it)."""
        delay = getattr(exc, "retry_after", None)
        if delay is None:
            delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
            delay *= random.uniform(2 - BACKOFF_JITTER, BACKOFF_JITTER)
        elif delay > RETRY_AFTER_CAP:
            return None
        span = self.settings.timeout + SETTLE_SECONDS
        left = deadline - time.monotonic() - span * (attempts - attempt)
        return delay if delay <= left else None

    def _first_wait_only(self) -> Callable[[float], None]:
        """`[RATE] wait` once per call: the limiter may sleep several times while other
        processes take the freed slots, and one line per sleep is noise."""
        said: list[bool] = []

        def on_wait(seconds: float) -> None:
            if not said:
                said.append(True)
                self.bus.emit(Event.RATE_WAIT, provider=self.provider, seconds=seconds)

        return on_wait

    def _emit_call(self, path: str, outcome: str, started: float) -> None:
        self.bus.emit(
            Event.UPSTREAM_CALL,
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


def open_cache(settings: Settings) -> AnswerCache:
    """The result cache of the configured backend (with Redis: local disk in front of it)."""
    return open_backend(settings).cache()
