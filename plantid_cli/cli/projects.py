"""`plantid projects`: Pl@ntNet's floras, so nobody needs to know ids like `k-western-europe`."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from plantid_cli.cli.common import echo, load, run_guarded
from plantid_cli.cli.options import (
    Output,
    PlantidCommand,
    ProjectsFormat,
    data_format,
    shared_options,
)
from plantid_cli.cli.outfile import run_to

#: The columns of the table and the CSV, in order (the JSON objects hold the same keys).
COLUMNS = ("id", "title", "species", "description")

EXAMPLES = """
Examples:

  plantid projects

  plantid projects --lat 48.85 --lon 2.35

  plantid projects --lat 48.85 --lon 2.35 -f json | jq -r '.[].id'

  plantid identify leaf.jpg --provider plantnet --project k-western-europe
"""


def register(app: typer.Typer) -> None:
    app.command(
        "projects",
        cls=PlantidCommand,
        help="List Pl@ntNet's floras (the ids --project takes); costs no quota." + EXAMPLES,
        short_help="List Pl@ntNet's floras (the ids --project takes).",
    )(projects)


@shared_options
def projects(
    lat: Annotated[
        float | None, typer.Option("--lat", help="Only floras covering this latitude.")
    ] = None,
    lon: Annotated[
        float | None, typer.Option("--lon", help="Only floras covering this longitude.")
    ] = None,
    language: Annotated[
        str | None,
        typer.Option("--language", help="Language of titles (default: the language setting)."),
    ] = None,
    fmt: ProjectsFormat = None,
    output: Output = None,
) -> None:
    raise typer.Exit(run_guarded(run_to, output, _projects, lat, lon, language, fmt))


def _projects(lat: float | None, lon: float | None, language: str | None, fmt: str | None) -> int:
    fmt = data_format(fmt)
    # lazy: keeps run.lookups (guards) off every command's start-up (app imports all)
    from plantid_cli.run.lookups import check_position, plantnet_projects

    check_position(lat, lon)  # before the configuration is read or anything is sent

    found = plantnet_projects(load(), lat, lon, language)
    if fmt == "json":
        echo(json.dumps(found, indent=2, ensure_ascii=False))
    elif fmt == "csv":
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for project in found:
            writer.writerow({name: project.get(name) for name in COLUMNS})
        echo(buffer.getvalue(), nl=False)
    else:
        from rich.table import Table

        # lazy: Rich, only for a table (outputs/console.py)
        from plantid_cli.outputs.console import stdout_console
        from plantid_cli.outputs.table import shown  # markup and control characters as text

        where = f" at {lat:g}, {lon:g}" if lat is not None and lon is not None else ""
        table = Table(title=f"Pl@ntNet floras{where}")
        for column in COLUMNS:
            table.add_column(column)
        for project in found:
            cells = ("" if project.get(c) is None else shown(project.get(c)) for c in COLUMNS)
            table.add_row(*cells)
        stdout_console().print(table)
    return 0
