"""Result-cache rows by the batch: one SELECT for many keys, the hit/miss counts in one UPDATE;
and how a result read twice (a file moved aside meanwhile) is combined.

Why: diskcache's own `get` is one write transaction per key (it counts each hit); a rerun of
100,000 photos would queue for the file's write lock 100,000 times. The same SQL serves
diskcache's connection and the plain look-up connection used before diskcache is opened
(cache_peek.py), with the row decoder of each.

Stdlib only (diskcache is a type here). May import: guards.disk.rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from plantid_cli.guards.disk.rows import DamagedValue

if TYPE_CHECKING:
    import diskcache

_SELECT_MANY = (
    "SELECT key, mode, filename, value FROM Cache WHERE raw = 1"
    " AND (expire_time IS NULL OR expire_time > ?) AND key IN ({marks})"
)


def select_many(
    cache: diskcache.Cache, keys: Sequence[str]
) -> tuple[dict[str, dict[str, Any] | None], list[str]]:
    """(key -> JSON object for the rows found, keys whose row is damaged or refused)."""
    disk = cache._disk
    return select_rows(cache._sql, lambda m, f, v: disk.fetch(m, f, v, False), keys)


def select_rows(
    sql: Callable[..., Any], decode: Callable[[int, Any, Any], Any], keys: Sequence[str]
) -> tuple[dict[str, dict[str, Any] | None], list[str]]:
    now = time.time()
    found: dict[str, dict[str, Any] | None] = {}
    odd: list[str] = []
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), 900):  # SQLite's host-parameter limit
        part = unique[start : start + 900]
        query = _SELECT_MANY.format(marks=",".join("?" * len(part)))
        for key, mode, filename, value in sql(query, (now, *part)).fetchall():
            try:
                fetched = decode(mode, filename, value)
            except (DamagedValue, OSError):
                odd.append(key)
                continue
            found[key] = fetched if isinstance(fetched, dict) else None
    return found, odd


def count(cache: diskcache.Cache, hits: int, misses: int) -> None:
    """The batch's statistics, as diskcache's `get` would have counted them one by one."""
    with cache._transact(True) as (sql, _):
        add_counts(sql, hits, misses)


def add_counts(sql: Callable[..., Any], hits: int, misses: int) -> None:
    if hits:
        sql("UPDATE Settings SET value = value + ? WHERE key = 'hits'", (hits,))
    if misses > 0:
        sql("UPDATE Settings SET value = value + ? WHERE key = 'misses'", (misses,))


T = TypeVar("T")
#: How cache._do combines an op's result on a file moved aside meanwhile with the rerun's on
#: the new one.
Merge = Callable[[T, T], T]

Found = tuple[dict[str, "dict[str, Any] | None"], list[str]]


def keep_hits(first: Found, again: Found) -> Found:
    """A batch read on a file moved aside meanwhile (`first`) and again on the new one: every
    hit of either is kept (a hit thrown away is a photo bought again), the new file's where
    both have one (it may have been stored again since, e.g. by --refresh)."""
    found = dict(first[0])
    found.update((key, value) for key, value in again[0].items() if value is not None)
    odd = [key for key in dict.fromkeys([*first[1], *again[1]]) if found.get(key) is None]
    return found, odd


def both_files(first: int, again: int) -> int:
    """A count of entries removed from the file moved aside meanwhile and from the new one."""
    return first + again


__all__ = [
    "Merge",
    "both_files",
    "Found",
    "add_counts",
    "count",
    "keep_hits",
    "select_many",
    "select_rows",
]
