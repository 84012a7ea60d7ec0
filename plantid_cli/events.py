"""A tiny event bus: the engine says what happened once; logs, progress and metrics listen.

Why: the same moment ("waiting 0.8 s on the rate limit") is a `[RATE]` line with -v, a note on
the progress bar, a JSON log object and a histogram sample. The engine should not know which of
those are switched on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

Listener = Callable[[str, dict[str, Any]], None]

logger = logging.getLogger("plantid")

#: How each event reads as a text log line (`-v`). Unlisted events log at DEBUG as "event k=v".
TEXT_FORMATS: dict[str, tuple[int, str]] = {
    "cache.hit": (logging.INFO, "[CACHE] hit {path}"),
    "cache.miss": (logging.INFO, "[CACHE] miss {path}"),
    "lock.wait": (logging.INFO, "[LOCK] wait {path}"),
    "lock.acquired": (logging.INFO, "[LOCK] acquired {path} after {seconds:.2f}s"),
    "lock.timeout": (
        logging.WARNING,
        "[LOCK] timeout {path} after {seconds:.1f}s; going on without it",
    ),
    "circuit.state": (logging.WARNING, "[CIRCUIT] {provider} {old} -> {new} ({failures} failures)"),
    "circuit.open": (logging.INFO, "[CIRCUIT] {provider} open: not calling for {path}"),
    "rate.wait": (logging.INFO, "[RATE] wait {seconds:.1f}s"),
    "upstream.call": (logging.INFO, "[HTTP] {provider} {outcome} in {seconds:.2f}s for {path}"),
    "upstream.retry": (
        logging.INFO,
        "[RETRY] {provider} attempt {attempt} in {delay:.1f}s: {reason}",
    ),
    "credits.exhausted": (logging.WARNING, "[CREDITS] {provider} credits exhausted"),
    "auth.rejected": (
        logging.WARNING,
        "[AUTH] {message} No more calls to {provider} in this run; set the right key with "
        "`plantid keys set {provider}`",
    ),
    "output.failed": (
        logging.WARNING,
        "{message}: no new photo is sent; waiting for the answers in flight (they are stored)",
    ),
    "fallback": (logging.INFO, "[FALLBACK] {path}: {from_provider} {reason} -> {to_provider}"),
}


class EventBus:
    def __init__(self) -> None:
        self._listeners: list[Listener] = [log_listener]
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def emit(self, event: str, **fields: Any) -> None:
        for listener in list(self._listeners):
            try:
                listener(event, fields)
            except Exception:  # a listener must never break the run
                logger.debug("listener failed for %s", event, exc_info=True)


def log_listener(event: str, fields: dict[str, Any]) -> None:
    level, template = TEXT_FORMATS.get(event, (logging.DEBUG, ""))
    if not logger.isEnabledFor(level):
        return
    try:
        text = template.format(**fields) if template else _plain(event, fields)
    except (KeyError, ValueError, IndexError):
        text = _plain(event, fields)
    logger.log(level, text, extra={"event": event, "fields": fields})


def _plain(event: str, fields: dict[str, Any]) -> str:
    return event + " " + " ".join(f"{k}={v}" for k, v in fields.items())
