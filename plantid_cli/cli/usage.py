"""`plantid usage`: credits left, from the free usage_info endpoint."""

from __future__ import annotations

import json

import typer

from plantid_cli.cli.common import echo, load, print_note, run_guarded
from plantid_cli.cli.options import (
    AsJson,
    Debug,
    LogFormat,
    Output,
    PlantidCommand,
    UsageFormat,
    Verbose,
    data_format,
    use_shared,
)
from plantid_cli.cli.outfile import run_to
from plantid_cli.errors import PlantidError


def register(app: typer.Typer) -> None:
    app.command("usage", cls=PlantidCommand)(usage)


def usage(
    fmt: UsageFormat = None,
    as_json: AsJson = False,
    output: Output = None,
    verbose: Verbose = 0,
    debug: Debug = False,
    log_format: LogFormat = None,
) -> None:
    """Show Plant.id credit limits, use and what remains (costs no credit).

    Examples:

      plantid usage

      plantid usage -f json | jq .remaining.total
    """
    use_shared(verbose, debug, log_format)
    raise typer.Exit(run_guarded(run_to, output, _usage, fmt, as_json))


def _usage(fmt: str | None, as_json: bool = False) -> int:
    fmt = data_format(fmt, as_json)
    # lazy: keeps providers.plantid (and httpx) off every command's start-up (app imports all)
    from plantid_cli.providers.plantid import fetch_usage

    settings = load()
    info = fetch_usage(settings.api_url, settings.key_for("plantid"), settings.timeout)
    if (info.get("can_use_credits") or {}).get("value"):
        try:
            _end_credits_cooldown(settings, (info.get("remaining") or {}).get("total"))
        except (OSError, PlantidError):  # an unusable cache folder: still show the credits
            pass
    if fmt == "json":
        echo(json.dumps(info, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Plant.id credits")
    for column in ("period", "limit", "used", "remaining"):
        table.add_column(column)
    for period in ("day", "week", "month", "total"):
        limits = info.get("credit_limits") or {}
        used = info.get("used") or {}
        remaining = info.get("remaining") or {}
        table.add_row(
            period,
            *(
                str(d.get(period, "")) if d.get(period) is not None else "-"
                for d in (limits, used, remaining)
            ),
        )
    Console().print(table)
    can_use = info.get("can_use_credits") or {}
    if not can_use.get("value", True):
        Console(stderr=True).print(f"[red]cannot use credits: {can_use.get('reason')}")
    return 0


def _end_credits_cooldown(settings, remaining) -> None:
    """The service says credits can be used (e.g. after a top-up): end the shared "credits
    exhausted" cool-down at once instead of refusing calls until it runs out."""
    # lazy: keeps guards.account off every command's start-up (app imports all)
    from plantid_cli.guards.account import account_for
    from plantid_cli.guards.backend import open_backend

    account = account_for(settings, "plantid")  # the account usage_info was asked about
    credits = open_backend(settings).credits(account, cooldown=settings.credits_cooldown)
    if not credits.status()["exhausted"]:
        return
    if _count(remaining) > 0:  # the service sends floats (86.0), not only ints
        credits.set_remaining(int(remaining))
    elif remaining is None:  # no total limit
        credits.clear()
    else:
        return
    print_note("credits available again: the cool-down is over")


def _count(value: object) -> float:
    """A credit count from usage_info (int or float, never a bool or NaN), else 0."""
    import math

    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    return value if math.isfinite(value) else 0
