"""The root Typer app: global flags and the commands, each imported only when it is asked for.

Why lazily: building a Typer command walks every parameter of its function, and the command
modules import their options; doing that for all commands on every start-up cost more than
Typer's own import (issue 13, start-up). A command line that names a command gets the root
and that command only; one that names none (help, a typo to suggest for, completion) gets all.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence

import typer

from plantid_cli import __version__
from plantid_cli.cli.options import PlantidGroup, shared_options

#: Every command of the root: name -> (module in plantid_cli.cli, attribute). The attribute
#: `register` adds the command(s) to the root; any other names a Typer group added under it.
COMMANDS: dict[str, tuple[str, str]] = {
    "identify": ("identify", "register"),
    "health": ("health", "register"),
    "search": ("kb", "register"),
    "about": ("kb", "register"),
    "status": ("status", "register"),
    "usage": ("usage", "register"),
    "projects": ("projects", "register"),
    "sandbox": ("sandbox_cmd", "register"),
    "demo": ("demo", "register"),
    "report": ("report_cmd", "register"),
    "tag": ("report_cmd", "register"),
    "refetch": ("refetch", "register"),
    "export": ("herbarium_cmds", "register"),
    "review": ("herbarium_cmds", "register"),
    "checklist": ("herbarium_cmds", "register"),
    "cache": ("cache_cmd", "app"),
    "keys": ("keys", "app"),
    "config": ("config_cmd", "app"),
    "breaker": ("status", "breaker_app"),
}
#: Root options that take a value (the next argument is not a command name).
_VALUED = ("--log-format",)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"plantid {__version__}")
        raise typer.Exit()


def _root() -> typer.Typer:
    app = typer.Typer(
        name="plantid",
        help="Identify plant photos with Plant.id (and Pl@ntNet): cached, rate-limited, "
        "circuit-broken, safe to run in parallel.\n\nStart with: plantid identify photo.jpg",
        cls=PlantidGroup,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=True,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    @shared_options  # the root takes them too: `plantid --debug status`
    def root(
        version: bool = typer.Option(
            False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ) -> None:
        pass

    return app


def named_command(argv: Sequence[str]) -> str | None:
    """The command a command line (without the program name) names, if any."""
    args = iter(argv)
    for arg in args:
        if arg in _VALUED:
            next(args, None)
        elif arg == "--":
            return next(args, None)
        elif not arg.startswith("-"):
            return arg
    return None


def build_app(argv: Sequence[str] | None = None) -> typer.Typer:
    """The root with what `argv` needs: the command it names, none for a bare `--version`,
    and every command otherwise (and always with `argv` None)."""
    app = _root()
    if argv is None or any(name.endswith("_COMPLETE") for name in os.environ):
        wanted = list(COMMANDS)
    else:
        name = named_command(argv)
        if name in COMMANDS:
            wanted = [name]
        elif name is None and "--version" in argv:
            wanted = []
        else:
            wanted = list(COMMANDS)
    done: set[tuple[str, str]] = set()
    for name in wanted:
        module_name, attribute = where = COMMANDS[name]
        if where in done:
            continue
        done.add(where)
        module = importlib.import_module(f"plantid_cli.cli.{module_name}")
        member = getattr(module, attribute)
        if attribute == "register":
            member(app)
        else:
            app.add_typer(member, name=name)
    return app
