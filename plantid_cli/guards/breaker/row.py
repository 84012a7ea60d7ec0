"""The breaker's row (state, counters, probe lease) and where it lives.

:class:`SharedBreaker` (guards/breaker.py) and its pybreaker storage (guards/breaker_storage.py)
only read a snapshot of a provider's row or change it atomically through a
:class:`BreakerStore`: the ``breaker`` table of the shared SQLite file
(:class:`SqliteBreakerStore`), or one JSON value in a key/value store such as Redis
(:class:`JsonBreakerStore`).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from plantid_cli.constants import STATE_CLOSED
from plantid_cli.guards.disk.state import SharedState

R = TypeVar("R")

HOST = os.uname().nodename  # (socket/uuid would cost ~5 ms of imports)


def _pid_alive(pid: int | None, host: str | None) -> bool:
    """Whether a lease holder may still be running (unknown hosts/pids count as alive)."""
    if not pid or host != HOST:
        return True
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: exists, owned by another user
        return True
    return True


class BreakerRow:
    """One snapshot of the ``breaker`` table row of a provider."""

    __slots__ = (
        "state",
        "failures",
        "successes",
        "opened_at",
        "probe_token",
        "probe_until",
        "probe_pid",
        "probe_host",
    )

    def __init__(self, row: tuple[Any, ...] | None) -> None:
        if row is None:
            row = (STATE_CLOSED, 0, 0, None, None, None, None, None)
        (
            self.state,
            self.failures,
            self.successes,
            self.opened_at,
            self.probe_token,
            self.probe_until,
            self.probe_pid,
            self.probe_host,
        ) = row

    def lease_live(self, now: float) -> bool:
        return (
            self.probe_token is not None
            and self.probe_until is not None
            and now < self.probe_until
            and _pid_alive(self.probe_pid, self.probe_host)
        )


_SELECT_ROW = (
    "SELECT state, failures, successes, opened_at, probe_token, probe_until, probe_pid,"
    " probe_host FROM breaker WHERE provider = ?"
)


def read_row(con: sqlite3.Connection, provider: str) -> BreakerRow:
    return BreakerRow(con.execute(_SELECT_ROW, (provider,)).fetchone())


def ensure_row(con: sqlite3.Connection, provider: str) -> None:
    con.execute("INSERT OR IGNORE INTO breaker (provider) VALUES (?)", (provider,))


# -- where the row lives -----------------------------------------------------------------------
#
# SharedBreaker and the pybreaker storage only ever need two operations on a provider's row:
# read a snapshot, and an atomic read-modify-write. ``update(fn)`` calls ``fn(row)``, which
# returns ``(changes, result)``: ``changes`` maps BreakerRow field names to new values (None
# clears a field) and is applied atomically with the read; ``result`` is returned. ``fn`` may
# be called more than once (optimistic stores retry on a concurrent write), so it must not have
# side effects; it may raise, which aborts the update.

Changes = dict[str, Any]
_FIELDS = frozenset(BreakerRow.__slots__)


class BreakerStore(Protocol):
    def read(self) -> BreakerRow: ...

    def update(self, fn: Callable[[BreakerRow], tuple[Changes, R]]) -> R: ...


def _check_fields(changes: Changes) -> None:
    unknown = set(changes) - _FIELDS
    if unknown:
        raise ValueError(f"unknown breaker field(s): {', '.join(sorted(unknown))}")


class SqliteBreakerStore:
    """The ``breaker`` table of the shared SQLite file: one row per account (the ``provider``
    column, named before accounts, holds the id from guards/account.py)."""

    def __init__(self, state: SharedState, provider: str) -> None:
        self.state = state
        self.provider = provider

    def read(self) -> BreakerRow:
        return self.state.read(lambda con: read_row(con, self.provider))

    def update(self, fn: Callable[[BreakerRow], tuple[Changes, R]]) -> R:
        def body(con: sqlite3.Connection) -> R:
            ensure_row(con, self.provider)
            changes, result = fn(read_row(con, self.provider))
            if changes:
                _check_fields(changes)
                columns = ", ".join(f"{name} = ?" for name in changes)
                con.execute(
                    f"UPDATE breaker SET {columns} WHERE provider = ?",
                    (*changes.values(), self.provider),
                )
            return result

        return self.state.run(body)


class JsonBreakerStore:
    """The row as one JSON object in a key/value store with ``get_json`` / ``update_json``
    (SharedState has both; so does the Redis state), under the key ``breaker:<account id>``."""

    def __init__(self, kv: Any, provider: str) -> None:
        self.kv = kv
        self.provider = provider
        self.key = f"breaker:{provider}"

    @staticmethod
    def _row(value: Any) -> BreakerRow:
        row = BreakerRow(None)
        if isinstance(value, dict):
            for name in BreakerRow.__slots__:
                if name in value:
                    setattr(row, name, value[name])
        return row

    def read(self) -> BreakerRow:
        return self._row(self.kv.get_json(self.key))

    def update(self, fn: Callable[[BreakerRow], tuple[Changes, R]]) -> R:
        outcome: list[R] = []

        def apply(old: Any) -> dict[str, Any]:
            row = self._row(old)
            changes, result = fn(row)
            _check_fields(changes)
            outcome[:] = [result]
            value = {name: getattr(row, name) for name in BreakerRow.__slots__}
            value.update(changes)
            return value

        self.kv.update_json(self.key, apply, {})
        return outcome[0]


#: Every field of a closed circuit with no counters and no probe lease.
CLOSED_ROW: Changes = {
    "state": STATE_CLOSED,
    "failures": 0,
    "successes": 0,
    "opened_at": None,
    "probe_token": None,
    "probe_until": None,
    "probe_pid": None,
    "probe_host": None,
}
NO_LEASE: Changes = {
    "probe_token": None,
    "probe_until": None,
    "probe_pid": None,
    "probe_host": None,
}
