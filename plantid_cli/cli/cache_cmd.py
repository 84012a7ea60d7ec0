"""`plantid cache stats|clear|path`."""

from __future__ import annotations

import typer

from plantid_cli.cli.common import echo, echo_mapping, load, print_note, run_guarded
from plantid_cli.cli.options import (
    AsJson,
    Debug,
    LogFormat,
    PlantidCommand,
    PlantidGroup,
    Verbose,
    Yes,
    use_shared,
)
from plantid_cli.errors import UsageError

app = typer.Typer(
    cls=PlantidGroup, help="Inspect or clear the shared result cache.", no_args_is_help=True
)


@app.command("path", cls=PlantidCommand)
def path() -> None:
    """Print the cache folder (PLANTID_CACHE_DIR overrides it).

    Example: du -sh "$(plantid cache path)"
    """
    raise typer.Exit(run_guarded(lambda: echo(str(load().cache_path))))


@app.command("stats", cls=PlantidCommand)
def stats(
    as_json: AsJson = False,
    verbose: Verbose = 0,
    debug: Debug = False,
    log_format: LogFormat = None,
) -> None:
    """Entries, size and hit counts of the result cache.

    Example: plantid cache stats --json | jq .entries
    """
    use_shared(verbose, debug, log_format)
    raise typer.Exit(run_guarded(_stats, as_json))


def _stats(as_json: bool) -> int:
    # lazy: keeps guards.provider_guards off every command's start-up (app imports all)
    from plantid_cli.guards.provider_guards import open_cache

    settings = load()
    cache = open_cache(settings)
    try:
        info = cache.stats()
    finally:
        cache.close()
    info["path"] = str(settings.cache_path)
    echo_mapping(info, as_json)
    return 0


@app.command("clear", cls=PlantidCommand)
def clear(
    yes: Yes = False,
    verbose: Verbose = 0,
    debug: Debug = False,
    log_format: LogFormat = None,
) -> None:
    """Remove every stored answer (the next run pays again for each photo).

    Example: plantid cache clear --yes
    """
    use_shared(verbose, debug, log_format)
    raise typer.Exit(run_guarded(_clear, yes))


def _clear(yes: bool) -> int:
    import sys

    # lazy: keeps guards.provider_guards off every command's start-up (app imports all)
    from plantid_cli.guards.provider_guards import open_cache

    settings = load()
    if not yes and sys.stdin.isatty():
        if not typer.confirm("Remove every stored answer?", default=False, err=True):
            raise UsageError("cancelled: nothing removed")  # exit 2, as a declined identify
    cache = open_cache(settings)
    try:
        removed = cache.clear()
    finally:
        cache.close()
    print_note(f"removed {removed} cached answers")
    return 0
