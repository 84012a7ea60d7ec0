"""pybreaker glue for SharedBreaker. Imports pybreaker at module level: import it lazily.

Only :meth:`SharedBreaker.call` (guards/breaker/shared.py) imports this module, so commands that
only check or show the breaker never pay for pybreaker (which imports redis when installed).

Notes on pybreaker 1.4.1 that shaped this module (read from its source):

* ``CircuitBreaker.state`` compares ``storage.state`` with the cached state object on every
  access, but re-syncing goes through the ``state`` setter with ``notify=True``, whose side
  effects (``reset_counter`` for closed, ``reset_success_counter`` for open/half-open,
  listeners) would wipe counters written by *other* processes. :class:`_SharedCircuitBreaker`
  re-reads storage on every access and re-syncs silently instead.
* ``open()`` / ``half_open()`` / ``close()`` write ``opened_at`` and ``state`` as separate
  steps and reset counters from the new state's constructor. Here each transition is one
  atomic store update (compare-and-set), and listeners hear only about transitions that this
  process actually made (so two processes tripping at once log one ``closed -> open``).
* A call refused because the circuit is half-open and this process does not hold the probe
  lease is stopped in the listener's ``before_call`` (which pybreaker runs before ``fn``) and
  in ``half_open()``, raising ``CircuitBreakerError`` (converted by the caller).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import pybreaker

from plantid_cli.constants import STATE_CLOSED, STATE_HALF_OPEN, STATE_OPEN
from plantid_cli.guards.breaker.row import (
    BreakerRow,
    BreakerStore,
    Changes,
)

#: What the listener relays a state change to: (old state, new state, consecutive failures).
Notify = Callable[[str, str, int], None]


class BreakerSettings(Protocol):
    """What one call's pybreaker needs of the shared breaker (SharedBreaker is one).

    A Protocol here instead of an import of shared.py: shared imports this module (lazily, for
    pybreaker), so this module must not import shared back.
    """

    store: BreakerStore
    provider: str
    fail_max: int
    reset_timeout: float
    success_threshold: int


class SharedBreakerStorage(pybreaker.CircuitBreakerStorage):
    """pybreaker storage on a :class:`BreakerStore` (the ``breaker``
    table of SharedState by default, Redis for a fleet): one row per provider.

    Implements every member pybreaker 1.4 uses: ``state`` (get/set), ``increment_counter``,
    ``reset_counter``, ``increment_success_counter``, ``reset_success_counter``, ``counter``,
    ``success_counter``, ``opened_at`` (get/set, timezone-aware UTC ``datetime``; stored as a
    float epoch), plus :meth:`transition` used by :class:`_SharedCircuitBreaker`.

    ``neutral``: set while pybreaker processes an outcome that must count neither as failure
    nor as success (see breaker.py); the success-side writes become no-ops.
    """

    def __init__(self, store: BreakerStore, provider: str) -> None:
        super().__init__("shared")
        self._store = store
        self.provider = provider
        self.neutral = False

    def _one(self, column: str) -> Any:
        return getattr(self._store.read(), column)

    def _write(self, change: Callable[[BreakerRow], Changes]) -> None:
        self._store.update(lambda row: (change(row), None))

    @property
    def state(self) -> str:
        return self._one("state") or STATE_CLOSED

    @state.setter
    def state(self, state: str) -> None:
        self._write(lambda row: {"state": str(state)})

    def increment_counter(self) -> None:
        # Calls still in flight when the breaker opened may fail after it: not counted, so
        # `status` shows the failures that opened it, as the `[CIRCUIT] ... -> open` line says.
        self._write(
            lambda row: {} if row.state == STATE_OPEN else {"failures": int(row.failures or 0) + 1}
        )

    def reset_counter(self) -> None:
        # every success of a closed circuit resets: a read first, so that a healthy run's
        # calls take no write lock on the shared state (there is nothing to write)
        if not self.neutral and self._one("failures"):
            self._write(lambda row: {"failures": 0} if row.failures else {})

    def increment_success_counter(self) -> None:
        if not self.neutral:
            self._write(lambda row: {"successes": int(row.successes or 0) + 1})

    def reset_success_counter(self) -> None:
        if not self.neutral:
            self._write(lambda row: {"successes": 0})

    @property
    def counter(self) -> int:
        return int(self._one("failures") or 0)

    @property
    def success_counter(self) -> int:
        return int(self._one("successes") or 0)

    @property
    def opened_at(self) -> datetime | None:
        ts = self._one("opened_at")
        return None if ts is None else datetime.fromtimestamp(ts, UTC)

    @opened_at.setter
    def opened_at(self, value: datetime) -> None:
        ts = value.timestamp() if value.tzinfo else value.replace(tzinfo=UTC).timestamp()
        self._write(lambda row: {"opened_at": ts})

    def transition(self, new: str) -> tuple[str, int] | None:
        """Atomically move to `new`; return (old_state, failures) or None if nothing changed.

        open: sets opened_at = now and zeroes successes (from closed or half-open);
        half-open: only from open, zeroes successes; closed: zeroes both counters.
        """
        if new not in (STATE_OPEN, STATE_HALF_OPEN, STATE_CLOSED):
            raise ValueError(f"unknown breaker state {new!r}")

        def decide(row: BreakerRow) -> tuple[Changes, tuple[str, int] | None]:
            changed = (row.state, int(row.failures or 0))
            if row.state == new:
                return {}, None
            if new == STATE_OPEN:
                return {"state": STATE_OPEN, "opened_at": time.time(), "successes": 0}, changed
            if new == STATE_HALF_OPEN:
                if row.state != STATE_OPEN:
                    return {}, None
                return {"state": STATE_HALF_OPEN, "successes": 0}, changed
            return {"state": STATE_CLOSED, "failures": 0, "successes": 0, "opened_at": None}, (
                changed
            )

        return self._store.update(decide)


class _Listener(pybreaker.CircuitBreakerListener):
    """Probe-lease guard (before_call) and on_change relay (state_change)."""

    def __init__(self, notify: Notify, holds_lease: bool) -> None:
        self.notify = notify
        self.holds_lease = holds_lease
        self.failures = 0  # set by the breaker just before state_change

    def before_call(
        self, cb: pybreaker.CircuitBreaker, func: Any, *args: Any, **kwargs: Any
    ) -> None:
        # Runs before fn. Without the lease only a closed circuit may call (another process
        # may have opened / half-opened it between our admission check and now).
        if not self.holds_lease and cb._state.name != STATE_CLOSED:
            raise pybreaker.CircuitBreakerError("circuit not closed and probe lease not held")

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        old = old_state.name if old_state is not None else STATE_CLOSED
        self.notify(old, new_state.name, self.failures)


class _SharedCircuitBreaker(pybreaker.CircuitBreaker):
    """CircuitBreaker whose state always comes from the shared storage (see module notes)."""

    _state_storage: SharedBreakerStorage

    def __init__(self, *, listener: _Listener, **kwargs: Any) -> None:
        self._listener = listener
        super().__init__(listeners=[listener], **kwargs)

    @property
    def state(self) -> Any:
        current = self._state_storage.state
        if current != self._state.name:
            # Changed by another process: follow it silently (no counter resets, no notify).
            self._state = self._create_new_state(current, prev_state=self._state, notify=False)
        return self._state

    @state.setter
    def state(self, state_str: str) -> None:
        with self._lock:
            self._state = self._create_new_state(state_str, prev_state=self._state, notify=False)

    def _transition(self, new: str) -> None:
        with self._lock:
            changed = self._state_storage.transition(new)
            self._state = self._create_new_state(new, prev_state=self._state, notify=False)
            if changed is not None:
                old, failures = changed
                self._listener.failures = failures
                old_obj = self._create_new_state(old, notify=False)
                for listener in self._listeners:
                    listener.state_change(self, old_obj, self._state)

    def open(self) -> bool:
        self._transition(STATE_OPEN)
        return self._throw_new_error_on_trip

    def half_open(self) -> None:
        if not self._listener.holds_lease:
            raise pybreaker.CircuitBreakerError("circuit is due for a trial call held elsewhere")
        self._transition(STATE_HALF_OPEN)

    def close(self) -> None:
        if self._state_storage.neutral:
            return
        self._transition(STATE_CLOSED)


def build_circuit_breaker(
    shared: BreakerSettings,
    *,
    holds_lease: bool,
    counts_as_failure: Callable[[BaseException], bool],
    notify: Notify,
) -> tuple[pybreaker.CircuitBreaker, SharedBreakerStorage]:
    """A fresh pybreaker CircuitBreaker for one call (its RLock then never serialises threads).

    `counts_as_failure` (the caller's classification) and `notify` (its state-change relay) are
    passed in so that this module needs nothing of shared.py, which imports it.
    """
    storage = SharedBreakerStorage(shared.store, shared.provider)
    breaker = _SharedCircuitBreaker(
        listener=_Listener(notify, holds_lease),
        fail_max=shared.fail_max,
        reset_timeout=shared.reset_timeout,
        success_threshold=shared.success_threshold,
        exclude=[lambda exc: not counts_as_failure(exc)],
        state_storage=storage,
        name=shared.provider,
        throw_new_error_on_trip=False,
    )
    return breaker, storage
