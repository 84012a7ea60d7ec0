"""`plantid config show|path`: the effective settings, keys redacted."""

from __future__ import annotations

import json

import typer

from plantid_cli.cli.common import echo, echo_mapping, load, run_guarded
from plantid_cli.cli.options import (
    AsJson,
    Debug,
    LogFormat,
    PlantidCommand,
    PlantidGroup,
    Verbose,
    use_shared,
)

app = typer.Typer(cls=PlantidGroup, help="Show the effective configuration.", no_args_is_help=True)


@app.command("show", cls=PlantidCommand)
def show(
    as_json: AsJson = False,
    verbose: Verbose = 0,
    debug: Debug = False,
    log_format: LogFormat = None,
) -> None:
    """Print every setting after flags > environment > file > defaults, keys redacted.

    Example: PLANTID_TIMEOUT=10 plantid config show --json | jq .timeout
    """
    use_shared(verbose, debug, log_format)
    raise typer.Exit(run_guarded(_show, as_json))


def _show(as_json: bool) -> int:
    echo_mapping(load().redacted(), as_json, sep=" = ", render=json.dumps)
    return 0


@app.command("path", cls=PlantidCommand)
def path() -> None:
    """Print the config file location (PLANTID_CONFIG overrides it).

    Example: cp config.example.toml "$(plantid config path)"
    """
    # lazy: keeps config off every command's start-up (app imports all)
    from plantid_cli.config import config_file_path

    echo(str(config_file_path()))
