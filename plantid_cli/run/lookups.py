"""Calls beside identification (Pl@ntNet's floras), guarded like every call.

Why here and not in the CLI: a lookup is free, but it still goes to the service with the
account's key, so it takes the same guards as an identification (guards/provider_guards.py):
the key is required, an open breaker refuses it without a request, the shared rate limit
gives it a slot, transient failures are retried and count toward the breaker. It never
touches the credits cool-down: a used-up daily quota does not stop a free listing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from plantid_cli.errors import UsageError
from plantid_cli.events import EventBus
from plantid_cli.guards.provider_guards import ProviderGuards
from plantid_cli.providers.http import new_client

if TYPE_CHECKING:
    import httpx

    from plantid_cli.config import Settings
    from plantid_cli.providers.plantnet import Project

T = TypeVar("T")


def guarded_lookup(
    settings: Settings,
    provider: str,
    path: str,
    fn: Callable[[httpx.Client, str], T],
    bus: EventBus | None = None,
) -> T:
    """`fn(client, api_key)` through `provider`'s breaker, rate limit and retries; `path`
    names the call in logs and metrics (e.g. ``GET /projects``)."""
    key = settings.key_for(provider)  # MissingKeyError (exit 3) before anything is sent
    guards = ProviderGuards(settings, provider, key, bus or EventBus())
    guards.breaker.check()  # CircuitOpenError: no request while the service is known down
    with new_client(settings.timeout) as client:
        return guards.call(lambda: fn(client, key), path)


def check_position(
    latitude: float | None, longitude: float | None, names: tuple[str, str] = ("--lat", "--lon")
) -> None:
    """A place to list floras for is both coordinates, in range, or none (UsageError, exit 2,
    before anything is read or sent); `names` are how the caller's user spells them."""
    lat, lon = names
    if (latitude is None) != (longitude is None):
        raise UsageError(f"{lat} and {lon} go together")
    if latitude is not None and not -90 <= latitude <= 90:
        raise UsageError(f"{lat} must be between -90 and 90")
    if longitude is not None and not -180 <= longitude <= 180:
        raise UsageError(f"{lon} must be between -180 and 180")


def plantnet_projects(
    settings: Settings,
    latitude: float | None = None,
    longitude: float | None = None,
    language: str | None = None,
) -> list[Project]:
    """Pl@ntNet's floras (`plantid projects`), for a place when a position is given."""
    check_position(latitude, longitude, ("latitude", "longitude"))
    # lazy: keeps providers.plantnet (and its checks) off the run's import
    from plantid_cli.providers.plantnet import fetch_projects

    url = settings.url_for("plantnet")
    lang = (language or settings.language or "en").split(",")[0].strip() or "en"
    return guarded_lookup(
        settings,
        "plantnet",
        "GET /projects",
        lambda client, key: fetch_projects(
            client, url, key, latitude=latitude, longitude=longitude, language=lang
        ),
    )
