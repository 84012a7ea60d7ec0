"""`plantid cache stats|clear|path`."""

from __future__ import annotations

import typer

from plantid_cli.cli.common import echo, echo_mapping, load, print_note, run_guarded
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

app = typer.Typer(
    cls=PlantidGroup,
    help="Inspect or clear the shared result cache.\n\n"
    "Examples:\n\n"
    "  plantid cache stats\n\n"
    "  plantid cache stats -f json | jq .entries\n\n"
    '  du -sh "$(plantid cache path)"\n\n'
    "  plantid cache clear --yes",
    no_args_is_help=True,
)


@app.command("path", cls=PlantidCommand)
@shared_options
def path() -> None:
    """Print the cache folder (PLANTID_CACHE_DIR overrides it).

    Example: du -sh "$(plantid cache path)"
    """
    raise typer.Exit(run_guarded(lambda: echo(str(load().cache_path))))


@app.command("stats", cls=PlantidCommand)
@shared_options
def stats(
    fmt: DataFormat = None,
    as_json: AsJson = False,
    output: Output = None,
) -> None:
    """Entries, size and hit counts of the result cache.

    Examples:

      plantid cache stats

      plantid cache stats -f json | jq .entries
    """
    raise typer.Exit(run_guarded(run_to, output, _stats, fmt, as_json))


def _stats(fmt: str | None, as_json: bool) -> int:
    # lazy: keeps guards.provider_guards off every command's start-up (app imports all)
    from plantid_cli.guards.provider_guards import open_cache

    settings = load()
    cache = open_cache(settings)
    try:
        info = cache.stats()
    finally:
        cache.close()
    info["path"] = str(settings.cache_path)
    echo_mapping(info, data_format(fmt, as_json) == "json")
    return 0


@app.command("clear", cls=PlantidCommand)
@shared_options
def clear(
    yes: Yes = False,
) -> None:
    """Remove every stored answer (the next run pays again for each photo).

    Asks first on a terminal; without one (a script, cron, `</dev/null`) it needs --yes.

    Examples:

      plantid cache clear

      plantid cache clear --yes
    """
    raise typer.Exit(run_guarded(_clear, yes))


def _clear(yes: bool) -> int:
    # lazy: keeps guards.provider_guards off every command's start-up (app imports all)
    from plantid_cli.cli.ask import confirm_destructive
    from plantid_cli.guards.provider_guards import open_cache
    from plantid_cli.records import plural

    settings = load()
    confirm_destructive(
        "Remove every stored answer (the next run pays again for each photo)?",
        yes,
        action="cache clear removes every stored answer",
        refused="nothing removed",
    )
    cache = open_cache(settings)
    try:
        removed = cache.clear()
    finally:
        cache.close()
    print_note(f"removed {plural(removed, 'cached answer')}")
    return 0
