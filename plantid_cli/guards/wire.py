"""A run's requests on the wire: `--concurrency` counts requests out to a service, not threads.

Why apart from the threads: a call thread's own work before its request (the single-flight
lock, the second look-up, the checks) used to sit between one answer and the next request, a
few ms of every slot's turn, all of it on the wall clock of a batch (issue 17). A run now has
more call threads than slots (run/concurrency.call_threads), so that work is done while the
slots are out, and a unit takes its slot (a `Turn`) right before its rate-limit stamp and its
request.

A turn is given back only once the answer is stored, or once a failure has been counted
everywhere it teaches something (the breaker, the credits, the key gate): at most
`--concurrency` answers per service are ever paid for and not yet stored (a kill -9 costs no
more), and a photo that waited for its slot looks again at what the ones before it learned
before it is sent. A photo waiting to retry keeps its slot, as a thread per slot did: given
back, it let new photos start into an outage the breaker had not counted yet (a red-team
pass: 22 calls before `closed -> open` where 12 had gone).

Slots pass to waiters first come, first served, and a run never has more waiters than slots
(twice as many threads as slots), so a wait for one lasts at most one other photo's guarded
call: provider_guards.deadlines counts it. `on_full` is called, once, the first time a unit
has to wait: every slot is out, and work started then (the store's opening) delays no request.
May import: the top-level modules (errors, constants).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from types import TracebackType

from plantid_cli.constants import WIRE_POLL_SECONDS
from plantid_cli.errors import Interrupted


class Wire:
    def __init__(self, slots: int, on_full: Callable[[], None] | None = None) -> None:
        self._free = max(1, slots)
        self._lock = threading.Lock()
        self._waiting: deque[threading.Lock] = deque()  # each held until a slot is handed over
        self._on_full = on_full

    def turn(self, recheck: Callable[[], None] | None = None) -> Turn:
        """One unit's turn (a context manager: the slot, if taken, is given back at its end).
        `recheck` raises when something learned while the unit waited refuses it now."""
        return Turn(self, recheck)

    @property
    def waiting(self) -> int:
        """Units waiting for a slot now."""
        with self._lock:
            return len(self._waiting)

    def _acquire(self, stop: threading.Event) -> bool:
        """Take a slot, waiting if need be (Interrupted when stopped meanwhile); whether it
        had to wait."""
        with self._lock:
            if self._free and not self._waiting:
                self._free -= 1
                return False
            handed = threading.Lock()
            handed.acquire()
            self._waiting.append(handed)
            on_full, self._on_full = self._on_full, None
        if on_full is not None:
            on_full()
        while not handed.acquire(timeout=WIRE_POLL_SECONDS):
            if stop.is_set():
                with self._lock:
                    if handed in self._waiting:  # not handed one yet: leave the queue
                        self._waiting.remove(handed)
                        raise Interrupted("stopped before the request was sent")
                break  # handed a slot meanwhile: the turn gives it back
        return True

    def _release(self) -> None:
        with self._lock:
            if self._waiting:  # straight to the first waiter: no one overtakes it
                self._waiting.popleft().release()
            else:
                self._free += 1


class Turn:
    """One unit's place on the wire, from its first attempt until its answer is stored."""

    def __init__(self, wire: Wire, recheck: Callable[[], None] | None) -> None:
        self._wire = wire
        self._recheck = recheck
        self._holding = False

    def take(self, stop: threading.Event) -> bool:
        """Hold a slot (a no-op while holding one); whether it had to wait for it. After a
        wait, what an earlier answer taught (the breaker opened, the credits gone, the key
        rejected) must refuse this unit before it is sent: `recheck`, or the caller's own
        checks right after."""
        if self._holding:
            return False
        waited = self._wire._acquire(stop)
        self._holding = True
        return waited

    def recheck(self) -> None:
        """Raise what refuses this unit now, learned from other units' answers."""
        if self._recheck is not None:
            self._recheck()

    def give_back(self) -> None:
        if self._holding:
            self._holding = False
            self._wire._release()

    def __enter__(self) -> Turn:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.give_back()
