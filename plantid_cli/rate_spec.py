"""The `rate_limit` setting's syntax: `"5/second,1000/day"` to `[(5, 1.0), (1000, 86400.0)]` and
back (`format_limit`). guards/disk/ratelimit.py (and the Redis limiter) enforce what it parses.

Why a module of its own: a grammar with its units and bounds is one thing; config.py merges
the settings and only asks this one whether a value parses. Stdlib only (start-up matters).
"""

from __future__ import annotations

import re

# -- the rate_limit setting's syntax (guards/disk/ratelimit.py enforces it) ---------------

_UNITS: dict[str, float] = {}
for _names, _seconds in (
    (("s", "sec", "secs", "second", "seconds"), 1.0),
    (("m", "min", "mins", "minute", "minutes"), 60.0),
    (("h", "hr", "hrs", "hour", "hours"), 3600.0),
    (("d", "day", "days"), 86400.0),
):
    for _name in _names:
        _UNITS[_name] = _seconds

_OFF = {"", "off", "none"}
MAX_COUNT = 1_000_000_000
MAX_MULTIPLIER = 1_000_000

_ITEM = re.compile(r"([0-9]+)\s*/\s*([0-9]*)\s*([a-z]+)", re.ASCII)


def parse_rate_limit(spec: str) -> list[tuple[int, float]]:
    """Parse ``"5/second,1000/day"`` into ``[(5, 1.0), (1000, 86400.0)]``.

    Items are ``COUNT/[N]UNIT`` separated by commas (spaces allowed around every token, case
    ignored): COUNT a positive integer, N an optional positive integer multiplier ("5/10s" is
    5 per 10 seconds), UNIT one of second/sec/s, minute/min/m, hour/hr/h, day/d (plurals
    accepted). ``"off"``, ``"none"`` or an empty string mean no limit: ``[]``.
    """
    if not isinstance(spec, str):
        raise ValueError(f"rate limit must be a string, got {type(spec).__name__}")
    text = spec.strip().lower()
    if text in _OFF:
        return []
    limits: list[tuple[int, float]] = []
    for raw in text.split(","):
        part = raw.strip()
        if not part:
            raise ValueError(f"empty item in rate limit {spec!r} (expected e.g. '5/second')")
        match = _ITEM.fullmatch(part)
        if match is None:
            raise ValueError(
                f"bad rate limit {part!r} in {spec!r}: expected COUNT/UNIT such as '5/second', "
                "'100/hour' or '5/10s'"
            )
        count_text, mult_text, unit = match.groups()
        count = int(count_text)
        if not 1 <= count <= MAX_COUNT:
            raise ValueError(
                f"bad rate limit {part!r} in {spec!r}: count must be a positive integer "
                f"(1..{MAX_COUNT})"
            )
        multiplier = int(mult_text) if mult_text else 1
        if not 1 <= multiplier <= MAX_MULTIPLIER:
            raise ValueError(
                f"bad rate limit {part!r} in {spec!r}: period multiplier must be a positive "
                f"integer (1..{MAX_MULTIPLIER})"
            )
        if unit not in _UNITS:
            raise ValueError(
                f"bad rate limit {part!r} in {spec!r}: unknown unit {unit!r} "
                "(use second/s, minute/m, hour/h or day/d)"
            )
        limits.append((count, multiplier * _UNITS[unit]))
    return limits


def format_limit(count: int, window: float) -> str:
    """``(5, 1.0)`` -> ``"5/second"``; ``(5, 10.0)`` -> ``"5/10s"``."""
    names = {1.0: "second", 60.0: "minute", 3600.0: "hour", 86400.0: "day"}
    if window in names:
        return f"{count}/{names[window]}"
    return f"{count}/{window:g}s"
