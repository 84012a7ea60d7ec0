"""`plantid refetch RESULTS`: re-read Plant.id identifications by their access token, free.

The logic is run/refetch.py; this module parses flags, picks the format, installs the stop
signals and prints the summary line."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from plantid_cli.cli.common import load, print_note, run_guarded, setup_logging
from plantid_cli.cli.options import PlantidCommand, Quiet, RecordFormat, Results, shared_options
from plantid_cli.cli.run_options import Details, Languages

HELP = """Re-read Plant.id identifications by their access token and write updated records.

`GET /identification/{access_token}` is free: no photo is sent and no credit is spent (the
summary says `0 credits used`); the calls still go through the breaker and the rate limit.
Each record keeps its photo's facts (path, sha256, position, date, identified_at) and gets
the service's answer in this run's languages and details, with `refetched_at`. Records with
nothing to re-read (Pl@ntNet's, errors) and records whose re-read fails are written unchanged,
so the output holds every input record. Plant.id keeps identifications for 6 months.

Examples:

  plantid refetch results.ndjson --language de > results-de.ndjson

  plantid refetch results.ndjson --language en,de --details description,edible_parts,toxicity

  plantid refetch results.ndjson -f csv > results.csv
"""


def register(app: typer.Typer) -> None:
    app.command(
        "refetch",
        cls=PlantidCommand,
        help=HELP,
        short_help="Re-read Plant.id identifications for free (other languages, details).",
    )(refetch)


@shared_options
def refetch(
    results: Results,
    fmt: RecordFormat = None,
    language: Languages = None,
    details: Details = None,
    top: Annotated[
        int | None,
        typer.Option("--top", help="Suggestions per record (default: as many as it had)."),
    ] = None,
    quiet: Quiet = False,
) -> None:
    raise typer.Exit(
        run_guarded(_refetch, results, fmt, {"language": language, "details": details}, top, quiet)
    )


def _refetch(
    results: str, fmt: str | None, flags: dict[str, str | None], top: int | None, quiet: bool
) -> int:
    # lazy: keeps run.refetch (httpx, the guards) and the writers off every command's start-up
    from plantid_cli.cli.signals import StopSignals
    from plantid_cli.errors import UsageError
    from plantid_cli.outputs.readback import read_records
    from plantid_cli.outputs.writers import make_writer
    from plantid_cli.run.refetch import refetch_records

    setup_logging()
    if top is not None and top < 1:
        raise UsageError("--top must be 1 or more")
    settings = load({name: value for name, value in flags.items() if value is not None})
    records = read_records(results)
    writer = make_writer(
        fmt or ("table" if sys.stdout is not None and sys.stdout.isatty() else "ndjson"),
        sys.stdout,
        settings.confidence_threshold,
    )
    with StopSignals() as signals:
        result = refetch_records(settings, records, writer, top=top, stop=signals.stop_event)
        if not quiet:
            interrupted = " (interrupted)" if result.interrupted else ""
            print_note(result.summary() + interrupted, event="refetch.summary")
        if result.interrupted:
            return signals.exit_code
    return result.exit_code
