"""The Rich progress bar on stderr (terminals only): done/total, the same counts as the summary
line (ok, not_plant, error, cached...), rate, ETA, and a visible note while waiting on the rate
limit or an open breaker.

It starts only once the run is decided (after the confirmation question, which it would
otherwise draw over) and stops before the table is printed, leaving a final frame with the
final counts and no note: a wait that is over is not news."""

from __future__ import annotations

import threading
import time
from typing import Any

from plantid_cli.events import Event, EventBus
from plantid_cli.records import Record
from plantid_cli.run.summary import RunStats, count_parts


class ProgressDisplay:
    def __init__(self, bus: EventBus) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]identify"),
            BarColumn(bar_width=None),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            TextColumn("{task.fields[rate]:.1f}/s"),
            TimeRemainingColumn(compact=True),
            TextColumn("[yellow]{task.fields[note]}"),
            console=Console(stderr=True),
            transient=False,
        )
        self.stats = RunStats()
        self.task = self.progress.add_task(
            "identify", total=None, counts=self._counts(), rate=0.0, note=""
        )
        self.started = time.monotonic()
        self._note_until = 0.0
        self._lock = threading.Lock()
        self._running = False
        bus.subscribe(self.on_event)

    def _counts(self) -> str:
        return " · ".join(count_parts(self.stats, always_ok=True))

    def start(self) -> None:
        """Draw from now on; the rate counts from now (not from before the question)."""
        self.started = time.monotonic()
        self._running = True
        self.progress.start()

    def stop(self) -> None:
        """The last frame: final counts, no note. Safe to call twice (before the table is
        printed, then on the way out)."""
        if not self._running:
            return
        self._running = False
        with self._lock:
            self.progress.update(self.task, note="", counts=self._counts())
        self.progress.stop()

    def set_total(self, total: int) -> None:
        self.progress.update(self.task, total=total)

    def on_event(self, event: Event, fields: dict[str, Any]) -> None:
        if event == Event.RATE_WAIT:
            self._note(f"rate limit: {fields['seconds']:.1f}s", fields["seconds"])
        elif event == Event.CIRCUIT_OPEN:
            self._note(f"{fields['provider']} circuit open: not calling", 2.0)
        elif event == Event.CIRCUIT_STATE:
            self._note(f"{fields['provider']} circuit {fields['new']}", 3.0)

    def _note(self, text: str, seconds: float) -> None:
        self._note_until = time.monotonic() + max(seconds, 1.0)
        self.progress.update(self.task, note=text)

    def record(self, record: Record) -> None:
        with self._lock:
            self.stats.add(record)
            done = self.stats.done
            elapsed = max(time.monotonic() - self.started, 1e-6)
            fields: dict[str, Any] = dict(counts=self._counts(), rate=done / elapsed)
            if time.monotonic() >= self._note_until:
                fields["note"] = ""
            self.progress.update(self.task, completed=done, **fields)
