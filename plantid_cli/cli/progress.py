"""The Rich progress bar on stderr (terminals only): done/total, ok, cached, failed, rate, ETA,
and a visible note while waiting on the rate limit or an open breaker."""

from __future__ import annotations

import threading
import time
from typing import Any

from plantid_cli.events import Event, EventBus
from plantid_cli.records import Record


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
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(
                "ok {task.fields[ok]} · cached {task.fields[cached]} · failed {task.fields[failed]}"
            ),
            TextColumn("{task.fields[rate]:.1f}/s"),
            TimeRemainingColumn(),
            TextColumn("[yellow]{task.fields[note]}"),
            console=Console(stderr=True),
            transient=False,
        )
        self.task = self.progress.add_task(
            "identify", total=None, ok=0, cached=0, failed=0, rate=0.0, note=""
        )
        self.counts = {"ok": 0, "cached": 0, "failed": 0, "done": 0}
        self.started = time.monotonic()
        self._note_until = 0.0
        self._lock = threading.Lock()
        bus.subscribe(self.on_event)

    def start(self) -> None:
        self.progress.start()

    def stop(self) -> None:
        self.progress.stop()

    def set_total(self, total: int) -> None:
        self.progress.update(self.task, total=total)

    def on_event(self, event: Event, fields: dict[str, Any]) -> None:
        if event == Event.RATE_WAIT:
            self._note(f"waiting {fields['seconds']:.1f}s on the rate limit", fields["seconds"])
        elif event == Event.CIRCUIT_OPEN:
            self._note(f"{fields['provider']} circuit open: not calling", 2.0)
        elif event == Event.CIRCUIT_STATE:
            self._note(f"{fields['provider']} circuit {fields['new']}", 3.0)

    def _note(self, text: str, seconds: float) -> None:
        self._note_until = time.monotonic() + max(seconds, 1.0)
        self.progress.update(self.task, note=text)

    def record(self, record: Record) -> None:
        with self._lock:
            counts = self.counts
            counts["done"] += 1
            if record["status"] == "error":
                counts["failed"] += 1
            else:
                counts["ok"] += 1
            if record.get("cached"):
                counts["cached"] += 1
            elapsed = max(time.monotonic() - self.started, 1e-6)
            note = None if time.monotonic() < self._note_until else ""
            fields: dict[str, Any] = dict(
                ok=counts["ok"],
                cached=counts["cached"],
                failed=counts["failed"],
                rate=counts["done"] / elapsed,
            )
            if note is not None:
                fields["note"] = note
            self.progress.update(self.task, completed=counts["done"], **fields)
