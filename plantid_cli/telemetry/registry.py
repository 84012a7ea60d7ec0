"""A run's metrics: their names (a contract, docs/metrics.md), and the private registry that
bus events and records feed (`RunMetrics`).

Why apart from `telemetry.metrics`: what is counted and how each event maps to a metric is one
responsibility; when and where the metrics are written (the file, the Pushgateway) is another.
`prometheus_client` is an optional extra, imported only by `_prometheus()`.
"""

from __future__ import annotations

import logging
import threading
import time
from types import ModuleType
from typing import TYPE_CHECKING, Any

from plantid_cli.config import Settings
from plantid_cli.constants import BREAKER_STATE_VALUES, PROVIDERS, RECORD_STATUSES
from plantid_cli.errors import UsageError
from plantid_cli.events import Event
from plantid_cli.telemetry.status import _guards_for

if TYPE_CHECKING:  # prometheus_client is an extra, imported when a run asks for metrics
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    from plantid_cli.records import Record

logger = logging.getLogger("plantid")

INSTALL_HINT = "pip install 'plantid-cli[metrics]'"
IMAGE_STATUSES = RECORD_STATUSES  # every record status, pre-declared at 0
CALL_OUTCOMES = (
    "ok", "client_error", "server_error", "timeout", "credits", "auth", "bad_response"
)  # fmt: skip
CACHE_RESULTS = ("hit", "miss")

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
PREPARE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# The metrics of a run, in registration (and output) order:
# (attribute on RunMetrics, prometheus_client class, name, help, label names, histogram buckets).
METRICS: tuple[tuple[str, str, str, str, tuple[str, ...], tuple[float, ...] | None], ...] = (
    ("images", "Counter", "plantid_images",
     "Images by final status (ok, not_plant, error).", ("provider", "status"), None),
    ("calls", "Counter", "plantid_upstream_calls",
     "HTTP calls to the service by outcome (ok, client_error, server_error, timeout, "
     "credits, auth, bad_response: a charged answer that cannot be used); every attempt "
     "counts, retries included.", ("provider", "outcome"), None),
    ("cache", "Counter", "plantid_cache_requests",
     "Result cache look-ups by result (hit, miss); answers shared within the run count "
     "as hits.", ("provider", "result"), None),
    ("retries", "Counter", "plantid_retries",
     "Calls retried after a transient failure.", ("provider",), None),
    ("fallbacks", "Counter", "plantid_fallbacks",
     "Images handed from one service to the other.", ("from", "to"), None),
    ("circuit_rejections", "Counter", "plantid_circuit_open_rejections",
     "Images not sent because the service's circuit breaker was open.", ("provider",), None),
    ("breaker_transitions", "Counter", "plantid_breaker_transitions",
     "Circuit breaker state changes seen by this run, by new state.", ("provider", "state"), None),
    ("lock_timeouts", "Counter", "plantid_lock_timeouts",
     "Single-flight locks not obtained in time (the call went ahead without it).", (), None),
    ("latency", "Histogram", "plantid_upstream_latency_seconds",
     "Duration of each HTTP call to the service, any outcome.", ("provider",), LATENCY_BUCKETS),
    ("lock_wait", "Histogram", "plantid_lock_wait_seconds",
     "Time spent waiting for the per-photo single-flight lock.", (), WAIT_BUCKETS),
    ("rate_wait", "Histogram", "plantid_rate_limit_wait_seconds",
     "Time spent in the shared rate limiter before each call.", (), WAIT_BUCKETS),
    ("prepare", "Histogram", "plantid_image_prepare_seconds",
     "Time to decode, orient, shrink and re-encode one photo.", (), PREPARE_BUCKETS),
    ("breaker_state", "Gauge", "plantid_breaker_state",
     "Circuit breaker state (0 closed, 1 half-open, 2 open).", ("provider",), None),
    ("credits_remaining", "Gauge", "plantid_credits_remaining",
     "Credits or quota left, when known.", ("provider",), None),
    ("run_start", "Gauge", "plantid_run_start_timestamp_seconds",
     "When the run started (Unix time).", (), None),
    ("run_end", "Gauge", "plantid_run_end_timestamp_seconds",
     "When the run ended (Unix time); 0 while it is running.", (), None),
    ("in_flight", "Gauge", "plantid_in_flight",
     "HTTP calls to the service in flight now.", (), None),
)  # fmt: skip


def _prometheus() -> ModuleType:
    try:
        import prometheus_client
    except ImportError:
        raise UsageError(
            "--metrics-file and --pushgateway need the prometheus_client package: " + INSTALL_HINT
        ) from None
    return prometheus_client


def run_providers(settings: Settings) -> tuple[str, ...]:
    """The services a run may call: both for `auto`/`both`, else the one chosen."""
    return PROVIDERS if settings.provider not in PROVIDERS else (settings.provider,)


class RunMetrics:
    """Every metric of one run, on a private registry, fed by bus events and records.

    The attributes are made from METRICS (one table of names, help and labels); declared here
    so that every use is type-checked against prometheus_client.
    """

    images: Counter
    calls: Counter
    cache: Counter
    retries: Counter
    fallbacks: Counter
    circuit_rejections: Counter
    breaker_transitions: Counter
    lock_timeouts: Counter
    latency: Histogram
    lock_wait: Histogram
    rate_wait: Histogram
    prepare: Histogram
    breaker_state: Gauge
    credits_remaining: Gauge
    run_start: Gauge
    run_end: Gauge
    in_flight: Gauge

    def __init__(self, settings: Settings, registry: CollectorRegistry | None = None) -> None:
        pc = _prometheus()
        self.settings = settings
        self.registry = registry if registry is not None else pc.CollectorRegistry()
        reg = self.registry
        self._lock = threading.Lock()
        self._guards: dict[str, tuple[Any, Any]] = {}
        for attr, kind, name, doc, labels, buckets in METRICS:
            extra = {"buckets": buckets} if buckets else {}
            setattr(self, attr, getattr(pc, kind)(name, doc, labels, registry=reg, **extra))
        self.run_start.set(time.time())
        for provider in run_providers(settings):
            self.add_provider(provider)

    def add_provider(self, provider: str, guards: Any = None) -> None:
        """Make the provider's series exist (at 0) and remember where to read its shared state."""
        with self._lock:
            known = provider in self._guards
            if guards is not None:
                self._guards[provider] = (guards.breaker, guards.credits)
            elif not known:
                self._guards[provider] = (None, None)
        if known:
            return
        for status in IMAGE_STATUSES:
            self.images.labels(provider, status)
        for outcome in CALL_OUTCOMES:
            self.calls.labels(provider, outcome)
        for result in CACHE_RESULTS:
            self.cache.labels(provider, result)
        self.retries.labels(provider)
        self.circuit_rejections.labels(provider)
        self.latency.labels(provider)

    # ----- inputs -----
    def on_event(self, event: Event, fields: dict[str, Any]) -> None:
        provider = fields.get("provider")
        if provider and provider not in self._guards:
            self.add_provider(provider)
        if event == Event.CACHE_HIT:
            self.cache.labels(provider, "hit").inc()
        elif event == Event.CACHE_MISS:
            self.cache.labels(provider, "miss").inc()
        elif event == Event.UPSTREAM_START:
            self.in_flight.inc()
        elif event == Event.UPSTREAM_CALL:
            self.in_flight.dec()
            self.calls.labels(provider, fields.get("outcome", "client_error")).inc()
            self.latency.labels(provider).observe(fields.get("seconds", 0.0))
        elif event == Event.UPSTREAM_RETRY:
            self.retries.labels(provider).inc()
        elif event == Event.RATE_ACQUIRED:
            self.rate_wait.observe(fields.get("seconds", 0.0))
        elif event == Event.LOCK_WAITED:
            self.lock_wait.observe(fields.get("seconds", 0.0))
            if not fields.get("acquired", True):
                self.lock_timeouts.inc()
        elif event == Event.IMAGE_PREPARED:
            self.prepare.observe(fields.get("seconds", 0.0))
        elif event == Event.CIRCUIT_OPEN:
            self.circuit_rejections.labels(provider).inc()
        elif event == Event.CIRCUIT_STATE:
            new = fields.get("new")
            if new in BREAKER_STATE_VALUES:
                self.breaker_state.labels(provider).set(BREAKER_STATE_VALUES[new])
                self.breaker_transitions.labels(provider, new).inc()
        elif event == Event.CREDITS_EXHAUSTED:
            self.credits_remaining.labels(provider).set(0)
        elif event == Event.FALLBACK:
            source, target = fields.get("from_provider"), fields.get("to_provider")
            if source and target:
                self.fallbacks.labels(source, target).inc()

    def on_record(self, record: Record) -> None:
        provider = record.get("provider") or self.settings.provider
        if provider not in self._guards:
            self.add_provider(provider)
        self.images.labels(provider, record.get("status", "error")).inc()

    def finish(self) -> None:
        self.run_end.set(time.time())

    # ----- output -----
    def refresh(self) -> None:
        """Gauges that mirror shared state (other processes may change it): breaker, credits."""
        for provider in list(self._guards):
            breaker, credits = self._guards[provider]
            try:
                if breaker is None:
                    guards = _guards_for(self.settings, provider)  # the run's account
                    breaker, credits = guards.breaker, guards.credits
                    self._guards[provider] = (breaker, credits)
                state = breaker.status()["state"]
                self.breaker_state.labels(provider).set(BREAKER_STATE_VALUES.get(state, 0))
                remaining = credits.status().get("remaining")
                if remaining is not None:
                    self.credits_remaining.labels(provider).set(remaining)
            except Exception:  # shared state unreadable: keep the last values
                logger.debug("metrics: cannot read shared state for %s", provider, exc_info=True)

    def text(self) -> bytes:
        self.refresh()
        data: bytes = _prometheus().generate_latest(self.registry)
        return data
