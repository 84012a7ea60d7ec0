"""Options shared by several commands, declared once (as sqlite-utils' `output_options` does),
and the command classes that make help say what a value is.

Why: `--verbose/--debug/--log-format` and the format option were declared per command and
drifted; values with a fixed set were checked by hand, so help could not show them and
completion could not offer them. Here each shared option is an `Annotated` alias; a fixed set
of values is a `Literal` built from the tuple that owns it (never written twice), so Typer
shows the choices, offers them to completion and refuses anything else with Click's message
(exit 2). `cli/fastparams.py` coerces these choices without pydantic.

`PlantidCommand`/`PlantidGroup` keep help free of internal type names: flags show no
`<bool>`, arguments show `PATHS...` in the usage line (not `{paths}`) and no `<list[str]>`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from plantid_cli.cli.flag_words import flag_given_a_value
from plantid_cli.constants import (
    DATA_FORMATS,
    LOG_FORMAT_ENV,
    LOG_FORMATS,
    PROJECTS_FORMATS,
    STATUS_FORMATS,
    USAGE_FORMATS,
)
from plantid_cli.constants import OUTPUT_FORMATS as FORMATS

# ----- shared by every command (the root accepts them too) -----
Verbose = Annotated[
    int, typer.Option("--verbose", "-v", count=True, help="Log guard decisions on stderr.")
]
Debug = Annotated[bool, typer.Option("--debug", help="Show tracebacks (keys still redacted).")]
LogFormat = Annotated[
    Literal[LOG_FORMATS] | None,
    typer.Option(
        "--log-format",
        help=f"Log lines on stderr as text or JSON objects (default: {LOG_FORMATS[0]}, or"
        f" {LOG_FORMAT_ENV}).",
        show_default=False,
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no summary line.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before going on.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON (the same as --format json).")]
#: `-o/--output FILE` of every command that prints data (cli/outfile.py: complete or absent).
Output = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        metavar="FILE",
        help="Write the data to FILE instead of stdout: in place only once complete, never"
        " half-written (a failure or SIGTERM leaves FILE as it was).",
        show_default=False,
    ),
]


def use_shared(verbose: int, debug: bool, log_format: str | None) -> None:
    """A command's own --verbose/--debug/--log-format: as if given before the command name
    (`plantid --debug status` and `plantid status --debug` are the same)."""
    # lazy: cli.common sets up logging (logging, json, errors): `--version` needs none of it
    from plantid_cli.cli.common import set_global

    set_global(verbose=verbose, debug=debug, log_format=log_format)


Command = TypeVar("Command", bound=Callable[..., Any])
#: What `shared_options` adds to a command: (name, alias, default).
_SHARED: tuple[tuple[str, Any, Any], ...] = (
    ("verbose", Verbose, 0),
    ("debug", Debug, False),
    ("log_format", LogFormat, None),
)


def shared_options(command: Command) -> Command:
    """`--verbose/--debug/--log-format` on `command`, declared here only (as sqlite-utils'
    `@output_options` adds its options): the parser sees them as the command's last options,
    and they are taken out of the call and applied with `use_shared` before the body runs,
    so a body reads them from cli/common (`setup_logging()`, `debug_enabled()`).

    Why a decorator: each command repeated the same three parameters and the same call, and
    one that forgot the call ignored `--debug` after its name."""
    signature = inspect.signature(command, eval_str=True)
    extra = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=alias)
        for name, alias, default in _SHARED
    ]

    @functools.wraps(command)
    def with_shared(*args: Any, **kwargs: Any) -> Any:
        use_shared(*(kwargs.pop(name, default) for name, _, default in _SHARED))
        return command(*args, **kwargs)

    parameters = [*signature.parameters.values(), *extra]
    # Typer reads the command's parameters from these (inspect stops at __signature__)
    with_shared.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    with_shared.__annotations__ = {p.name: p.annotation for p in parameters}
    return with_shared  # type: ignore[return-value]


# ----- commands that read a results file ---------------------------------------------------------
#: The results file of refetch, report, tag, export and review.
Results = Annotated[
    str,
    typer.Argument(help="NDJSON (or JSON) from plantid identify (or review apply); - for stdin."),
]


def _format(choices: tuple[str, ...], help: str, optional: bool = False) -> Any:
    return Annotated[
        Literal[choices] | None if optional else Literal[choices],
        typer.Option("--format", "-f", help=help, show_default=not optional),
    ]


#: The records' format (identify); unset, a person at a terminal gets a table.
RecordFormat = _format(
    FORMATS,
    "Format of the records on stdout (default: table on a terminal, ndjson otherwise).",
    optional=True,
)
DemoFormat = _format(FORMATS, "Format of the records on stdout.")
_DATA_HELP = "What to print (default: table on a terminal, json otherwise)."
StatusFormat = _format(STATUS_FORMATS, _DATA_HELP, optional=True)
UsageFormat = _format(USAGE_FORMATS, _DATA_HELP, optional=True)
DataFormat = _format(DATA_FORMATS, _DATA_HELP, optional=True)


def data_format(fmt: str | None, as_json: bool = False) -> str:
    """The format a data command prints: --json or --format if given, else a table for a
    person (stdout is a terminal) and JSON for a pipe or a file, as identify decides."""
    import sys

    if as_json and fmt not in (None, "json"):
        from plantid_cli.errors import UsageError  # lazy: only on this mistake

        raise UsageError(f"--json and --format {fmt} say different things: give one of them")
    if as_json:
        return "json"
    if fmt is not None:
        return fmt
    stdout = sys.stdout
    return "table" if stdout is not None and stdout.isatty() else "json"


ProjectsFormat = _format(PROJECTS_FORMATS, _DATA_HELP, optional=True)


class _Argument(TyperArgument):
    """An argument shown as Click shows one: `PATHS...` in usage, no internal type name."""

    def _usage_display_name(self) -> str:
        name = (self.metavar or self.name or "").upper()
        if self.nargs != 1:
            name += "..."
        return name if self.required else f"[{name}]"

    def display_type_rich(self, ctx: Any) -> str | None:
        return super().display_type_rich(ctx) if self.type_descriptor.is_choice else ""


def _plain_help(params: list[Any]) -> None:
    for param in params:
        if isinstance(param, TyperOption) and (param.is_flag or param.count):
            if param.metavar is None:
                param.metavar = ""  # a flag takes no value: no `<bool>`/`<int>` beside it
        elif type(param) is TyperArgument:
            param.__class__ = _Argument


def refuse_flag_values(params: list[Any], args: list[str]) -> str | None:
    """The message for `--quiet true`: a flag followed by a word such as true/false that is
    no file here. Click takes the word for the next argument (identify read "true" as a photo
    and reported it not found; `status --debug false` turned debugging on); say instead that
    flags take no value. None when the command line has no such pair."""
    flags = {
        name
        for param in params
        if isinstance(param, TyperOption) and (param.is_flag or param.count)
        for name in (*param.opts, *param.secondary_opts)
    }
    found = flag_given_a_value(args, flags)
    if found is None:
        return None
    flag, value = found
    return (
        f"{flag} is a flag and takes no value: remove {value!r} "
        f"({flag} alone turns it on, leaving it out keeps it off)"
    )


class PlantidCommand(TyperCommand):
    """Every plantid command (app.command(cls=PlantidCommand))."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        message = refuse_flag_values(self.get_params(ctx), args)
        if message is not None and not ctx.resilient_parsing:  # completion parses too
            from typer._click.exceptions import UsageError as ClickUsageError

            raise ClickUsageError(message, ctx=ctx)
        return super().parse_args(ctx, args)

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)  # with --help, which is made here
        _plain_help(params)
        return params


class PlantidGroup(TyperGroup):
    """The root app and the command groups (typer.Typer(cls=PlantidGroup))."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        # `plantid --debug true status`: only the group's own options, before the command name
        end = next((i for i, arg in enumerate(args) if not arg.startswith("-")), len(args))
        message = refuse_flag_values(self.get_params(ctx), args[: end + 1])
        if message is not None and not ctx.resilient_parsing:  # completion parses too
            from typer._click.exceptions import UsageError as ClickUsageError

            raise ClickUsageError(message, ctx=ctx)
        return super().parse_args(ctx, args)

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        _plain_help(params)
        return params
