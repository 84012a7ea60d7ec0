"""The end of a run in words and numbers: what its records add up to (`RunStats`), the summary
line, the counts the progress bar shares with it, the `run.summary` fields of JSON logs, and
whether the rate limit set the pace.

Split from run/batch.py (which runs the batch): one list of categories (`count_parts`) so that
the bar and the summary never disagree.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from plantid_cli.constants import RECORD_STATUSES
from plantid_cli.errors import exit_code_for_record_error
from plantid_cli.events import Event, EventBus
from plantid_cli.records import Record, plural


@dataclass
class RunStats:
    """What a run's records add up to: the summary line, the exit code, the metrics."""

    started: float = field(default_factory=time.monotonic)
    statuses: Counter[str] = field(default_factory=Counter)
    cached: int = 0
    credits_used: int = 0
    degraded: int = 0
    failed_codes: set[int] = field(default_factory=set)

    def add(self, record: Record) -> None:
        self.statuses[record["status"]] += 1
        if record.get("cached"):
            self.cached += 1
        if record.get("degraded"):
            self.degraded += 1
        error = record.get("error")
        if error:
            self.failed_codes.add(exit_code_for_record_error(error["code"]))

    @property
    def done(self) -> int:
        return sum(self.statuses.values())


def summary_line(
    stats: RunStats,
    unit: str = "image",
    *,
    limited_by: str | None = None,
    credit: str = "credit",
) -> str:
    """`unit` is what one record stands for: an image, or a specimen with --group-by folder.
    `limited_by` names what held the run back (RateWatch.limited_by), said at the end;
    `credit` is what a credit is called ("sandbox credit" in `plantid demo`)."""
    parts = [plural(stats.done, unit), *count_parts(stats)]
    parts.append(plural(stats.credits_used, credit) + " used")
    parts.append(f"{time.monotonic() - stats.started:.1f}s")
    if limited_by:
        parts.append(f"limited by {limited_by}")
    return ", ".join(parts)


def count_parts(stats: RunStats, *, always_ok: bool = False) -> list[str]:
    """ "3 ok", "2 not_plant", "4 cached"...: the categories the summary line and the progress
    bar both count (one list, so that the bar and the summary never disagree), zeros left out;
    the bar starts from "0 ok" (`always_ok`)."""
    parts = [
        f"{stats.statuses.get(status, 0)} {status}"
        for status in RECORD_STATUSES
        if stats.statuses.get(status) or (always_ok and status == "ok")
    ]
    if stats.cached:
        parts.append(f"{stats.cached} cached")
    if stats.degraded:
        parts.append(f"{stats.degraded} degraded")
    return parts


class RateWatch:
    """Whether the rate limit, rather than --concurrency or the service, set the run's pace:
    more than half of the calls sent had to wait for a slot (a run that never reached the limit
    waits for none: the limit allows its burst at once)."""

    def __init__(self, bus: EventBus, rate_limit: str) -> None:
        self.rate_limit = rate_limit
        self.calls = self.waited = 0
        bus.subscribe(self.on_event)

    def on_event(self, event: Event, fields: dict[str, Any]) -> None:
        if event == Event.RATE_ACQUIRED:  # every call sent, after its wait (maybe none)
            self.calls += 1
            self.waited += fields.get("seconds", 0) > 0

    @property
    def limited_by(self) -> str | None:
        if self.calls and self.waited * 2 > self.calls:
            return f"rate_limit {self.rate_limit}"
        return None


def summary_fields(stats: RunStats, *, limited_by: str | None = None) -> dict[str, Any]:
    """The summary as numbers (the `run.summary` object of JSON logs)."""
    return {
        "limited_by": limited_by,
        "images": stats.done,
        **{status: stats.statuses.get(status, 0) for status in RECORD_STATUSES},
        "cached": stats.cached,
        "degraded": stats.degraded,
        "credits_used": stats.credits_used,
        "seconds": round(time.monotonic() - stats.started, 3),
    }
