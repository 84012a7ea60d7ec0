"""`plantid usage`: credits left, from Plant.id's free usage_info endpoint; Pl@ntNet's daily
quota as its last answer reported it (`--provider plantnet`: no request, nothing spent)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import typer

from plantid_cli.cli.common import echo, load, print_note, run_guarded
from plantid_cli.cli.options import (
    AsJson,
    Output,
    PlantidCommand,
    UsageFormat,
    data_format,
    shared_options,
)
from plantid_cli.cli.outfile import run_to
from plantid_cli.constants import PROVIDERS
from plantid_cli.errors import PlantidError

EXAMPLES = """
Examples:

  plantid usage

  plantid usage -f json | jq .remaining.total

  plantid usage --provider plantnet --format json | jq .remaining
"""


def register(app: typer.Typer) -> None:
    app.command(
        "usage",
        cls=PlantidCommand,
        help="Show Plant.id credit limits, use and what remains (costs no credit), or"
        " Pl@ntNet's daily quota as its last answer reported it." + EXAMPLES,
        short_help="Credits (Plant.id) or daily quota (Pl@ntNet) left.",
    )(usage)


@shared_options
def usage(
    fmt: UsageFormat = None,
    as_json: AsJson = False,
    output: Output = None,
    provider: Annotated[
        Literal[PROVIDERS],
        typer.Option(
            "--provider",
            help="Plant.id asks usage_info (free); Pl@ntNet shows what its last answer said.",
        ),
    ] = "plantid",
) -> None:
    body = _plantnet_usage if provider == "plantnet" else _usage
    raise typer.Exit(run_guarded(run_to, output, body, fmt, as_json))


def plantnet_quota(settings: Any) -> dict[str, Any]:
    """Pl@ntNet's daily quota for the configured account, as its last answer said it
    (`remainingIdentificationRequests`, RateLimit headers): no request is made. `current` is
    false once the quota has reset (00:00 UTC) since that answer."""
    from datetime import UTC, datetime

    # lazy: keeps guards off every command's start-up (app imports all)
    from plantid_cli.guards.account import account_for
    from plantid_cli.guards.backend import open_backend

    settings.key_for("plantnet")  # MissingKeyError: whose quota would this be?
    account = account_for(settings, "plantnet")
    credits = open_backend(settings).credits(account, cooldown=settings.credits_cooldown)
    quota, status = credits.quota(), credits.status()
    remaining, limit, resets = quota["remaining"], quota["limit"], quota["resets_at"]
    now = datetime.now(UTC)
    current = None
    if quota["reported_at"] is not None:
        current = resets is None or datetime.fromisoformat(resets) > now
        if resets is None:  # no RateLimit header: the day of the report is the quota's day
            current = quota["reported_at"][:10] == now.date().isoformat()
    used = limit - remaining if limit is not None and remaining is not None else None
    return {
        "provider": "plantnet",
        "period": "day",
        "limit": limit,
        "used": used,
        "remaining": remaining,
        "reported_at": quota["reported_at"],
        "resets_at": resets,
        "current": current,
        "exhausted": status["exhausted"],
        "account": account.describe(),
    }


def _plantnet_usage(fmt: str | None, as_json: bool = False) -> int:
    fmt = data_format(fmt, as_json)
    info = plantnet_quota(load())
    if fmt == "json":
        echo(json.dumps(info, indent=2))
        return 0
    from rich.table import Table

    # lazy: Rich, only for a table (outputs/console.py)
    from plantid_cli.outputs.console import stdout_console

    table = Table(title="Pl@ntNet daily quota (as last reported)")
    for column in ("period", "limit", "used", "remaining", "reported at", "resets at"):
        table.add_column(column)
    shown = [info[n] for n in ("limit", "used", "remaining", "reported_at", "resets_at")]
    table.add_row("day", *("-" if value is None else str(value) for value in shown))
    stdout_console().print(table)
    if info["reported_at"] is None:
        print_note("no Pl@ntNet answer seen for this account yet: the quota shows after one")
    elif info["current"] is False:
        print_note("the quota has reset (00:00 UTC) since that answer: these figures predate it")
    return 0


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

    # lazy: Rich, only for a table (outputs/console.py)
    from plantid_cli.outputs.console import stdout_console

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
    stdout_console().print(table)
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
