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
from plantid_cli.errors import Interrupted
from plantid_cli.run.options import IdentifyOptions, RunResult


def run_identify(
    options: IdentifyOptions | Callable[[], IdentifyOptions],
    *,
    verbose: int = 0,
    debug: bool = False,
    log_format: str | None = None,
) -> int:
    """Exit code of one identify run. `options` may be a callable building them, so that a
    bad combination is reported after logging is set up (as JSON with --log-format json)."""
    # lazy: keeps outputs.sidecars/readback (and with them images, inputs) off start-up
    from plantid_cli.cli.run_outputs import RunOutputs

    setup_logging(verbose, debug, log_format)
    if callable(options):
        options = options()
    settings = load(options.setting_overrides())
    outputs = RunOutputs(
        options.report, options.write_xmp, options.xmp_name, settings.confidence_threshold
    )
    outputs.check()  # before any credit is spent
    target = _open_output(options.output)  # -o FILE: refused here when it cannot be written
    try:
        return _identify(settings, options, outputs, target)
    finally:
        if target is not None:
            target.discard()  # unless committed: a failed or stopped run leaves FILE as it was


def _identify(settings: Any, options: IdentifyOptions, outputs: Any, target: Any) -> int:
    # lazy: keeps run.batch (the engine, the providers, httpx) off every command's start-up
    from plantid_cli.run.batch import summary_fields, summary_line

    with StopSignals() as signals:  # the first Ctrl-C or SIGTERM stops, the second aborts
        result = _run(settings, options, outputs, signals, target)
        if target is not None and not result.interrupted:
            target.commit()
        elif target is not None:
            print_note(f"{options.output} left as it was: the run was stopped before its end")
        for folder in result.empty_folders:
            print_note(f"no images found in {folder}")
        if not options.quiet:
            print_note(
                summary_line(result.stats, "specimen" if options.group_by else "image")
                + (" (interrupted)" if result.interrupted else ""),
                event="run.summary",
                interrupted=result.interrupted,
                **summary_fields(result.stats),
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
    return "table" if stream.isatty() else "ndjson"


def _run(
    settings: Any, options: IdentifyOptions, outputs: Any, signals: StopSignals, target: Any
) -> RunResult:
    """run_batch with what a terminal adds around it: the format, the confirmation, progress,
    metrics. After a second signal, leaves the process at once (signals.exit_now) once the
    output is closed."""
    # lazy: keeps run.batch, the writers and events off every command's start-up (app imports all)
    from plantid_cli.events import EventBus
    from plantid_cli.outputs.writers import make_writer
    from plantid_cli.run.batch import count_in_background, run_batch

    stream = sys.stdout if target is None else target.stream
    fmt = _format(options, stream)
    # lazy: keeps the terminal questions off every command's start-up (app imports all)
    from plantid_cli.cli.ask import can_ask

    interactive = can_ask()  # a path list on stdin is asked about on the terminal (/dev/tty)
    observer = None
    if settings.metrics_file or options.pushgateway or options.job_name:
        # lazy: keeps telemetry.metrics (prometheus_client) off a run without metrics
        from plantid_cli.telemetry.metrics import make_observer

        observer = make_observer(
            settings, pushgateway=options.pushgateway, job_name=options.job_name
        )
    bus = EventBus()
    progress = None
    if sys.stderr.isatty() and not options.quiet and not json_logs():
        # lazy: keeps cli.progress (Rich) off a run with no terminal
        from plantid_cli.cli.progress import ProgressDisplay

        progress = ProgressDisplay(bus)
    writer = make_writer(fmt, stream, settings.confidence_threshold)
    try:
        if progress:
            progress.start()
            count_in_background(options, progress.set_total)
        return run_batch(
            settings,
            options,
            writer,
            bus=bus,
            confirm=None if (options.yes or not interactive) else _confirm,
            on_record=outputs.chain(progress.record if progress else None),
            stop=signals.stop_event,
            observer=observer,
        )
    except (KeyboardInterrupt, Interrupted):
        if not signals.aborted:
            raise
    finally:
        if observer is not None:
            observer.close()
        if progress:
            progress.stop()
    if target is not None:
        target.discard()  # leaving at once: no half-written FILE, no temporary file behind
    signals.exit_now()


def _confirm(images: int, cost: int) -> bool:
    from plantid_cli.cli.ask import ask
    from plantid_cli.records import plural

    answer = ask(
        f"{plural(images, 'image')}, {cost} not in the cache: this run may spend "
        f"{plural(cost, 'credit')}. Go on?"
    )
    return bool(answer)
