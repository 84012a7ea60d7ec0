"""What benchmarks/soak.py reads back after the runs: rate-limit windows, JSON log events,
the shared storage's health. Kept apart so the soak script stays about running things."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path


def max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, left = 0, 0
    for right, t in enumerate(times):
        while t - times[left] >= window:
            left += 1
        best = max(best, right - left + 1)
    return best


def log_events(stderr: str) -> list[dict]:
    """The JSON log objects of one run (`-vv --log-format json`), with `t` as a Unix time."""
    from datetime import datetime

    events = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            try:
                event = json.loads(line)
                event["t"] = datetime.fromisoformat(event["ts"]).timestamp()
            except (ValueError, KeyError):
                continue
            events.append(event)
    return events


def rate_stamps(cache_dir: Path) -> list[float]:
    """Every call start the shared limiter recorded (kept while inside its longest window)."""
    with sqlite3.connect(f"file:{cache_dir / 'state.sqlite3'}?mode=ro", uri=True) as con:
        return [row[0] for row in con.execute("SELECT ts FROM ratelog")]


def worst_window(spec: str, stamps: list[float]) -> tuple[str, int, int] | None:
    """(limit, its count, most stamps seen in any window of it), for the worst-filled limit."""
    from plantid_cli.guards.disk.ratelimit import format_limit, parse_rate_limit

    worst = None
    for count, window in parse_rate_limit(spec):
        peak = max_in_window(stamps, window)
        if worst is None or peak / count > worst[2] / worst[1]:
            worst = (format_limit(count, window), count, peak)
    return worst


def check_storage(cache_dir: Path) -> dict:
    import portalocker

    from plantid_cli.guards.disk.cache import ResultCache

    found: dict = {}
    for name in ("results/cache.db", "state.sqlite3"):
        with sqlite3.connect(f"file:{cache_dir / name}?mode=ro", uri=True) as con:
            found[f"integrity {name}"] = con.execute("PRAGMA integrity_check").fetchone()[0]
    cache = ResultCache(cache_dir / "results")
    try:
        keys = list(cache._cache.iterkeys())
        unreadable = sum(1 for key in keys if not isinstance(cache.get(key), dict))
    finally:
        cache.close()
    found["cache entries"] = len(keys)
    found["cache entries unreadable"] = unreadable
    held = 0
    for path in (cache_dir / "locks").glob("*.lock"):
        try:
            with portalocker.Lock(str(path), mode="a", timeout=0, fail_when_locked=True):
                pass
        except portalocker.exceptions.LockException:
            held += 1
    found["locks held"] = held
    found["damaged files moved aside"] = len(list(cache_dir.rglob("*.corrupt-*")))
    return found
