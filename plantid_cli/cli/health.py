"""`plantid health`: Plant.id's health assessment of each photo (`POST /health_assessment`).

The same run as `plantid identify` (inputs, guards, cache, batch engine, budget, exit codes):
the options become one IdentifyOptions with `task="health"`, handed to identify_run. Only the
options that mean something to a health assessment are offered; Plant.id alone assesses health,
so there is no --provider. `--details` here names disease details (treatment, description...)."""

from typing import Annotated

import typer

from plantid_cli.cli.common import run_guarded
from plantid_cli.cli.identify_run import run_identify
from plantid_cli.cli.options import PlantidCommand, Quiet, RecordFormat, Yes, shared_options
from plantid_cli.cli.run_options import (
    Concurrency,
    GroupBy,
    Latitude,
    Longitude,
    MaxCredits,
    MaxSide,
    NoCache,
    NoLocation,
    Paths,
    Refresh,
    Shard,
    Timeout,
    setting_option,
)
from plantid_cli.constants import CREDITS_HEALTH, DEFAULT_HEALTH_DETAILS
from plantid_cli.run.options import IdentifyOptions

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


@shared_options
def health(
    paths: Paths,
    fmt: RecordFormat = D.format,
    top: Annotated[int | None, setting_option("top", "--top", help="Diseases per record")] = D.top,
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
    lat: Latitude = D.latitude,
    lon: Longitude = D.longitude,
    no_location: NoLocation = D.no_location,
    language: Annotated[
        str | None,
        setting_option(
            "language", "--language", help="Language of the disease names, e.g. en or de"
        ),
    ] = D.language,
    concurrency: Concurrency = D.concurrency,
    no_cache: NoCache = not D.use_cache,
    refresh: Refresh = D.refresh,
    max_credits: MaxCredits = D.max_credits,
    yes: Yes = D.yes,
    quiet: Quiet = D.quiet,
    timeout: Timeout = D.timeout,
    max_side: MaxSide = D.max_image_side,
    shard: Shard = None,
    group_by: GroupBy = D.group_by,
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

    raise typer.Exit(run_guarded(run_identify, build))
