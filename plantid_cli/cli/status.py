"""`plantid status` (shared guard state per account) and `plantid breaker reset`."""

from __future__ import annotations

import json
from typing import Annotated, Literal

import typer

from plantid_cli.cli.common import echo, load, print_note, run_guarded
from plantid_cli.cli.options import (
    AsJson,
    Output,
    PlantidCommand,
    PlantidGroup,
    StatusFormat,
    Yes,
    data_format,
    shared_options,
)
from plantid_cli.cli.outfile import run_to
from plantid_cli.constants import PROVIDERS

breaker_app = typer.Typer(
    cls=PlantidGroup,
    help="Inspect or reset the shared circuit breakers.\n\n"
    "Examples:\n\n"
    "  plantid status   # each breaker's state\n\n"
    "  plantid breaker reset plantid\n\n"
    "  plantid breaker reset all --yes",
    no_args_is_help=True,
)
ALL = "all"


def register(app: typer.Typer) -> None:
    app.command("status", cls=PlantidCommand)(status)


@shared_options
def status(
    fmt: StatusFormat = None,
    as_json: AsJson = False,
    output: Output = None,
) -> None:
    """Breaker state, rate-limit use, credits and cache figures, shared by every process.

    Examples:

      plantid status

      plantid status -f json | jq -r .providers.plantid.breaker.state

      plantid status -f prometheus -o /var/lib/node_exporter/plantid.prom
    """
    raise typer.Exit(run_guarded(run_to, output, _status, fmt, as_json))


def _status(fmt: str | None, as_json: bool = False) -> int:
    # lazy: keeps telemetry.status off every command's start-up (app imports all)
    from plantid_cli.records import plural
    from plantid_cli.telemetry.status import collect_status

    fmt = data_format(fmt, as_json)
    info = collect_status(load())
    if fmt == "json":
        echo(json.dumps(info, indent=2))
        return 0
    if fmt == "prometheus":
        # lazy: keeps telemetry.status off every command's start-up (app imports all)
        from plantid_cli.telemetry.status import status_prometheus

        echo(status_prometheus(info), nl=False)
        return 0
    for name, provider in info["providers"].items():
        breaker = provider["breaker"]
        line = f"{name}: breaker {breaker['state']} ({plural(breaker['failures'], 'failure')})"
        if breaker.get("probe_due"):
            line += ", the next call probes"
        elif breaker.get("next_try"):
            line += f", next try {breaker['next_try']}"
        credits = provider["credits"]
        line += "; credits " + ("exhausted" if credits.get("exhausted") else "ok")
        if credits.get("remaining") is not None:
            line += f" ({credits['remaining']} remaining)"
        for use in provider["rate_limit"]:
            line += f"; rate limit {use['limit']} ({use['used']} used now)"
        echo(line)
        account = provider["account"]  # whose figures these are: another URL or key has its own
        echo(f"  account {account['id']}: {account['api_url']}, key {account['key'] or 'not set'}")
    cache = info["cache"]
    echo(
        f"cache: {plural(cache.get('entries', 0), 'entry', 'entries')}, "
        f"{plural(cache.get('volume_bytes', 0), 'byte')}, {plural(cache.get('hits', 0), 'hit')}, "
        f"{plural(cache.get('misses', 0), 'miss', 'misses')} ({info['cache_dir']})"
    )
    backend = info["backend"]
    where = f" at {backend['url']}" if backend.get("url") else ""
    reach = "reachable" if backend.get("reachable") else "unreachable, using local state"
    echo(f"backend: {backend['kind']}{where} ({reach})")
    return 0


@breaker_app.command("reset", cls=PlantidCommand)
@shared_options
def reset(
    provider: Annotated[
        Literal[(*PROVIDERS, ALL)], typer.Argument(help="The service whose breaker to close.")
    ] = ALL,
    yes: Yes = False,
) -> None:
    """Close the configured account's breaker by hand, e.g. after fixing a network problem.

    Breakers belong to an account (service, API URL, key): to close another one, point
    PLANTID_API_URL / PLANTNET_API_URL or the key at it.

    Asks first on a terminal; without one (a script, cron) it needs --yes.

    Examples:

      plantid breaker reset plantid

      plantid breaker reset all --yes
    """
    raise typer.Exit(run_guarded(_reset, provider, yes))


def _reset(provider: str, yes: bool = False) -> int:
    # lazy: keeps telemetry.status off every command's start-up (app imports all)
    from plantid_cli.cli.ask import confirm_destructive
    from plantid_cli.telemetry.status import reset_breakers

    names = PROVIDERS if provider == ALL else (provider,)
    settings = load()
    confirm_destructive(
        f"Close the {' and '.join(names)} breaker by hand (calls go to the service again)?",
        yes,
        action="breaker reset closes a breaker by hand",
        refused="no breaker changed",
    )
    reset_breakers(settings, names)
    print_note(f"breaker closed: {', '.join(names)}")
    return 0
