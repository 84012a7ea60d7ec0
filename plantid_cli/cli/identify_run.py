"""The body of `plantid identify`: options in, a run, the summary out. Free of Typer so that
the fast path (cli/fastpath.py) can run it without paying for the command-line framework.

It decides only what belongs to a terminal: the format when none is given, whether to ask
before a large run, the progress display, the stop signals, the summary line. The run itself
(run/batch.run_batch) returns a RunResult; its options checked themselves when built.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from plantid_cli.cli.common import json_logs, load, print_note, setup_logging
from plantid_cli.cli.signals import StopSignals
from plantid_cli.errors import Interrupted, OutputError, UsageError
from plantid_cli.run.options import IdentifyOptions, RunResult


def run_identify(
    options: IdentifyOptions | Callable[[], IdentifyOptions],
    *,
    verbose: int = 0,
    debug: bool = False,
    log_format: str | None = None,
    credit: str = "credit",
    settings: Any = None,
) -> int:
    """Exit code of one identify run. `options` may be a callable building them, so that a
    bad combination is reported after logging is set up (as JSON with --log-format json).
    `credit` is what the summary calls a credit (`plantid demo`: "sandbox credit").
    `settings`: loaded already for these options (the fast path read them to check the
    breaker: reading the configuration twice cost a start-up a few ms)."""
    # lazy: keeps outputs.sidecars/readback (and with them images, inputs) off start-up
    from plantid_cli.cli.run_outputs import RunOutputs

    setup_logging(verbose, debug, log_format)
    if callable(options):
        options = options()
    if settings is None:
        settings = load(options.setting_overrides())
    if options.dry_run:
        # lazy: only a dry run prints a plan
        from plantid_cli.cli.dry_run import run_dry

        return run_dry(settings, options)
    outputs = RunOutputs(
        options.report, options.write_xmp, options.xmp_name, settings.confidence_threshold
    )
    outputs.check()  # before any credit is spent
    target = _open_output(options.output)  # -o FILE: refused here when it cannot be written
    try:
        return _identify(settings, options, outputs, target, credit)
    finally:
        if target is not None:
            target.discard()  # unless committed: a failed or stopped run leaves FILE as it was


def _identify(
    settings: Any, options: IdentifyOptions, outputs: Any, target: Any, credit: str
) -> int:
    # lazy: keeps run.batch (the engine, the providers, httpx) and events off every command's
    # start-up
    from plantid_cli.events import EventBus
    from plantid_cli.run.summary import RateWatch, summary_fields, summary_line

    bus = EventBus()
    pace = RateWatch(bus, settings.rate_limit)
    with StopSignals() as signals:  # the first Ctrl-C or SIGTERM stops, the second aborts
        result = _run(settings, options, outputs, signals, target, bus)
        if target is not None and not result.interrupted:
            target.commit()
        elif target is not None:
            print_note(f"{options.output} left as it was: the run was stopped before its end")
        for folder in result.empty_folders:
            print_note(f"no images found in {folder}")
        if not options.quiet:
            unit = "specimen" if options.group_by else "image"
            limited_by = pace.limited_by
            print_note(
                summary_line(result.stats, unit, limited_by=limited_by, credit=credit)
                + (" (interrupted)" if result.interrupted else ""),
                event="run.summary",
                interrupted=result.interrupted,
                **summary_fields(result.stats, limited_by=limited_by),
            )
        outputs.finish(result.stats.credits_used, options.quiet)
        if result.interrupted:
            return signals.exit_code  # 128 + the signal that stopped it
        return result.exit_code or outputs.exit_code()


def _open_output(path: str | None) -> Any:
    if path is None or path == "-":  # `-o -`: stdout, as usual
        return None
    # lazy: only a run with -o FILE needs it
    from plantid_cli.cli.outfile import AtomicOutput

    return AtomicOutput(path)


def _format(options: IdentifyOptions, stream: Any) -> str:
    """--format; else the one `-o FILE`'s suffix names; else a table for a terminal, ndjson."""
    if options.format:
        return options.format
    if options.output and options.output != "-":
        # lazy: only a run with -o FILE needs it
        from plantid_cli.cli.outfile import SUFFIX_FORMATS

        return SUFFIX_FORMATS.get(os.path.splitext(options.output)[1].lower(), "ndjson")
    # None: started with stdout closed (the writer then says so in one line, exit 1)
    return "table" if stream is not None and stream.isatty() else "ndjson"


def _run(
    settings: Any,
    options: IdentifyOptions,
    outputs: Any,
    signals: StopSignals,
    target: Any,
    bus: Any,
) -> RunResult:
    """run_batch with what a terminal adds around it: the format, the confirmation, progress,
    metrics. After a second signal, leaves the process at once (signals.exit_now) once the
    output is closed.

    The order on a terminal: the question (if any) on a clean line, then the bar (started by
    run_batch's `on_start`, once the answer is yes), then the bar's last frame, then the table
    (the bar stops when the writer closes, before the table is printed), then the summary."""
    # lazy: keeps run.batch and the writers off every command's start-up
    from plantid_cli.outputs.writers import make_writer
    from plantid_cli.run.batch import run_batch

    stream = sys.stdout if target is None else target.stream
    fmt = _format(options, stream)
    # lazy: keeps the terminal questions off every command's start-up (app imports all)
    from plantid_cli.cli.ask import can_ask

    interactive = can_ask()  # a path list on stdin is asked about on the terminal (/dev/tty)
    observer = None
    if settings.metrics_file is not None and not settings.metrics_file.strip():
        # was: no metrics written, nothing said, exit 0 (as --report '' was)
        raise UsageError(
            "--metrics-file (or PLANTID_METRICS_FILE) needs a file name (it was given an empty "
            "one); nothing was sent"
        )
    if settings.metrics_file or options.pushgateway or options.job_name:
        # lazy: keeps telemetry.metrics (prometheus_client) off a run without metrics
        from plantid_cli.telemetry.metrics import make_observer

        observer = make_observer(
            settings, pushgateway=options.pushgateway, job_name=options.job_name
        )
    progress = None
    if (
        sys.stderr is not None
        and sys.stderr.isatty()
        and not options.quiet
        and not json_logs()
        and not (fmt != "table" and _same_terminal(sys.stdout, sys.stderr))
    ):
        # lazy: keeps cli.progress (Rich) off a run with no terminal
        from plantid_cli.cli.progress import ProgressDisplay

        progress = ProgressDisplay(bus)
    writer: Any
    if options.task == "health":
        # lazy: the health writers only for `plantid health`
        from plantid_cli.outputs.health import make_health_writer

        writer = make_health_writer(fmt, stream)
    else:
        writer = make_writer(fmt, stream, settings.confidence_threshold)
    on_start = None
    if progress:
        writer = _StopBarFirst(writer, progress)

        def on_start() -> None:
            progress.start()

    try:
        return run_batch(
            settings,
            options,
            writer,
            bus=bus,
            confirm=None if (options.yes or not interactive) else _confirm,
            on_record=outputs.chain(progress.record if progress else None),
            stop=signals.stop_event,
            observer=observer,
            on_start=on_start,
            on_total=progress.set_total if progress else None,
        )
    except (KeyboardInterrupt, Interrupted):
        if not signals.aborted:
            raise
    except OutputError as exc:
        if options.output and options.output != "-":  # say which: the run wrote a stream
            raise exc.naming(options.output) from None
        raise
    finally:
        if observer is not None:
            observer.close()
        if progress:
            progress.stop()
    if target is not None:
        target.discard()  # leaving at once: no half-written FILE, no temporary file behind
    signals.exit_now()


def _same_terminal(stdout: Any, stderr: Any) -> bool:
    """Whether records streamed to stdout (ndjson, csv, json) land on the terminal the bar is
    drawn on: then the records themselves show the progress, and a bar redrawn between them
    would tear both apart (the table is printed once, after the bar's last frame)."""
    try:
        return bool(stdout.isatty()) and os.path.samestat(
            os.fstat(stdout.fileno()), os.fstat(stderr.fileno())
        )
    except (AttributeError, OSError, ValueError):  # a stream without a descriptor
        return False


class _StopBarFirst:
    """The run's writer, with the progress bar stopped before it closes: the table is printed
    at close, and a live bar redrawn under it would glue its frame to the table's first line."""

    def __init__(self, writer: Any, progress: Any) -> None:
        self.writer, self.progress = writer, progress

    def write(self, record: Any) -> None:
        self.writer.write(record)

    def close(self) -> None:
        self.progress.stop()
        self.writer.close()


def _confirm(images: int, cost: int) -> bool:
    # lazy: only a run that asks needs them
    from plantid_cli.cli.ask import ask
    from plantid_cli.records import plural

    answer = ask(
        # short enough for an 80-column line with a 3-digit count: `[y/N]` must be seen
        f"{plural(images, 'image')}: this run may spend up to {plural(cost, 'credit')}. Go on?"
    )
    return bool(answer)
