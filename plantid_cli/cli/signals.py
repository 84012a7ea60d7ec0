"""Ctrl-C and SIGTERM during `plantid identify`: the first stops, the second aborts.

Why SIGTERM is handled at all: `timeout`, systemd, Slurm and Kubernetes stop jobs with it, and
by default it kills like kill -9 (answers in flight lost and paid again, `--format json` cut
mid-record). So SIGTERM does exactly what the first Ctrl-C does: no new work (no new photo, no
retry, no rate-limit wait goes on), the answers in flight land and are stored, the output is
closed validly, the summary printed; the exit status is 128 + the signal (130 for Ctrl-C, 143
for SIGTERM). A second signal of either kind aborts at once: it raises KeyboardInterrupt in
the main thread, the output written so far is closed, and the process leaves with
:meth:`StopSignals.exit_now` without waiting for requests still hanging in worker threads.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType
from typing import Any, NoReturn

from plantid_cli.cli.common import print_note

HANDLED = (signal.SIGINT, signal.SIGTERM)
NAMES: dict[int, str] = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}


class StopSignals:
    """Installs the handlers for one run (`with StopSignals() as signals:`)."""

    def __init__(self) -> None:
        self.signum: int | None = None  # the first signal received
        self.aborted: int | None = None  # the second one, if any
        self._stop = threading.Event()
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        for signum in HANDLED:
            self._previous[signum] = signal.getsignal(signum)
            signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)

    @property
    def stop_event(self) -> threading.Event:
        """Set at the first signal: hand it to the run (run_batch's `stop`), which then starts
        no new work. A library never installs handlers; the CLI does, and tells the run so."""
        return self._stop

    @property
    def stopped(self) -> bool:
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        """128 + the signal that ended the run (the shell's convention)."""
        return 128 + int(self.aborted or self.signum or signal.SIGINT)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
            self._stop.set()
            again = "Ctrl-C again" if signum == signal.SIGINT else "send it again"
            print_note(
                f"stopping ({NAMES.get(signum, str(signum))}): waiting for answers in flight "
                f"({again} to abort)"
            )
            return
        if self.aborted is not None:  # a third: whatever the run is still closing, leave now
            self.exit_now()
        self.aborted = signum
        raise KeyboardInterrupt

    def exit_now(self) -> NoReturn:
        """Leave at once: worker threads may still hang in a request, and the interpreter's
        normal exit would wait for them. The output has been closed by then."""
        print_note("aborted: answers still in flight were not waited for")
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(self.exit_code)
