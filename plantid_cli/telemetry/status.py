"""The shared guard state as one dict (for `plantid status`), read without any network."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plantid_cli.config import Settings
from plantid_cli.constants import BREAKER_STATE_VALUES, PROVIDERS
from plantid_cli.errors import ConfigError
from plantid_cli.events import EventBus
from plantid_cli.guards.backend import open_backend
from plantid_cli.guards.provider_guards import ProviderGuards

if TYPE_CHECKING:
    from plantid_cli.guards.backend import Backend


def _guards_for(
    settings: Settings, provider: str, backend: Backend | None = None
) -> ProviderGuards:
    """The same guards a run builds (same account), read here without a call."""
    key = settings.api_key if provider == "plantid" else settings.plantnet_api_key
    return ProviderGuards(settings, provider, key or "", EventBus(), backend)


def collect_status(settings: Settings) -> dict[str, Any]:
    backend = open_backend(settings)
    providers = {}
    for name in PROVIDERS:
        guards = _guards_for(settings, name, backend)
        providers[name] = {
            # the figures below are this account's (service, URL, key), not the service's
            "account": guards.account.describe(),
            "breaker": guards.breaker.status(),
            "rate_limit": guards.ratelimit.usage(),
            "credits": guards.credits.status(),
        }
    cache = backend.cache()
    try:
        cache_info = cache.stats()
    finally:
        cache.close()
    return {
        "providers": providers,
        "cache": cache_info,
        "cache_dir": str(settings.cache_path),
        "backend": backend.info(),
    }


def reset_breakers(settings: Settings, names: tuple[str, ...]) -> None:
    """Close the breakers of `names`; a ConfigError when the shared state refused the write
    (read-only or full cache folder): a reset only this process sees would be a false success."""
    backend = open_backend(settings)
    for name in names:
        # the configured account's breaker: another URL's or another key's stays as it is
        _guards_for(settings, name, backend).breaker.reset()
    state = getattr(backend, "state", None)  # the disk backend's SharedState
    refused = getattr(state, "refused", None)
    if state is not None and refused is not None:
        raise ConfigError(
            f"shared state {state.path} cannot be changed: {refused}; the breaker is as it "
            "was (PLANTID_CACHE_DIR, cache_dir)"
        )


def _escape(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def status_prometheus(info: dict[str, Any]) -> str:
    """The same state in Prometheus text format (stdlib formatting keeps this path light)."""
    lines = [
        "# HELP plantid_account_info The account (service, API URL, key digest) the other series"
        " of a provider describe; value 1.",
        "# TYPE plantid_account_info gauge",
    ]
    for name, provider in info["providers"].items():
        account = provider.get("account") or {}
        pairs = {
            "provider": name,
            "account": account.get("id") or "",
            "api_url": account.get("api_url") or "",
        }
        labels = ",".join(f'{key}="{_escape(value)}"' for key, value in pairs.items())
        lines.append(f"plantid_account_info{{{labels}}} 1")
    lines += [
        "# HELP plantid_breaker_state Circuit breaker state (0 closed, 1 half-open, 2 open).",
        "# TYPE plantid_breaker_state gauge",
    ]
    for name, provider in info["providers"].items():
        value = BREAKER_STATE_VALUES.get(provider["breaker"]["state"], 0)
        lines.append(f'plantid_breaker_state{{provider="{name}"}} {value}')
    lines += [
        "# HELP plantid_breaker_failures Consecutive failures counted by the breaker.",
        "# TYPE plantid_breaker_failures gauge",
    ]
    for name, provider in info["providers"].items():
        lines.append(
            f'plantid_breaker_failures{{provider="{name}"}} {provider["breaker"]["failures"]}'
        )
    lines += [
        "# HELP plantid_credits_remaining Credits or quota left, when known.",
        "# TYPE plantid_credits_remaining gauge",
    ]
    for name, provider in info["providers"].items():
        remaining = provider["credits"].get("remaining")
        if remaining is not None:
            lines.append(f'plantid_credits_remaining{{provider="{name}"}} {remaining}')
    lines += [
        "# HELP plantid_credits_exhausted 1 while a credits cool-down runs (no calls are made).",
        "# TYPE plantid_credits_exhausted gauge",
    ]
    for name, provider in info["providers"].items():
        exhausted = 1 if provider["credits"].get("exhausted") else 0
        lines.append(f'plantid_credits_exhausted{{provider="{name}"}} {exhausted}')
    for metric, field, text in (
        ("plantid_rate_limit_used", "used", "Calls started within the rate-limit window."),
        ("plantid_rate_limit_remaining", "remaining", "Calls still allowed within the window."),
    ):
        lines += [f"# HELP {metric} {text}", f"# TYPE {metric} gauge"]
        for name, provider in info["providers"].items():
            for use in provider["rate_limit"]:
                lines.append(f'{metric}{{provider="{name}",limit="{use["limit"]}"}} {use[field]}')
    lines += [
        "# HELP plantid_cache_entries Answers in the result cache.",
        "# TYPE plantid_cache_entries gauge",
        f"plantid_cache_entries {info['cache'].get('entries', 0)}",
        "# HELP plantid_cache_size_bytes Size of the result cache.",
        "# TYPE plantid_cache_size_bytes gauge",
        f"plantid_cache_size_bytes {info['cache'].get('volume_bytes', 0)}",
    ]
    return "\n".join(lines) + "\n"
