"""`plantid identify`: parse flags into one IdentifyOptions, hand it to identify_run, exit.

Every default below is read from run/options.IdentifyOptions (the only defaults of a run) or,
for an option that overrides a setting, shown from config.Settings; a value with a fixed set
is a Literal of the tuple that owns it (cli/options.py)."""

from typing import Annotated, Literal

import typer

from plantid_cli.cli.common import run_guarded
from plantid_cli.cli.identify_args import options_from_args
from plantid_cli.cli.identify_run import run_identify
from plantid_cli.cli.options import PlantidCommand, Quiet, RecordFormat, Yes, shared_options
from plantid_cli.cli.run_options import (
    Concurrency,
    Details,
    GroupBy,
    Languages,
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
from plantid_cli.constants import CLASSIFICATION_LEVELS, DEFAULT_HEALTH_DETAILS, NAME_STYLES, ORGANS
from plantid_cli.constants import PROVIDER_MODES as MODES
from plantid_cli.run.options import IdentifyOptions

D = IdentifyOptions()  # the defaults


EXAMPLES = """
Examples:

  plantid identify photo.jpg

  plantid identify photos/ --format csv > identifications.csv

  find . -name '*.jpg' | plantid identify - | jq -r '.best.scientific_name // empty'

  find . -name '*.jpg' -print0 | plantid identify -0 - -o results.ndjson

  plantid identify specimen.heic --lat -33.87 --lon 151.21 --top 5

  plantid identify herbarium/ --provider auto --group-by folder --organ leaf --format csv

  plantid identify leaf.jpg --provider plantnet --project k-western-europe --top 10 --related-images

  plantid identify rose.jpg --classification-level all --similar-images --language en,de

  plantid identify basil.jpg --details description,edible_parts,watering,toxicity

  plantid identify tomato.jpg --health --disease-details treatment,description

  plantid identify scans/ --group-by folder --catalog-number 'LE[0-9]+' --dry-run
"""


def register(app: typer.Typer) -> None:
    app.command(
        "identify",
        cls=PlantidCommand,
        help="Identify the plant in each photo.\n" + EXAMPLES,
        short_help="Identify the plant in each photo.",
    )(identify)


@shared_options
def identify(
    paths: Paths,
    fmt: RecordFormat = D.format,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Write the records to FILE instead of stdout: in place only once the run ends"
            " (a failure or SIGTERM leaves FILE as it was); its suffix (.csv, .json, .ndjson)"
            " picks the format when --format is not given.",
            show_default=False,
        ),
    ] = D.output,
    null: Annotated[
        bool,
        typer.Option(
            "--null", "-0", help="With -: paths on stdin end with NUL (find -print0), not newline."
        ),
    ] = D.null,
    top: Annotated[
        int | None, setting_option("top", "--top", help="Suggestions per record")
    ] = D.top,
    lat: Latitude = D.latitude,
    lon: Longitude = D.longitude,
    no_location: NoLocation = D.no_location,
    related_images: Annotated[
        bool,
        typer.Option(
            "--related-images",
            help="Pl@ntNet: each suggestion's reference photos (URLs) in the record.",
        ),
    ] = D.related_images,
    language: Languages = D.language,
    details: Details = D.details,
    classification_level: Annotated[
        Literal[CLASSIFICATION_LEVELS],
        typer.Option(
            "--classification-level",
            help="Plant.id: species, genus, or all (infraspecific taxa and cultivars too, "
            "each with its rank).",
        ),
    ] = D.classification_level,
    similar_images: Annotated[
        bool | None,
        setting_option(
            "similar_images",
            "--similar-images",
            help="Plant.id: each suggestion's similar images (url, similarity, licence)",
        ),
    ] = D.similar_images,
    custom_id: Annotated[
        int | None,
        typer.Option(
            "--custom-id", help="Plant.id: your number for this identification (one photo)."
        ),
    ] = D.custom_id,
    health: Annotated[
        bool,
        typer.Option(
            "--health",
            help="Also assess the plant's health (Plant.id health: all; 2 credits a photo): "
            "adds a health object to each record.",
        ),
    ] = D.health,
    disease_details: Annotated[
        str | None,
        typer.Option(
            "--disease-details",
            help="With --health: comma list of disease details, e.g. treatment,description "
            f"(default: {','.join(DEFAULT_HEALTH_DETAILS)}).",
            show_default=False,
        ),
    ] = D.disease_details,
    concurrency: Concurrency = D.concurrency,
    no_cache: NoCache = not D.use_cache,
    refresh: Refresh = D.refresh,
    rehash: Annotated[
        bool,
        typer.Option(
            "--rehash",
            help="Read and hash every photo again instead of trusting the hash index.",
        ),
    ] = D.rehash,
    max_credits: MaxCredits = D.max_credits,
    yes: Yes = D.yes,
    quiet: Quiet = D.quiet,
    timeout: Timeout = D.timeout,
    max_side: MaxSide = D.max_image_side,
    provider: Annotated[
        Literal[MODES] | None,
        setting_option("provider", "--provider", help="The service(s) to ask"),
    ] = D.provider,
    organ: Annotated[
        Literal[ORGANS] | None,
        setting_option("organ", "--organ", help="Pl@ntNet organ shown in the photos"),
    ] = D.organ,
    project: Annotated[
        str | None,
        setting_option("project", "--project", help="Pl@ntNet project: the flora to search"),
    ] = D.project,
    shard: Shard = None,
    group_by: GroupBy = D.group_by,
    ext: Annotated[
        list[str] | None,
        typer.Option(
            "--ext",
            metavar="EXT",
            help="Also pick up files ending so in folders (repeat or comma list: --ext jp2).",
        ),
    ] = None,
    catalog_number: Annotated[
        str | None,
        typer.Option(
            "--catalog-number",
            metavar="REGEX",
            help="Catalogue number: what REGEX (group 1 if any) finds in the folder or file "
            "name (default with --group-by folder: the folder's name).",
        ),
    ] = D.catalog_number,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Walk, hash and look up the cache; print what would be sent and its cost. "
            "Sends nothing.",
        ),
    ] = D.dry_run,
    confidence_threshold: Annotated[
        float | None,
        setting_option(
            "confidence_threshold",
            "--confidence-threshold",
            help="Below it, CSV and XMP mark the name cf",
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
    metrics_file: Annotated[
        str | None,
        setting_option(
            "metrics_file",
            "--metrics-file",
            help="Write the run's Prometheus metrics to this file (every 5 s and at the end)",
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
    args = dict(locals())  # every parameter above, by name: one step to the options

    def build() -> IdentifyOptions:  # inside the error boundary: a bad combination is exit 2
        return options_from_args(args)

    raise typer.Exit(run_guarded(run_identify, build))
