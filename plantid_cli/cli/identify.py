"""`plantid identify`: parse flags, call batch.run_batch, render progress and the summary."""

from __future__ import annotations

import typer

from plantid_cli.cli.common import run_guarded
from plantid_cli.cli.identify_run import run_identify

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
    top: int = typer.Option(None, "--top", help="Suggestions per record (default: 3)."),
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
        None, "--concurrency", "-j", help="Requests in flight (default: 4)."
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
        None, "--max-side", help="Long side of the upload in pixels (default: 1500)."
    ),
    provider: str = typer.Option(None, "--provider", help="plantid, plantnet, auto or both."),
    organ: str = typer.Option(
        None, "--organ", help="Pl@ntNet organ: leaf, flower, fruit, bark or auto."
    ),
    project: str = typer.Option(
        None, "--project", help="Pl@ntNet project: the flora to search (default: all)."
    ),
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
        None, "--confidence-threshold", help="Below it, CSV marks cf. (default: 0.5)."
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
            run_identify,
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
