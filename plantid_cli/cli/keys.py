"""`plantid keys set|list|path`: keys come from a hidden prompt or stdin, never argv."""

from __future__ import annotations

import sys
from typing import Annotated, Literal

import typer

from plantid_cli.cli.common import echo, load, print_note, run_guarded
from plantid_cli.cli.options import (
    Debug,
    LogFormat,
    PlantidCommand,
    PlantidGroup,
    Verbose,
    use_shared,
)
from plantid_cli.constants import PROVIDERS
from plantid_cli.errors import ConfigError, UsageError

app = typer.Typer(
    cls=PlantidGroup,
    help="Store and show API keys (stored 0600, shown redacted).",
    no_args_is_help=True,
)


@app.command(
    "set",
    cls=PlantidCommand,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def set_key(
    ctx: typer.Context,
    provider: Annotated[Literal[PROVIDERS], typer.Argument(help="The service the key is for.")],
    verbose: Verbose = 0,
    debug: Debug = False,
    log_format: LogFormat = None,
) -> None:
    """Store a key read from a hidden prompt (or from stdin when piped).

    Example: printf '%s' "$KEY" | plantid keys set plantid
    """
    use_shared(verbose, debug, log_format)
    raise typer.Exit(run_guarded(_set, provider, len(ctx.args)))


def _set(provider: str, extra_args: int = 0) -> int:
    # lazy: keeps config off every command's start-up (app imports all)
    from plantid_cli.config import clean_key, keys_file_path, write_key

    if extra_args:
        # Never echo it back: the stray argument is most likely the key itself.
        raise UsageError(
            "keys are never taken from the command line (shell history, `ps`); nothing stored."
            " Run `plantid keys set PROVIDER` and paste it at the hidden prompt, or pipe it in"
        )
    if sys.stdin.isatty():
        import getpass

        key = getpass.getpass(f"{provider} API key (input hidden): ", stream=sys.stderr)
    else:
        key = sys.stdin.readline()
    key = key.strip()
    if not key:
        raise UsageError("no key given: nothing stored")
    try:
        clean_key(key, "the input")
    except ConfigError:  # it would only fail every later run (exit 3): refuse it now
        raise UsageError(
            "the key holds whitespace, a control character or a non-ASCII character inside it"
            " (not shown): nothing stored"
        ) from None
    try:
        path = write_key(provider, key)
    except OSError as exc:  # a full disk, a read-only home: say where, never a traceback
        raise ConfigError(
            f"cannot store the key in {keys_file_path()}: {exc.strerror or exc} "
            "(PLANTID_KEYS_FILE); nothing stored"
        ) from None
    print_note(f"stored the {provider} key in {path}")
    return 0


@app.command("list", cls=PlantidCommand)
def list_keys(
    verbose: Verbose = 0,
    debug: Debug = False,
    log_format: LogFormat = None,
) -> None:
    """Show which keys are configured, redacted.

    Example: plantid keys list
    """
    use_shared(verbose, debug, log_format)
    raise typer.Exit(run_guarded(_list))


def _list() -> int:
    # lazy: keeps config off every command's start-up (app imports all)
    from plantid_cli.config import redact_key

    settings = load()
    echo(f"plantid\t{redact_key(settings.api_key) or '(not set)'}")
    echo(f"plantnet\t{redact_key(settings.plantnet_api_key) or '(not set)'}")
    return 0


@app.command("path", cls=PlantidCommand)
def key_path() -> None:
    """Print the keys file location (PLANTID_KEYS_FILE overrides it).

    Example: ls -l "$(plantid keys path)"
    """
    # lazy: keeps config off every command's start-up (app imports all)
    from plantid_cli.config import keys_file_path

    echo(str(keys_file_path()))
