"""A circuit breaker per provider, shared by every `plantid` process through SharedState.

The state machine is pybreaker's (imported lazily, by :meth:`SharedBreaker.call` once a call
fails or the circuit is not closed: a closed circuit's successes only reset the count);
its storage is the ``breaker`` table of the shared SQLite file, so a breaker opened by one
process is open for all of them. :meth:`SharedBreaker.check` and :meth:`SharedBreaker.status`
are a single SQLite read and never import pybreaker.

Half-open: exactly one process at a time sends the trial call. ``call()`` takes a *probe lease*
in one ``BEGIN IMMEDIATE`` transaction (token, pid, host, expiry) before it lets pybreaker move
the circuit to half-open and run ``fn``; any other process that finds the circuit due or
half-open while a live lease exists raises :class:`CircuitOpenError` without calling ``fn``.
A lease is live until it is released (always, in ``finally``), until ``probe_lease`` seconds
have passed, or until its holder process is found dead (same host, pid gone, e.g. kill -9).
A live lease refuses with :class:`ProbeInFlight`: a run's photos then wait for the trial's
outcome (:meth:`SharedBreaker.wait_for_probe`), whichever process sends it, instead of being
refused (at `-j 8` the rest of the prober's own run was, and every photo of every other
process running then, and closing the circuit took one run per success).

Outcome classification (see :func:`counts_as_failure`):

* ``ServiceUnavailable`` with ``counts_for_breaker = True`` (5xx, timeouts, bad answers) is a
  failure;
* ``AuthError``, ``RequestRejected``, ``CreditsExhausted``: the service *answered*, so they are
  not failures. pybreaker treats excluded exceptions as a successful call (they reset the
  consecutive-failure count and count as a successful half-open probe). They are re-raised
  unchanged;
* anything else (``ImageError``, ``CircuitOpenError``, Ctrl-C, programming errors) says nothing
  about the service: neutral, neither failure nor success, re-raised unchanged.

When a failing call trips the breaker the caller gets the *original* exception
(``throw_new_error_on_trip=False``); a call refused because the circuit is open raises
``CircuitOpenError(retry_at=...)``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from plantid_cli.constants import STATE_CLOSED, STATE_HALF_OPEN, STATE_OPEN, WIRE_POLL_SECONDS
from plantid_cli.errors import (
    AuthError,
    CircuitOpenError,
    CreditsExhausted,
    ProbeInFlight,
    RequestRejected,
    ServiceUnavailable,
)
from plantid_cli.guards.breaker.row import (
    CLOSED_ROW,
    HOST,
    NO_LEASE,
    BreakerRow,
    BreakerStore,
    Changes,
    SqliteBreakerStore,
)
from plantid_cli.guards.disk.state import SharedState
from plantid_cli.guards.lazy_imports import pybreaker as load_pybreaker

T = TypeVar("T")

#: Errors that prove the service answered: not failures, and count as a successful call.
ANSWERED_ERRORS: tuple[type[BaseException], ...] = (AuthError, RequestRejected, CreditsExhausted)

OnChange = Callable[[str, str, str, int], None]


def counts_as_failure(exc: BaseException) -> bool:
    """Only a ServiceUnavailable whose class says ``counts_for_breaker`` is a breaker failure."""
    return isinstance(exc, ServiceUnavailable) and bool(getattr(exc, "counts_for_breaker", False))


def is_answer(exc: BaseException) -> bool:
    """The service responded (auth refused, request refused, credits): evidence it is up."""
    return isinstance(exc, ANSWERED_ERRORS)


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


class SharedBreaker:
    """Per-provider circuit breaker whose state is shared by all processes.

    ``on_change(provider, old_state, new_state, failures)`` is called when *this* process
    changes the state (e.g. to log ``[CIRCUIT] plantid closed -> open (3 failures)``).
    ``probe_lease`` bounds how long a half-open trial call may hold the single probe slot
    (choose >= HTTP timeout x attempts + margin); a dead holder on this host frees it early.
    """

    def __init__(
        self,
        state: SharedState | None,
        provider: str,
        *,
        fail_max: int = 3,
        reset_timeout: float = 60.0,
        success_threshold: int = 2,
        on_change: OnChange | None = None,
        probe_lease: float = 120.0,
        store: BreakerStore | None = None,
    ) -> None:
        if fail_max < 1 or success_threshold < 1:
            raise ValueError("fail_max and success_threshold must be >= 1")
        if reset_timeout < 0 or probe_lease <= 0:
            raise ValueError("reset_timeout must be >= 0 and probe_lease > 0")
        self.state = state
        self.provider = provider
        #: where the row lives: the SQLite table by default, any BreakerStore otherwise (Redis)
        if store is None:
            if state is None:
                raise ValueError("a breaker needs its SharedState or a BreakerStore")
            store = SqliteBreakerStore(state, provider)
        self.store: BreakerStore = store
        self.fail_max = fail_max
        self.reset_timeout = float(reset_timeout)
        self.success_threshold = success_threshold
        self.on_change = on_change
        self.probe_lease = float(probe_lease)
        #: the lease tokens this breaker's calls hold or are taking (a token goes in before
        #: the lease is written, so no thread of this process ever reads its own run's lease
        #: as another process's); notified whenever one goes
        self._own_tokens: set[str] = set()
        self._tokens_changed = threading.Condition()

    # -- cheap read-only side (no pybreaker) --------------------------------------------------

    def _row(self) -> BreakerRow:
        return self.store.read()

    def _refusal(self, row: BreakerRow, now: float) -> CircuitOpenError | None:
        """The error to raise for `row` at `now`, or None when a call (or probe) may go ahead."""
        if row.state == STATE_CLOSED:
            return None
        due_at = (row.opened_at or 0.0) + self.reset_timeout
        if row.state == STATE_OPEN and now < due_at:
            return CircuitOpenError(
                f"{self.provider}: circuit open after repeated failures; "
                f"next try after {_iso(due_at)}",
                retry_at=due_at,
            )
        if row.lease_live(now):
            ours = row.probe_token in self._own_tokens  # a set's membership: safe unlocked
            if ours:
                who = "this run's trial call is still out"
            elif row.probe_pid == os.getpid() and row.probe_host == HOST:
                who = "this process is sending the trial call"
            else:
                who = "another process is sending the trial call"
            return ProbeInFlight(
                f"{self.provider}: circuit half-open, {who}",
                retry_at=row.probe_until,
                ours=ours,
                who=who,
            )
        return None

    def wait_for_probe(self, stop: threading.Event) -> None:
        """Return once no trial call is out (or at `stop`): what a call refused with
        ProbeInFlight waits for before it asks again. This breaker's own trials wake it when
        they end; another process's lease is read again every WIRE_POLL_SECONDS until it is
        released, expires or its holder is found dead. Bounded by the trial's own guarded
        call (its deadlines), and by its lease."""
        while not stop.is_set():
            with self._tokens_changed:
                if self._own_tokens:
                    self._tokens_changed.wait(WIRE_POLL_SECONDS)
                    continue
            row = self._row()
            if row.state == STATE_CLOSED or not row.lease_live(time.time()):
                return
            stop.wait(WIRE_POLL_SECONDS)

    def _forget_token(self, token: str) -> None:
        with self._tokens_changed:
            self._own_tokens.discard(token)
            self._tokens_changed.notify_all()

    def check(self) -> None:
        """Raise CircuitOpenError if open and not yet due; ProbeInFlight while a trial is out."""
        error = self._refusal(self._row(), time.time())
        if error is not None:
            raise error

    def refuse_if_open(self) -> None:
        """Raise CircuitOpenError if open and not yet due (by any process): a call admitted
        before, that waited meanwhile, is not sent into an outage declared since. A call that
        holds the probe lease is not refused: the state it probes is due."""
        if self.is_open():
            raise self._open_error()

    def is_open(self) -> bool:
        """Open and not yet due (opened by any process): a retry in flight gives up then.

        Why: the breaker counts one failure per guarded call, after its retries, so a photo
        admitted while the circuit was closed went on retrying into an outage every other
        process had already declared (`-j 8`: retries kept coming after `closed -> open`).
        A call that holds the probe lease is not stopped by it: the state it probes is due."""
        row = self._row()
        due_at = (row.opened_at or 0.0) + self.reset_timeout
        return row.state == STATE_OPEN and time.time() < due_at

    def status(self) -> dict[str, Any]:
        row = self._row()
        now = time.time()
        opened = row.opened_at if row.state != STATE_CLOSED else None
        next_try = None
        if row.state == STATE_OPEN:
            next_try = (row.opened_at or 0.0) + self.reset_timeout
        elif row.state == STATE_HALF_OPEN and row.lease_live(now):
            next_try = row.probe_until
        return {
            "state": row.state,
            "failures": int(row.failures or 0),
            "opened_at": _iso(opened),
            "next_try": _iso(next_try),
            # additions to the design.md contract:
            "successes": int(row.successes or 0),
            "probe_in_flight": row.state != STATE_CLOSED and row.lease_live(now),
            # open and past its reset timeout: the next call is the trial call
            "probe_due": row.state == STATE_OPEN and next_try is not None and next_try <= now,
        }

    def reset(self) -> None:
        """Close the circuit and forget counters and any probe lease."""

        old = self.store.update(lambda row: (CLOSED_ROW, row))
        if old.state != STATE_CLOSED:
            self._notify(old.state, STATE_CLOSED, int(old.failures or 0))

    def _notify(self, old: str, new: str, failures: int) -> None:
        if self.on_change is not None and old != new:
            self.on_change(self.provider, old, new, failures)

    # -- calls ------------------------------------------------------------------------------

    def _admit(self, token: str) -> bool:
        """Raise CircuitOpenError, or return whether we took the probe lease (one transaction).

        A closed circuit admits every call and changes nothing, so one read decides it: the
        write transaction (the state file's write lock, taken by every call of every process)
        is only for a circuit that is not closed, where the lease must be taken atomically."""
        if self._row().state == STATE_CLOSED:
            return False

        with self._tokens_changed:  # before the lease is written: see _own_tokens
            self._own_tokens.add(token)

        def decide(row: BreakerRow) -> tuple[Changes, bool]:
            now = time.time()
            error = self._refusal(row, now)
            if error is not None:
                raise error
            if row.state == STATE_CLOSED:
                return {}, False
            lease = {
                "probe_token": token,
                "probe_until": now + self.probe_lease,
                "probe_pid": os.getpid(),
                "probe_host": HOST,
            }
            return lease, True

        try:
            holds = self.store.update(decide)
        except BaseException:
            self._forget_token(token)
            raise
        if not holds:
            self._forget_token(token)
        return holds

    def _release(self, token: str) -> None:
        self.store.update(lambda row: (NO_LEASE if row.probe_token == token else {}, None))

    def _open_error(self) -> CircuitOpenError:
        row = self._row()
        error = self._refusal(row, time.time())
        # a trial's lease is never the reason here (pybreaker refused inside the trial, or a
        # replayed failure was not counted): only a check before a call waits for a trial
        if error is not None and not isinstance(error, ProbeInFlight):
            return error
        retry_at = (row.opened_at or time.time()) + self.reset_timeout
        return CircuitOpenError(
            f"{self.provider}: circuit open after repeated failures", retry_at=retry_at
        )

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn()`` through the shared breaker (see the module docstring for the rules)."""
        token = os.urandom(16).hex()
        holds_lease = self._admit(token)  # raises CircuitOpenError when refused; no pybreaker
        if not holds_lease:  # admitted by a closed circuit: the common case, without pybreaker
            return self._call_closed(fn)
        try:
            return self._through_pybreaker(fn, holds_lease=True)
        finally:
            try:
                self._release(token)
            finally:
                self._forget_token(token)  # the waiters look at the row again

    def _call_closed(self, fn: Callable[[], T]) -> T:
        """``fn()`` admitted by a closed circuit, with pybreaker's bookkeeping of its outcome.

        Why not through pybreaker: in a closed circuit a success only resets the failure
        count, and pybreaker would read the row three more times and be imported (about 12 ms)
        before the first photo of a run could be sent. A failure is replayed through pybreaker
        (it counts it, and opens the circuit at ``fail_max``), so the state machine stays
        pybreaker's; if the circuit has meanwhile left the closed state (another process
        opened it, or is probing it), the failure is not counted, as increment_counter does
        not count one in an open circuit, and the caller gets the original error."""
        try:
            result = fn()
        except BaseException as exc:
            if counts_as_failure(exc):
                where = exc.__traceback__
                self._count_failure(exc)
                exc.with_traceback(where)  # the call's own frames, not the replay's
            elif is_answer(exc):
                self._answered()
            raise
        self._answered()
        return result

    def _answered(self) -> None:
        """A closed circuit's success (pybreaker's ``reset_counter``): zero the failures that
        any process counted, with a write only when there are some."""
        if self._row().failures:
            self.store.update(lambda row: ({"failures": 0} if row.failures else {}, None))

    def _count_failure(self, exc: BaseException) -> None:
        def replay() -> None:
            raise exc

        try:
            self._through_pybreaker(replay, holds_lease=False)
        except CircuitOpenError:
            pass  # no longer closed: not counted (see _call_closed)
        except BaseException as raised:
            if raised is not exc:
                raise

    def _through_pybreaker(self, fn: Callable[[], T], *, holds_lease: bool) -> T:
        pybreaker = load_pybreaker()  # without redis-py: see lazy_imports
        # storage imports pybreaker at module level: kept off check()/status() paths.
        from plantid_cli.guards.breaker.storage import build_circuit_breaker

        breaker, storage = build_circuit_breaker(
            self,
            holds_lease=holds_lease,
            counts_as_failure=counts_as_failure,
            notify=self._notify,
        )

        def guarded() -> T:
            try:
                return fn()
            except BaseException as exc:
                if not counts_as_failure(exc) and not is_answer(exc):
                    storage.neutral = True  # pybreaker will see "excluded": make it a no-op
                raise

        try:
            return breaker.call(guarded)
        except pybreaker.CircuitBreakerError:
            raise self._open_error() from None
