"""The body of `plantid identify`, free of Typer so that the fast path (cli/__init__.py) can run
it without paying for the command-line framework. Parses nothing: gets plain values."""

from __future__ import annotations

import sys
from typing import Any

from plantid_cli.cli.common import json_logs, load, print_note, setup_logging
from plantid_cli.cli.signals import StopSignals


def run_identify(flags: dict[str, Any], **opts: Any) -> int:
    from plantid_cli.constants import OUTPUT_FORMATS as FORMATS
    from plantid_cli.errors import UsageError
    from plantid_cli.events import EventBus
    from plantid_cli.outputs.writers import make_writer
    from plantid_cli.run.batch import BatchOptions, summary_fields, summary_line

    setup_logging(opts["verbose"], opts["debug"], opts["log_format"])
    settings = load(flags)
    fmt = opts["fmt"] or ("table" if sys.stdout.isatty() else "ndjson")
    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if opts["no_cache"] and opts["refresh"]:
        raise UsageError("--no-cache and --refresh cannot be used together")
    if opts["paths"].count("-") > 1:
        raise UsageError("'-' (read paths from stdin) can be given only once")
    options = BatchOptions(
        paths=opts["paths"],
        use_cache=not opts["no_cache"],
        refresh=opts["refresh"],
        max_credits=opts["max_credits"],
        latitude=opts["lat"],
        longitude=opts["lon"],
        no_location=opts["no_location"],
        stdin=sys.stdin if "-" in opts["paths"] else None,
        group_by=opts["group_by"],
        shard=_shard(opts["shard"]),
        inline=opts.get("inline", False),
    )
    if options.group_by not in (None, "folder"):
        raise UsageError(f"--group-by must be folder, not {options.group_by!r}")
    from plantid_cli.cli.run_outputs import RunOutputs

    outputs = RunOutputs(
        opts["report"], opts["write_xmp"], opts["xmp_name"], settings.confidence_threshold
    )
    outputs.check()  # before any credit is spent
    interactive = sys.stdin.isatty() and sys.stderr.isatty() and "-" not in opts["paths"]
    confirm = None if (opts["yes"] or not interactive) else _confirm
    observer = None
    if settings.metrics_file or opts["pushgateway"] or opts["job_name"]:
        from plantid_cli.telemetry.metrics import make_observer

        observer = make_observer(
            settings, pushgateway=opts["pushgateway"], job_name=opts["job_name"]
        )
    bus = EventBus()
    progress = None
    if sys.stderr.isatty() and not opts["quiet"] and not json_logs():
        from plantid_cli.cli.progress import ProgressDisplay

        progress = ProgressDisplay(bus)
    writer = make_writer(fmt, sys.stdout, settings.confidence_threshold)
    with StopSignals() as signals:  # the first Ctrl-C or SIGTERM stops, the second aborts
        stats, code = _run(
            settings, options, writer, bus, confirm, outputs, progress, observer, signals
        )
        for folder in options.empty_folders:
            print_note(f"no images found in {folder}")
        interrupted = signals.stopped
        if not opts["quiet"]:
            print_note(
                summary_line(stats, "specimen" if options.group_by else "image")
                + (" (interrupted)" if interrupted else ""),
                event="run.summary",
                interrupted=interrupted,
                **summary_fields(stats),
            )
        outputs.finish(stats.credits_used, opts["quiet"])
        code = code or outputs.exit_code()
        return signals.exit_code if interrupted else code


def _run(
    settings: Any,
    options: Any,
    writer: Any,
    bus: Any,
    confirm: Any,
    outputs: Any,
    progress: Any,
    observer: Any,
    signals: StopSignals,
) -> tuple[Any, int]:
    """run_batch with the progress display and metrics around it: (stats, exit code). After
    a second signal, leaves the process at once (signals.exit_now) once the output is closed."""
    from plantid_cli.errors import Interrupted
    from plantid_cli.run.batch import count_in_background, run_batch

    try:
        if progress:
            progress.start()
            count_in_background(options, progress.set_total)
        return run_batch(
            settings,
            options,
            writer,
            bus=bus,
            confirm=confirm,
            on_record=outputs.chain(progress.record if progress else None),
            engine_hook=signals.attach,
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
    signals.exit_now()


def _shard(spec: str | None) -> tuple[int, int] | None:
    from plantid_cli.errors import UsageError
    from plantid_cli.inputs.walk import parse_shard

    if spec is None:
        return None
    try:
        return parse_shard(spec)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _confirm(images: int, cost: int) -> bool:
    import typer

    answer = typer.confirm(
        f"{images} images, {cost} not in the cache: this run may spend {cost} credits. Go on?",
        default=False,
        err=True,
    )
    return bool(answer)
