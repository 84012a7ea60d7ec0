"""`plantid keys set|list|path`: keys come from a hidden prompt or stdin, never argv."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Literal

import typer

from plantid_cli.cli.common import echo, load, print_note, run_guarded
from plantid_cli.cli.options import (
    AsJson,
    DataFormat,
    Output,
    PlantidCommand,
    PlantidGroup,
    Yes,
    data_format,
    shared_options,
)
from plantid_cli.cli.outfile import run_to
from plantid_cli.constants import PROVIDERS
from plantid_cli.errors import ConfigError, UsageError

app = typer.Typer(
    cls=PlantidGroup,
    help="Store, show and remove API keys (stored 0600, shown redacted).\n\n"
    "Examples:\n\n"
    "  plantid keys set plantid\n\n"
    "  printf '%s' \"$KEY\" | plantid keys set plantnet\n\n"
    "  plantid keys list\n\n"
    "  plantid keys remove plantnet --yes",
    no_args_is_help=True,
)


@app.command(
    "set",
    cls=PlantidCommand,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
@shared_options
def set_key(
    ctx: typer.Context,
    provider: Annotated[Literal[PROVIDERS], typer.Argument(help="The service the key is for.")],
) -> None:
    """Store a key read from a hidden prompt (or from stdin when piped).

    Examples:

      plantid keys set plantid

      printf '%s' "$KEY" | plantid keys set plantid
    """
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
    if sys.stdin is None:  # started with stdin closed (`<&-`)
        raise UsageError("no key given: stdin is closed (pipe the key in, or run at a terminal)")
    if sys.stdin.isatty():
        import getpass

        key = getpass.getpass(f"{provider} API key (input hidden): ", stream=sys.stderr)
    else:
        key = _piped_key()
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


#: More than this on stdin is not a key (`yes | plantid keys set`, a file piped by mistake).
_MOST_PIPED = 64 * 1024


def _piped_key() -> str:
    """The one line piped in, read to its end: a second line (two keys, a key and a note, a
    file piped by mistake) was dropped without a word, and the key kept was perhaps not the
    one meant."""
    try:
        text = sys.stdin.read(_MOST_PIPED + 1)
    except UnicodeDecodeError:  # PYTHONIOENCODING=ascii and a key that is not: never shown
        raise UsageError(
            f"the key piped in is not {sys.stdin.encoding} text (not shown): nothing stored"
        ) from None
    if len(text) > _MOST_PIPED:
        raise UsageError("more than 64 kB on stdin: a key is one short line; nothing stored")
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) > 1:
        raise UsageError(
            f"stdin held {len(lines)} lines: pipe in one key, alone on its line (not shown);"
            " nothing stored"
        )
    return lines[0] if lines else ""


@app.command("list", cls=PlantidCommand)
@shared_options
def list_keys(
    fmt: DataFormat = None,
    as_json: AsJson = False,
    output: Output = None,
) -> None:
    """Show which keys are configured, redacted, and where each comes from (the environment
    or the keys file). The environment wins over the file.

    Examples:

      plantid keys list

      plantid keys list -f json | jq -r .plantid.source
    """
    raise typer.Exit(run_guarded(run_to, output, _list, fmt, as_json))


def _list(fmt: str | None, as_json: bool) -> int:
    # lazy: keeps json and config off every command's start-up
    import json

    # lazy: (the same)
    from plantid_cli.config import redact_key, setting_sources

    settings = load()
    sources = setting_sources()
    shown = {}
    for provider, name in (("plantid", "api_key"), ("plantnet", "plantnet_api_key")):
        key = getattr(settings, name)
        shown[provider] = {
            "key": redact_key(key),
            "source": sources[name] if key else None,
        }
    if data_format(fmt, as_json) == "json":
        echo(json.dumps(shown, indent=2))
        return 0
    for provider, info in shown.items():
        where = f"\t{_plain_source(info['source'])}" if info["source"] else ""
        echo(f"{provider}\t{info['key'] or '(not set)'}{where}")
    return 0


def _plain_source(source: str) -> str:
    """`keys file PATH (plantid)` -> `keys file PATH`: the line already names the service."""
    return source.rsplit(" (", 1)[0] if source.startswith("keys file") else source


@app.command("remove", cls=PlantidCommand)
@shared_options
def remove_key(
    provider: Annotated[
        Literal[PROVIDERS], typer.Argument(help="The service whose key to forget.")
    ],
    yes: Yes = False,
) -> None:
    """Remove a stored key from the keys file (a key in the environment is not touched).

    Asks first on a terminal; without one it needs --yes.

    Examples:

      plantid keys remove plantnet

      plantid keys remove plantid --yes
    """
    raise typer.Exit(run_guarded(_remove, provider, yes))


def _remove(provider: str, yes: bool) -> int:
    # lazy: keeps config off every command's start-up (app imports all)
    from plantid_cli.cli.ask import confirm_destructive
    from plantid_cli.config import env_name, keys_file_path, read_keys_file
    from plantid_cli.config import remove_key as forget

    path = keys_file_path()
    if provider not in read_keys_file(path):
        raise UsageError(f"no {provider} key is stored in {path}: nothing removed")
    confirm_destructive(
        f"Remove the stored {provider} key from {path}?",
        yes,
        action=f"keys remove forgets the stored {provider} key",
        refused="nothing removed",
    )
    try:
        forget(provider)
    except OSError as exc:
        why = exc.strerror or exc
        raise ConfigError(f"cannot rewrite {path}: {why}; nothing removed") from None
    print_note(f"removed the {provider} key from {path}")
    env = env_name("api_key" if provider == "plantid" else "plantnet_api_key")
    if os.environ.get(env):
        print_note(f"{env} is still set in the environment and is used instead")
    return 0


@app.command("path", cls=PlantidCommand)
@shared_options
def key_path() -> None:
    """Print the keys file location (PLANTID_KEYS_FILE overrides it).

    Examples:

      plantid keys path

      ls -l "$(plantid keys path)"
    """
    # lazy: keeps config off every command's start-up (app imports all)
    from plantid_cli.config import keys_file_path

    echo(str(keys_file_path()))
