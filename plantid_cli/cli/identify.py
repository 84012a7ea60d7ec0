"""`plantid identify`: parse flags into one IdentifyOptions, hand it to identify_run, exit.

Every default below is read from run/options.IdentifyOptions (the only defaults of a run) or,
for an option that overrides a setting, shown from config.Settings; a value with a fixed set
is a Literal of the tuple that owns it (cli/options.py)."""

from typing import Annotated, Literal

import typer

from plantid_cli.cli.common import run_guarded
from plantid_cli.cli.identify_run import run_identify
from plantid_cli.cli.options import (
    Debug,
    LogFormat,
    PlantidCommand,
    Quiet,
    RecordFormat,
    Verbose,
    Yes,
    with_default,
)
from plantid_cli.constants import NAME_STYLES, ORGANS
from plantid_cli.constants import PROVIDER_MODES as MODES
from plantid_cli.run.options import GROUP_BY, IdentifyOptions

D = IdentifyOptions()  # the defaults


def _setting(name: str, flags: tuple[str, ...], help: str) -> typer.models.OptionInfo:
    """An option that overrides a setting: unset (None) unless given; help shows the default."""
    return typer.Option(*flags, help=with_default(help, name), show_default=False)


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
        cls=PlantidCommand,
        help="Identify the plant in each photo." + EXAMPLES,
        short_help="Identify the plant in each photo.",
    )(identify)


def identify(
    paths: Annotated[
        list[str],
        typer.Argument(help="Image files, folders (recursive), or - for a list on stdin."),
    ],
    fmt: RecordFormat = D.format,
    top: Annotated[int | None, _setting("top", ("--top",), "Suggestions per record")] = D.top,
    lat: Annotated[
        float | None,
        typer.Option("--lat", help="Latitude to send instead of the photo's EXIF position."),
    ] = D.latitude,
    lon: Annotated[
        float | None,
        typer.Option("--lon", help="Longitude to send instead of the photo's EXIF position."),
    ] = D.longitude,
    no_location: Annotated[
        bool, typer.Option("--no-location", help="Send no position at all (rare plants).")
    ] = D.no_location,
    language: Annotated[
        str | None,
        _setting("language", ("--language",), "Language(s) of common names, e.g. en or en,de"),
    ] = D.language,
    details: Annotated[
        str | None,
        _setting("details", ("--details",), "Comma list of Plant.id details to ask for"),
    ] = D.details,
    concurrency: Annotated[
        int | None, _setting("concurrency", ("--concurrency", "-j"), "Requests in flight")
    ] = D.concurrency,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Neither read nor write the result cache.")
    ] = not D.use_cache,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Ask the service again and store the new answer.")
    ] = D.refresh,
    rehash: Annotated[
        bool,
        typer.Option(
            "--rehash",
            help="Read and hash every photo again instead of trusting the hash index.",
        ),
    ] = D.rehash,
    max_credits: Annotated[
        int | None,
        typer.Option("--max-credits", help="Refuse to start a run that would spend more."),
    ] = D.max_credits,
    yes: Yes = D.yes,
    quiet: Quiet = D.quiet,
    timeout: Annotated[
        float | None, _setting("timeout", ("--timeout",), "Seconds per HTTP request")
    ] = D.timeout,
    max_side: Annotated[
        int | None,
        _setting("max_image_side", ("--max-side",), "Long side of the upload in pixels"),
    ] = D.max_image_side,
    provider: Annotated[
        Literal[MODES] | None,
        _setting("provider", ("--provider",), "The service(s) to ask"),
    ] = D.provider,
    organ: Annotated[
        Literal[ORGANS] | None,
        _setting("organ", ("--organ",), "Pl@ntNet organ shown in the photos"),
    ] = D.organ,
    project: Annotated[
        str | None,
        _setting("project", ("--project",), "Pl@ntNet project: the flora to search"),
    ] = D.project,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            metavar="I/N",
            help="Take only share I (0-based) of N of the inputs, split by a hash of each "
            "path below its folder argument; N workers on the same folder cover it exactly once.",
        ),
    ] = None,
    group_by: Annotated[
        Literal[GROUP_BY] | None,
        typer.Option(
            "--group-by",
            help="folder: each folder's photos (1-5) are one specimen, one request, one record.",
        ),
    ] = D.group_by,
    confidence_threshold: Annotated[
        float | None,
        _setting(
            "confidence_threshold",
            ("--confidence-threshold",),
            "Below it, CSV and XMP mark the name cf",
        ),
    ] = D.confidence_threshold,
    report: Annotated[
        str | None,
        typer.Option(
            "--report", metavar="FILE", help="Also write an HTML report of the run to this file."
        ),
    ] = D.report,
    write_xmp: Annotated[
        bool,
        typer.Option("--write-xmp", help="Write an XMP sidecar beside each identified photo."),
    ] = D.write_xmp,
    xmp_name: Annotated[
        Literal[NAME_STYLES],
        typer.Option("--xmp-name", help="Sidecar name: short (photo.xmp) or full (photo.jpg.xmp)."),
    ] = D.xmp_name,
    verbose: Verbose = 0,
    debug: Debug = False,
    log_format: LogFormat = None,
    metrics_file: Annotated[
        str | None,
        _setting(
            "metrics_file",
            ("--metrics-file",),
            "Write the run's Prometheus metrics to this file (every 5 s and at the end)",
        ),
    ] = D.metrics_file,
    pushgateway: Annotated[
        str | None,
        typer.Option(
            "--pushgateway",
            metavar="URL",
            help="Push the run's metrics to this Prometheus Pushgateway URL.",
        ),
    ] = D.pushgateway,
    job_name: Annotated[
        str | None,
        typer.Option(
            "--job-name", help="Pushgateway grouping key: NAME or label=value[,label=value]."
        ),
    ] = D.job_name,
) -> None:
    def build() -> IdentifyOptions:  # inside the error boundary: a bad combination is exit 2
        return IdentifyOptions(
            paths=tuple(paths),
            format=fmt,
            top=top,
            latitude=lat,
            longitude=lon,
            no_location=no_location,
            language=language,
            details=details,
            concurrency=concurrency,
            use_cache=not no_cache,
            refresh=refresh,
            rehash=rehash,
            max_credits=max_credits,
            yes=yes,
            quiet=quiet,
            timeout=timeout,
            max_image_side=max_side,
            provider=provider,
            organ=organ,
            project=project,
            shard=shard,
            group_by=group_by,
            confidence_threshold=confidence_threshold,
            report=report,
            write_xmp=write_xmp,
            xmp_name=xmp_name,
            metrics_file=metrics_file,
            pushgateway=pushgateway,
            job_name=job_name,
        )

    raise typer.Exit(
        run_guarded(run_identify, build, verbose=verbose, debug=debug, log_format=log_format)
    )
