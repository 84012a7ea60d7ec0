"""The root Typer app: global flags and the command groups."""

from __future__ import annotations

import typer

from plantid_cli import __version__
from plantid_cli.cli import (
    cache_cmd,
    config_cmd,
    demo,
    herbarium_cmds,
    identify,
    keys,
    report_cmd,
    sandbox_cmd,
    status,
    usage,
)
from plantid_cli.cli.options import Debug, LogFormat, PlantidGroup, Verbose, use_shared

app = typer.Typer(
    name="plantid",
    help="Identify plant photos with Plant.id (and Pl@ntNet): cached, rate-limited, "
    "circuit-broken, safe to run in parallel.\n\nStart with: plantid identify photo.jpg",
    cls=PlantidGroup,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"plantid {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
    verbose: Verbose = 0,
    debug: Debug = False,
    log_format: LogFormat = None,
) -> None:
    use_shared(verbose, debug, log_format)


identify.register(app)
status.register(app)
usage.register(app)
sandbox_cmd.register(app)
demo.register(app)
report_cmd.register(app)
herbarium_cmds.register(app)
app.add_typer(cache_cmd.app, name="cache")
app.add_typer(keys.app, name="keys")
app.add_typer(config_cmd.app, name="config")
app.add_typer(status.breaker_app, name="breaker")
