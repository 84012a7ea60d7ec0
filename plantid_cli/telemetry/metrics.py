"""A run's metrics in Prometheus text format: a file rewritten atomically, and a Pushgateway push.

What the metrics are and how events feed them is `telemetry.registry`; this module decides when
they are written and where (the file every few seconds and at the end, the push).

Why a listener: the engine only emits events (see events.py); this module turns them into
counters, histograms and gauges on its *own* `prometheus_client` registry (never the global one,
so a library user's process metrics are not mixed in). Shared state that no event describes for a
run that never called (a breaker open from the start, credits left) is read from the guards'
state at write time.

`prometheus_client` is an optional extra (`pip install 'plantid-cli[metrics]'`) and is imported
only when this module is, i.e. only when `--metrics-file` or `--pushgateway` is used.

The metric names below are a contract (docs/metrics.md): add new ones, never rename.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plantid_cli.config import Settings
from plantid_cli.errors import UsageError
from plantid_cli.file_targets import replacing
from plantid_cli.telemetry.pushgateway import (
    parse_grouping_key,
    push_failure,
    push_handler,
    safe_url,
)
from plantid_cli.telemetry.registry import (  # noqa: F401  (METRICS: the names' contract)
    INSTALL_HINT,
    METRICS,
    RunMetrics,
    _prometheus,
    run_providers,
)

if TYPE_CHECKING:  # prometheus_client is an extra, imported when a run asks for metrics
    from plantid_cli.records import Record

logger = logging.getLogger("plantid")

DEFAULT_INTERVAL = 5.0
PUSH_JOB = "plantid"


def write_atomically(path: Path, data: bytes) -> None:
    """Readers (a node exporter's textfile collector) see the old file or the new one."""
    with replacing(path, binary=True) as handle:  # file_targets.py: links, pipes, modes
        handle.write(data)


class RunObserver:
    """Owns a run's metrics: subscribes to the engine, rewrites the file, pushes at the end."""

    def __init__(
        self,
        settings: Settings,
        *,
        metrics_file: str | os.PathLike[str] | None = None,
        pushgateway: str | None = None,
        job_name: str | None = None,
        interval: float = DEFAULT_INTERVAL,
    ) -> None:
        if job_name and not pushgateway:
            raise UsageError("--job-name names the Pushgateway group: it needs --pushgateway")
        if pushgateway and not pushgateway.startswith(("http://", "https://")):
            pushgateway = "http://" + pushgateway
        self.grouping_key = parse_grouping_key(job_name)
        self.metrics = RunMetrics(settings)
        self.path = Path(metrics_file).expanduser() if metrics_file else None
        self.pushgateway = pushgateway
        self.interval = interval
        self._buses: set[int] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._write_lock = threading.Lock()
        self._closed = False
        self._warned = False
        if self.path is not None:
            try:
                self.write()  # fail before any credit is spent when the file cannot be written
            except OSError as exc:
                raise UsageError(f"--metrics-file {self.path}: {exc.strerror or exc}") from None

    # ----- hooks for batch.run_batch -----
    def attach(self, engine: Any) -> None:
        bus = engine.bus
        if id(bus) not in self._buses:
            self._buses.add(id(bus))
            bus.subscribe(self.metrics.on_event)
        self.metrics.add_provider(engine.provider.name, getattr(engine, "guards", None))
        self.start()

    def watch(self, bus: Any) -> None:
        """Listen to a bus without an engine (library use, tests)."""
        if id(bus) not in self._buses:
            self._buses.add(id(bus))
            bus.subscribe(self.metrics.on_event)

    def record(self, record: Record) -> None:
        self.metrics.on_record(record)

    def start(self) -> None:
        if self.path is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="plantid-metrics", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """End of run (normal, error, Ctrl-C): stop the writer, last write, push. Never raises."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.metrics.finish()
        if self.path is not None:
            try:
                self.write()
            except Exception as exc:
                _warn("metrics.write_failed", f"cannot write metrics to {self.path}: {exc}")
        if self.pushgateway:
            self.push()

    # ----- output -----
    def write(self) -> None:
        if self.path is None:  # pushing only
            return
        with self._write_lock:
            write_atomically(self.path, self.metrics.text())

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.write()
            except Exception as exc:
                if not self._warned:
                    self._warned = True
                    _warn("metrics.write_failed", f"cannot write metrics to {self.path}: {exc}")

    def push(self) -> bool:
        if not self.pushgateway:
            return False
        gateway = self.pushgateway
        pc = _prometheus()
        self.metrics.refresh()
        try:
            pc.push_to_gateway(
                gateway,
                job=PUSH_JOB,
                registry=self.metrics.registry,
                grouping_key=self.grouping_key,
                timeout=min(self.metrics.settings.timeout, 30.0),
                handler=push_handler,
            )
        except Exception as exc:
            _warn(
                "metrics.push_failed",
                f"cannot push metrics to {safe_url(gateway)}: {push_failure(exc)}",
            )
            return False
        logger.info(
            "[METRICS] pushed to %s",
            safe_url(gateway),
            extra={"event": "metrics.pushed", "fields": {"url": safe_url(gateway)}},
        )
        return True


def _warn(event: str, message: str) -> None:
    logger.warning(message, extra={"event": event, "fields": {}})


def make_observer(
    settings: Settings,
    *,
    pushgateway: str | None = None,
    job_name: str | None = None,
    interval: float = DEFAULT_INTERVAL,
) -> RunObserver | None:
    """None when the run wants no metrics (then prometheus_client is never imported)."""
    if not settings.metrics_file and not pushgateway:
        if job_name:
            raise UsageError("--job-name names the Pushgateway group: it needs --pushgateway")
        return None
    # `*_created` series say nothing a run's start timestamp does not, and double the file.
    # (A process-wide switch: this factory is the CLI's; library users build RunObserver.)
    _prometheus().disable_created_metrics()
    return RunObserver(
        settings,
        metrics_file=settings.metrics_file,
        pushgateway=pushgateway,
        job_name=job_name,
        interval=interval,
    )
