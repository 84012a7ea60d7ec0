"""`plantid identify`: parse flags, call batch.run_batch, render progress and the summary."""

from __future__ import annotations

import signal
import sys
from typing import Any

import typer

from .common import json_logs, load, print_note, run_guarded, setup_logging

EXAMPLES = """
Examples:

  plantid identify photo.jpg

  plantid identify photos/ --format csv > identifications.csv

  find . -name '*.jpg' | plantid identify - --format ndjson | jq .best.scientific_name

  plantid identify specimen.heic --lat -33.87 --lon 151.21 --top 5

  plantid identify herbarium/ --provider auto --group-by folder --organ leaf --format csv
"""


def register(app: typer.Typer) -> None:
    app.command(
        "identify",
        help="Identify the plant in each photo." + EXAMPLES,
        short_help="Identify the plant in each photo.",
    )(identify)


def identify(
    paths: list[str] = typer.Argument(
        ..., help="Image files, folders (recursive), or - for a list on stdin."
    ),
    fmt: str = typer.Option(
        None,
        "--format",
        "-f",
        help="table, json, ndjson or csv (default: table on a terminal, ndjson otherwise).",
    ),
    top: int = typer.Option(None, "--top", help="Suggestions per record [default 3]."),
    lat: float = typer.Option(
        None, "--lat", help="Latitude to send instead of the photo's EXIF position."
    ),
    lon: float = typer.Option(
        None, "--lon", help="Longitude to send instead of the photo's EXIF position."
    ),
    no_location: bool = typer.Option(
        False, "--no-location", help="Send no position at all (rare plants)."
    ),
    language: str = typer.Option(
        None, "--language", help="Language(s) of common names, e.g. en or en,de."
    ),
    details: str = typer.Option(
        None, "--details", help="Comma list of Plant.id details to ask for."
    ),
    concurrency: int = typer.Option(
        None, "--concurrency", "-j", help="Requests in flight [default 4]."
    ),
    no_cache: bool = typer.Option(
        False, "--no-cache", help="Neither read nor write the result cache."
    ),
    refresh: bool = typer.Option(
        False, "--refresh", help="Ask the service again and store the new answer."
    ),
    max_credits: int = typer.Option(
        None, "--max-credits", help="Refuse to start a run that would spend more."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before a large run."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar and no summary line."),
    timeout: float = typer.Option(None, "--timeout", help="Seconds per HTTP request."),
    max_side: int = typer.Option(
        None, "--max-side", help="Long side of the upload in pixels [default 1500]."
    ),
    provider: str = typer.Option(None, "--provider", help="plantid, plantnet, auto or both."),
    organ: str = typer.Option(
        None, "--organ", help="Pl@ntNet organ: leaf, flower, fruit, bark or auto."
    ),
    project: str = typer.Option(None, "--project", help="Pl@ntNet project (flora) [default all]."),
    shard: str = typer.Option(
        None,
        "--shard",
        help="I/N: take only share I (0-based) of N of the inputs, split by a hash of each "
        "path below its folder argument; N workers on the same folder cover it exactly once.",
    ),
    group_by: str = typer.Option(
        None,
        "--group-by",
        help="folder: each folder's photos (1-5) are one specimen, one request, one record.",
    ),
    confidence_threshold: float = typer.Option(
        None, "--confidence-threshold", help="Below it, CSV marks cf. [default 0.5]."
    ),
    report: str = typer.Option(
        None, "--report", help="Also write an HTML report of the run to this file."
    ),
    write_xmp: bool = typer.Option(
        False, "--write-xmp", help="Write an XMP sidecar beside each identified photo."
    ),
    xmp_name: str = typer.Option(
        "short", "--xmp-name", help="Sidecar name: short (photo.xmp) or full (photo.jpg.xmp)."
    ),
    verbose: int = typer.Option(
        0, "--verbose", "-v", count=True, help="Log guard decisions on stderr."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks (keys still redacted)."),
    log_format: str = typer.Option(None, "--log-format", help="text or json log lines on stderr."),
    metrics_file: str = typer.Option(
        None,
        "--metrics-file",
        help="Write the run's Prometheus metrics to this file (every 5 s and at the end).",
    ),
    pushgateway: str = typer.Option(
        None, "--pushgateway", help="Push the run's metrics to this Prometheus Pushgateway URL."
    ),
    job_name: str = typer.Option(
        None, "--job-name", help="Pushgateway grouping key: NAME or label=value[,label=value]."
    ),
) -> None:
    flags = {
        "top": top,
        "language": language,
        "details": details,
        "concurrency": concurrency,
        "timeout": timeout,
        "max_image_side": max_side,
        "provider": provider,
        "organ": organ,
        "project": project,
        "confidence_threshold": confidence_threshold,
        "metrics_file": metrics_file,
    }
    raise typer.Exit(
        run_guarded(
            _identify,
            flags,
            paths=paths,
            fmt=fmt,
            lat=lat,
            lon=lon,
            no_location=no_location,
            group_by=group_by,
            shard=shard,
            no_cache=no_cache,
            refresh=refresh,
            max_credits=max_credits,
            yes=yes,
            quiet=quiet,
            verbose=verbose,
            debug=debug,
            log_format=log_format,
            pushgateway=pushgateway,
            job_name=job_name,
            report=report,
            write_xmp=write_xmp,
            xmp_name=xmp_name,
        )
    )


def _identify(flags: dict[str, Any], **opts: Any) -> int:
    from ..batch import (
        BatchOptions,
        count_in_background,
        run_batch,
        summary_fields,
        summary_line,
    )
    from ..errors import UsageError
    from ..events import EventBus
    from ..output import FORMATS, make_writer

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
    )
    if options.group_by not in (None, "folder"):
        raise UsageError(f"--group-by must be folder, not {options.group_by!r}")
    from .report_cmd import RunOutputs

    outputs = RunOutputs(
        opts["report"], opts["write_xmp"], opts["xmp_name"], settings.confidence_threshold
    )
    outputs.check()  # before any credit is spent
    interactive = sys.stdin.isatty() and sys.stderr.isatty() and "-" not in opts["paths"]
    confirm = None if (opts["yes"] or not interactive) else _confirm
    observer = None
    if settings.metrics_file or opts["pushgateway"] or opts["job_name"]:
        from ..metrics import make_observer

        observer = make_observer(
            settings, pushgateway=opts["pushgateway"], job_name=opts["job_name"]
        )
    bus = EventBus()
    progress = None
    if sys.stderr.isatty() and not opts["quiet"] and not json_logs():
        from .progress import ProgressDisplay

        progress = ProgressDisplay(bus)
    writer = make_writer(fmt, sys.stdout, settings.confidence_threshold)
    engine_ref: list[Any] = []
    previous = signal.getsignal(signal.SIGINT)

    def on_sigint(signum: int, frame: Any) -> None:
        # First Ctrl-C: stop taking new work, let in-flight answers land and be stored.
        signal.signal(signal.SIGINT, previous)
        if engine_ref:
            engine_ref[0].stop()
            print_note("stopping: waiting for answers in flight (Ctrl-C again to abort)")

    signal.signal(signal.SIGINT, on_sigint)
    try:
        if progress:
            progress.start()
            count_in_background(options, progress.set_total)
        stats, code = run_batch(
            settings,
            options,
            writer,
            bus=bus,
            confirm=confirm,
            on_record=outputs.chain(progress.record if progress else None),
            engine_hook=engine_ref.append,
            observer=observer,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
        if observer is not None:
            observer.close()
        if progress:
            progress.stop()
    for folder in options.empty_folders:
        print_note(f"no images found in {folder}")
    interrupted = bool(engine_ref) and engine_ref[0]._stop.is_set()
    if not opts["quiet"]:
        print_note(
            summary_line(stats) + (" (interrupted)" if interrupted else ""),
            event="run.summary",
            interrupted=interrupted,
            **summary_fields(stats),
        )
    outputs.finish(stats.credits_used, opts["quiet"])
    code = code or outputs.exit_code()
    return 130 if interrupted else code


def _shard(spec: str | None) -> tuple[int, int] | None:
    from ..errors import UsageError
    from ..inputs import parse_shard

    if spec is None:
        return None
    try:
        return parse_shard(spec)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _confirm(images: int, cost: int) -> bool:
    answer = typer.confirm(
        f"{images} images, {cost} not in the cache: this run may spend {cost} credits. Go on?",
        default=False,
        err=True,
    )
    return bool(answer)
