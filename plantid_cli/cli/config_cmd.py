"""`plantid config show|path`: the effective settings, keys redacted."""

from __future__ import annotations

import json

import typer

from plantid_cli.cli.common import echo, echo_mapping, load, run_guarded

app = typer.Typer(help="Show the effective configuration.", no_args_is_help=True)


@app.command("show")
def show(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of TOML-like lines."),
) -> None:
    """Print every setting after flags > environment > file > defaults, keys redacted.

    Example: PLANTID_TIMEOUT=10 plantid config show --json | jq .timeout
    """
    raise typer.Exit(run_guarded(_show, as_json))


def _show(as_json: bool) -> int:
    echo_mapping(load().redacted(), as_json, sep=" = ", render=json.dumps)
    return 0


@app.command("path")
def path() -> None:
    """Print the config file location (PLANTID_CONFIG overrides it).

    Example: cp config.example.toml "$(plantid config path)"
    """
    from plantid_cli.config import config_file_path

    echo(str(config_file_path()))
