"""`plantid status` (shared guard state per account) and `plantid breaker reset`."""

from __future__ import annotations

import json
from typing import Annotated, Literal

import typer

from plantid_cli.cli.common import echo, load, print_note, run_guarded
from plantid_cli.cli.options import (
    Debug,
    LogFormat,
    PlantidCommand,
    PlantidGroup,
    StatusFormat,
    Verbose,
    use_shared,
)
from plantid_cli.constants import PROVIDERS

breaker_app = typer.Typer(
    cls=PlantidGroup, help="Inspect or reset the shared circuit breakers.", no_args_is_help=True
)
ALL = "all"


def register(app: typer.Typer) -> None:
    app.command("status", cls=PlantidCommand)(status)


def status(
    fmt: StatusFormat = "table",
    verbose: Verbose = 0,
    debug: Debug = False,
    log_format: LogFormat = None,
) -> None:
    """Breaker state, rate-limit use, credits and cache figures, shared by every process.

    Example: plantid status --format json | jq .providers.plantid.breaker.state
    """
    use_shared(verbose, debug, log_format)
    raise typer.Exit(run_guarded(_status, fmt))


def _status(fmt: str) -> int:
    # lazy: keeps telemetry.status off every command's start-up (app imports all)
    from plantid_cli.telemetry.status import collect_status

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
        line = f"{name}: breaker {breaker['state']} ({breaker['failures']} failures)"
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
        f"cache: {cache.get('entries', 0)} entries, {cache.get('volume_bytes', 0)} bytes, "
        f"{cache.get('hits', 0)} hits, {cache.get('misses', 0)} misses ({info['cache_dir']})"
    )
    backend = info["backend"]
    where = f" at {backend['url']}" if backend.get("url") else ""
    reach = "reachable" if backend.get("reachable") else "unreachable, using local state"
    echo(f"backend: {backend['kind']}{where} ({reach})")
    return 0


@breaker_app.command("reset", cls=PlantidCommand)
def reset(
    provider: Annotated[
        Literal[(*PROVIDERS, ALL)], typer.Argument(help="The service whose breaker to close.")
    ] = ALL,
    verbose: Verbose = 0,
    debug: Debug = False,
    log_format: LogFormat = None,
) -> None:
    """Close the configured account's breaker by hand, e.g. after fixing a network problem.

    Breakers belong to an account (service, API URL, key): to close another one, point
    PLANTID_API_URL / PLANTNET_API_URL or the key at it.

    Example: plantid breaker reset plantid
    """
    use_shared(verbose, debug, log_format)
    raise typer.Exit(run_guarded(_reset, provider))


def _reset(provider: str) -> int:
    # lazy: keeps telemetry.status off every command's start-up (app imports all)
    from plantid_cli.telemetry.status import reset_breakers

    names = PROVIDERS if provider == ALL else (provider,)
    reset_breakers(load(), names)
    print_note(f"breaker closed: {', '.join(names)}")
    return 0
