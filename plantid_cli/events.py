"""A tiny event bus: the engine says what happened once; logs, progress and metrics listen.

Why: the same moment ("waiting 0.8 s on the rate limit") is a `[RATE]` line with -v, a note on
the progress bar, a JSON log object and a histogram sample. The engine should not know which of
those are switched on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from enum import StrEnum
from typing import Any


class Event(StrEnum):
    """Every event the bus carries. A StrEnum: JSON logs and listeners see the plain name.

    Why an enum: free strings drifted (a log format for an event nobody sent, an event sent that
    nobody heard); tests/test_events.py checks every member is emitted and heard.
    """

    CACHE_HIT = "cache.hit"
    CACHE_MISS = "cache.miss"
    #: After every single-flight lock: how long it waited and whether it got the lock.
    LOCK_WAITED = "lock.waited"
    #: The lock came after a noticeable wait for another process asking for the same photo.
    LOCK_ACQUIRED = "lock.acquired"
    LOCK_TIMEOUT = "lock.timeout"
    CIRCUIT_STATE = "circuit.state"
    CIRCUIT_OPEN = "circuit.open"
    #: A run's photos wait for another process's trial call (once per service and run).
    CIRCUIT_TRIAL_WAIT = "circuit.trial_wait"
    #: The rate limit makes a call wait (once per call, before the wait).
    RATE_WAIT = "rate.wait"
    #: A rate-limit slot was taken (after `seconds` of waiting, maybe 0).
    RATE_ACQUIRED = "rate.acquired"
    UPSTREAM_START = "upstream.start"
    UPSTREAM_CALL = "upstream.call"
    UPSTREAM_RETRY = "upstream.retry"
    CREDITS_EXHAUSTED = "credits.exhausted"
    AUTH_REJECTED = "auth.rejected"
    FALLBACK = "fallback"
    OUTPUT_FAILED = "output.failed"  # stdout refused a record: the run stops taking work
    IMAGE_PREPARED = "image.prepared"


Listener = Callable[[Event, dict[str, Any]], None]

logger = logging.getLogger("plantid")

#: How each event reads as a text log line (`-v`). Unlisted events log at DEBUG as "event k=v".
TEXT_FORMATS: dict[Event, tuple[int, str]] = {
    Event.CACHE_HIT: (logging.INFO, "[CACHE] hit {path}"),
    Event.CACHE_MISS: (logging.INFO, "[CACHE] miss {path}"),
    Event.LOCK_ACQUIRED: (logging.INFO, "[LOCK] acquired {path} after {seconds:.2f}s"),
    Event.LOCK_TIMEOUT: (
        logging.WARNING,
        "[LOCK] timeout {path} after {seconds:.1f}s; going on without it",
    ),
    Event.CIRCUIT_STATE: (
        logging.WARNING,
        "[CIRCUIT] {provider} {old} -> {new} ({failures} failures)",
    ),
    Event.CIRCUIT_OPEN: (logging.INFO, "[CIRCUIT] {provider} open: not calling for {path}"),
    Event.CIRCUIT_TRIAL_WAIT: (
        logging.WARNING,
        "[CIRCUIT] {provider} half-open: {who}; this run's photos wait for its outcome"
        " (until {until} at most)",
    ),
    Event.RATE_WAIT: (logging.INFO, "[RATE] wait {seconds:.1f}s"),
    Event.UPSTREAM_CALL: (
        logging.INFO,
        "[HTTP] {provider} {outcome} in {seconds:.2f}s for {path}",
    ),
    Event.UPSTREAM_RETRY: (
        logging.INFO,
        "[RETRY] {provider} attempt {attempt} in {delay:.1f}s: {reason}",
    ),
    Event.CREDITS_EXHAUSTED: (logging.WARNING, "[CREDITS] {provider} credits exhausted"),
    Event.AUTH_REJECTED: (
        logging.WARNING,
        "[AUTH] {message} No more calls to {provider} in this run; set the right key: {remedy}",
    ),
    Event.OUTPUT_FAILED: (
        logging.WARNING,
        "{message}: no new photo is sent; waiting for the answers in flight ({fate})",
    ),
    Event.FALLBACK: (
        logging.INFO,
        "[FALLBACK] {path}: {from_provider} {reason} -> {to_provider}",
    ),
}


class EventBus:
    def __init__(self) -> None:
        self._listeners: list[Listener] = [log_listener]
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def emit(self, event: Event, **fields: Any) -> None:
        for listener in list(self._listeners):
            try:
                listener(event, fields)
            except Exception:  # a listener must never break the run
                logger.debug("listener failed for %s", event, exc_info=True)


def log_listener(event: Event, fields: dict[str, Any]) -> None:
    level, template = TEXT_FORMATS.get(event, (logging.DEBUG, ""))
    if not logger.isEnabledFor(level):
        return
    try:
        text = template.format(**fields) if template else _plain(event, fields)
    except (KeyError, ValueError, IndexError):
        text = _plain(event, fields)
    logger.log(level, text, extra={"event": event, "fields": fields})


def _plain(event: Event, fields: dict[str, Any]) -> str:
    return event + " " + " ".join(f"{k}={v}" for k, v in fields.items())
