"""`plantid health`: Plant.id's health assessment of each photo (`POST /health_assessment`).

The same run as `plantid identify` (inputs, guards, cache, batch engine, budget, exit codes):
the options become one IdentifyOptions with `task="health"`, handed to identify_run. Only the
options that mean something to a health assessment are offered; Plant.id alone assesses health,
so there is no --provider. `--details` here names disease details (treatment, description...)."""

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
from plantid_cli.constants import CREDITS_HEALTH, DEFAULT_HEALTH_DETAILS
from plantid_cli.run.options import GROUP_BY, IdentifyOptions

D = IdentifyOptions(task="health")  # the defaults

EXAMPLES = f"""
Each photo costs {CREDITS_HEALTH} credit (answers are cached: a photo is never paid for twice).

Examples:

  plantid health tomato-leaf.jpg

  plantid health greenhouse/ --format csv > health.csv

  plantid health rose.jpg --details treatment,description,cause --format json

  plantid health bench-3/ --max-credits 20 --top 1 --format ndjson | jq .diseases[0].name
"""


def register(app: typer.Typer) -> None:
    app.command(
        "health",
        cls=PlantidCommand,
        help="Assess the health of the plant in each photo (Plant.id)." + EXAMPLES,
        short_help="Assess the health of the plant in each photo.",
    )(health)


def _setting(name: str, flags: tuple[str, ...], help: str) -> typer.models.OptionInfo:
    return typer.Option(*flags, help=with_default(help, name), show_default=False)


def health(
    paths: Annotated[
        list[str],
        typer.Argument(help="Image files, folders (recursive), or - for a list on stdin."),
    ],
    fmt: RecordFormat = D.format,
    top: Annotated[int | None, _setting("top", ("--top",), "Diseases per record")] = D.top,
    details: Annotated[
        str | None,
        typer.Option(
            "--details",
            help="Comma list of disease details to ask for: local_name, common_names, "
            "description, treatment, cause, classification, url "
            f"(default: {','.join(DEFAULT_HEALTH_DETAILS)}).",
            show_default=False,
        ),
    ] = D.disease_details,
    lat: Annotated[
        float | None,
        typer.Option("--lat", help="Latitude to send instead of the photo's EXIF position."),
    ] = D.latitude,
    lon: Annotated[
        float | None,
        typer.Option("--lon", help="Longitude to send instead of the photo's EXIF position."),
    ] = D.longitude,
    no_location: Annotated[
        bool, typer.Option("--no-location", help="Send no position at all.")
    ] = D.no_location,
    language: Annotated[
        str | None,
        _setting("language", ("--language",), "Language of the disease names, e.g. en or de"),
    ] = D.language,
    concurrency: Annotated[
        int | None, _setting("concurrency", ("--concurrency", "-j"), "Requests in flight")
    ] = D.concurrency,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Neither read nor write the result cache.")
    ] = not D.use_cache,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Ask the service again and store the new answer.")
    ] = D.refresh,
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
    shard: Annotated[
        str | None,
        typer.Option("--shard", metavar="I/N", help="Take only share I (0-based) of N inputs."),
    ] = None,
    group_by: Annotated[
        Literal[GROUP_BY] | None,
        typer.Option(
            "--group-by", help="folder: each folder's photos (1-5) are one plant, one request."
        ),
    ] = D.group_by,
    verbose: Verbose = 0,
    debug: Debug = False,
    log_format: LogFormat = None,
) -> None:
    def build() -> IdentifyOptions:  # inside the error boundary: a bad combination is exit 2
        return IdentifyOptions(
            paths=tuple(paths),
            task="health",
            format=fmt,
            top=top,
            disease_details=details,
            latitude=lat,
            longitude=lon,
            no_location=no_location,
            language=language,
            concurrency=concurrency,
            use_cache=not no_cache,
            refresh=refresh,
            max_credits=max_credits,
            yes=yes,
            quiet=quiet,
            timeout=timeout,
            max_image_side=max_side,
            shard=shard,
            group_by=group_by,
        )

    raise typer.Exit(
        run_guarded(run_identify, build, verbose=verbose, debug=debug, log_format=log_format)
    )
