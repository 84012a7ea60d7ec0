"""Client-side rate limits shared by every process: a sliding log in the shared SQLite file.

Guarantee: for each limit ``(n, w)`` there are never more than ``n`` call *starts* (recorded
``time.time()`` stamps) in any half-open window ``[t, t + w + RATE_MARGIN)``, across all
processes using the same bucket. An entry stamped ``t`` blocks its slot until exactly
``t + w + RATE_MARGIN``: the margin covers the delay between the stamp and the request reaching
the service (a busy machine), so that the *service* never sees ``n + 1`` arrivals in ``w``.

Stdlib only at import time.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

from plantid_cli.guards.disk.state import SharedState
from plantid_cli.rate_spec import format_limit, parse_rate_limit

#: Seconds a slot stays taken after its window, on disk and in Redis alike: the delay between
#: a start's stamp and its request's arrival varies (16 processes on 2 cores: 5 arrivals within
#: 0.975 s at 4/second without it; at load 19, 0.1 s still let 5 arrive in 0.976 s), and the
#: service counts arrivals. The cost: n calls per w + 0.25 s at saturation (4/s for 5/second).
RATE_MARGIN = 0.25

#: Entries stamped further in the future than this are from a clock that was set back: drop them.
CLOCK_SKEW_TOLERANCE = 5.0


def usage_row(count: int, window: float, used: int) -> dict[str, Any]:
    """One limit's line of ``usage()``: ``used`` starts in the current window."""
    return {
        "limit": format_limit(count, window),
        "used": int(used),
        "window_seconds": window,
        "remaining": max(0, count - int(used)),
    }


class RateLimiter:
    """Sliding-log limiter for one bucket (the account id, see guards/account.py)."""

    def __init__(self, state: SharedState, bucket: str, limits: list[tuple[int, float]]) -> None:
        for count, window in limits:
            if count < 1 or window <= 0:
                raise ValueError(f"invalid rate limit ({count}, {window})")
        self.state = state
        self.bucket = bucket
        self.limits = list(limits)
        self._horizon = max((w for _, w in self.limits), default=0.0)
        #: ``time.time()`` stamp recorded by this object's last successful acquire (or None).
        self.last_start: float | None = None

    def _try_acquire(self, con: sqlite3.Connection) -> float:
        """In one write transaction: record a start and return 0, or return seconds to wait."""
        now = time.time()
        con.execute(
            "DELETE FROM ratelog WHERE bucket = ? AND (ts <= ? OR ts > ?)",
            (self.bucket, now - self._horizon - RATE_MARGIN, now + CLOCK_SKEW_TOLERANCE),
        )
        wait = 0.0
        for count, limit_window in self.limits:
            window = limit_window + RATE_MARGIN  # held at arrival, as the Redis script does
            # the count-th most recent start inside (now - window, now]; if it exists the
            # window is full until that entry leaves it, at its ts + window.
            row = con.execute(
                "SELECT ts FROM ratelog WHERE bucket = ? AND ts > ?"
                " ORDER BY ts DESC LIMIT 1 OFFSET ?",
                (self.bucket, now - window, count - 1),
            ).fetchone()
            if row is not None:
                wait = max(wait, row[0] + window - now)
        if wait > 0:
            return wait
        con.execute("INSERT INTO ratelog (bucket, ts) VALUES (?, ?)", (self.bucket, now))
        self.last_start = now
        return 0.0

    def _attempt(self) -> float:
        """Record a start and return 0, or return the seconds to wait (a fleet limiter on Redis
        overrides this and :meth:`usage`; the waiting loop below is shared)."""
        return self.state.run(self._try_acquire)

    def acquire(
        self,
        on_wait: Callable[[float], None] | None = None,
        stop: threading.Event | None = None,
    ) -> float:
        """Block until a call may start (and record it); return the seconds spent waiting.

        ``on_wait(seconds)`` is called before each sleep with the planned sleep. Once `stop` is
        set the wait ends at once and nothing is recorded (the caller checks `stop` and sends
        nothing: Ctrl-C must be heard during a long wait for a slot).
        """
        if not self.limits:
            return 0.0
        started = time.monotonic()
        waited = False
        while True:
            wait = self._attempt()
            if wait <= 0:
                return time.monotonic() - started if waited else 0.0
            # sleep a hair longer than needed so we do not spin on float rounding
            wait = wait + 0.001
            if on_wait is not None:
                on_wait(wait)
            if stop is None:
                time.sleep(wait)
            elif stop.wait(wait):
                return time.monotonic() - started
            waited = True

    def usage(self) -> list[dict[str, Any]]:
        """``[{"limit": "5/second", "used": k, "window_seconds": 1.0, "remaining": n - k}]``."""
        if not self.limits:
            return []
        now = time.time()

        def body(con: sqlite3.Connection) -> list[dict[str, Any]]:
            result = []
            for count, window in self.limits:
                (used,) = con.execute(
                    "SELECT COUNT(*) FROM ratelog WHERE bucket = ? AND ts > ? AND ts <= ?",
                    (self.bucket, now - window, now + CLOCK_SKEW_TOLERANCE),
                ).fetchone()
                result.append(usage_row(count, window, used))
            return result

        return self.state.read(body)


# parse_rate_limit: the syntax lives in rate_spec.py (config validates with it); re-exported here.
__all__ = ["RATE_MARGIN", "RateLimiter", "format_limit", "parse_rate_limit", "usage_row"]
