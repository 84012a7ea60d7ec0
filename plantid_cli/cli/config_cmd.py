"""`plantid config show|path`: the effective settings, keys redacted, and where each is from."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from plantid_cli.cli.common import echo, load, run_guarded
from plantid_cli.cli.options import (
    AsJson,
    DataFormat,
    Output,
    PlantidCommand,
    PlantidGroup,
    data_format,
    shared_options,
)
from plantid_cli.cli.outfile import run_to

app = typer.Typer(
    cls=PlantidGroup,
    help="Show the effective configuration and where each setting comes from.\n\n"
    "Examples:\n\n"
    "  plantid config show\n\n"
    "  plantid config show -f json | jq .sources.timeout\n\n"
    '  cp config.example.toml "$(plantid config path --create)"',
    no_args_is_help=True,
)


@app.command("show", cls=PlantidCommand)
@shared_options
def show(
    fmt: DataFormat = None,
    as_json: AsJson = False,
    output: Output = None,
) -> None:
    """Print every setting after flags > environment > file > defaults, keys redacted, and
    where each value comes from (environment PLANTID_..., config file, keys file, default).

    JSON: the settings by name, and `sources` with where each one comes from.

    Examples:

      plantid config show

      PLANTID_TIMEOUT=10 plantid config show -f json | jq .timeout
    """
    raise typer.Exit(run_guarded(run_to, output, _show, fmt, as_json))


def _show(fmt: str | None, as_json: bool) -> int:
    # lazy: keeps config off every command's start-up (app imports all)
    from plantid_cli.config import setting_sources

    shown = load().redacted()
    sources = setting_sources()
    if data_format(fmt, as_json) == "json":
        echo(json.dumps({**shown, "sources": sources}, indent=2))
        return 0
    # the sources line up, unless one long value (details) would push them all off the screen
    width = min(48, max(len(f"{name} = {json.dumps(value)}") for name, value in shown.items()))
    for name, value in shown.items():
        echo(f"{f'{name} = {json.dumps(value)}':<{width}}  # {sources[name]}")
    return 0


@app.command("path", cls=PlantidCommand)
@shared_options
def path(
    create: Annotated[
        bool,
        typer.Option("--create", help="Also create its folder (0700), so a copy into it works."),
    ] = False,
) -> None:
    """Print the config file location (PLANTID_CONFIG overrides it).

    Examples:

      plantid config path

      cp config.example.toml "$(plantid config path --create)"
    """
    raise typer.Exit(run_guarded(_path, create))


def _path(create: bool) -> int:
    # lazy: keeps config off every command's start-up (app imports all)
    from plantid_cli.config import config_file_path
    from plantid_cli.config_files import make_private_dir
    from plantid_cli.constants import CONFIG_ENV
    from plantid_cli.errors import ConfigError

    file = config_file_path()
    if create:
        if file.is_dir():  # `cp x "$(plantid config path --create)"` would copy into it
            raise ConfigError(f"{file} is a folder, not a config file ({CONFIG_ENV})")
        try:
            make_private_dir(file.parent)
        except OSError as exc:
            raise ConfigError(
                f"cannot create {file.parent}: {exc.strerror or exc} ({CONFIG_ENV})"
            ) from None
    echo(str(file))
    return 0
