"""Shared "credits exhausted" flag per account, with a cool-down (stdlib only).

When one process learns the account is out of credits (Plant.id 429, Pl@ntNet daily quota) it
calls :meth:`CreditsState.mark_exhausted`; every process then refuses calls for ``cooldown``
seconds with :class:`CreditsExhausted` instead of burning requests.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from plantid_cli.errors import CreditsExhausted
from plantid_cli.guards.disk.state import SharedState

MESSAGE = "credits exhausted — see plantid usage"
#: Pl@ntNet has a daily quota, not credits, and `plantid usage` does not show it: `status` does.
MESSAGES = {"plantnet": "plantnet: daily quota used up — see plantid status"}


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


class CreditsState:
    """The credits of one account (guards/account.py): one key's 429 never refuses another."""

    def __init__(
        self,
        state: SharedState,
        provider: str,
        cooldown: float = 300.0,
        *,
        account: str | None = None,
    ) -> None:
        self.state = state
        self.provider = provider
        self.cooldown = float(cooldown)
        #: `account` is the Account id; without it (tests of this module) the provider name
        self.key = f"credits:{account or provider}"

    def _load(self) -> dict[str, Any]:
        value = self.state.get_json(self.key, {})
        return value if isinstance(value, dict) else {}

    def _until(self, data: dict[str, Any]) -> float | None:
        at = data.get("exhausted_at")
        if not isinstance(at, (int, float)):
            return None
        until = float(at) + self.cooldown
        return until if time.time() < until else None

    def check(self) -> None:
        """Raise CreditsExhausted (with ``retry_at``) while the cool-down runs."""
        until = self._until(self._load())
        if until is not None:
            error = CreditsExhausted(MESSAGES.get(self.provider, MESSAGE))
            error.retry_at = until  # type: ignore[attr-defined]
            raise error

    def mark_exhausted(self, message: str) -> None:
        def update(old: Any) -> dict[str, Any]:
            data = dict(old) if isinstance(old, dict) else {}
            data.update(exhausted_at=time.time(), message=str(message), remaining=0)
            return data

        self.state.update_json(self.key, update, {})

    def set_remaining(
        self,
        remaining: int | None,
        *,
        limit: int | None = None,
        resets_in: float | None = None,
    ) -> None:
        """Record the credits left (from a response); a positive value ends the cool-down.
        `limit` and `resets_in` (seconds): a daily quota's size and reset, when the service
        says (Pl@ntNet's RateLimit headers); `reported_at` stamps when it was said."""

        def update(old: Any) -> dict[str, Any]:
            data = dict(old) if isinstance(old, dict) else {}
            data["remaining"] = None if remaining is None else int(remaining)
            if remaining is not None and int(remaining) > 0:
                data.pop("exhausted_at", None)
            now = time.time()
            data["reported_at"] = now
            if limit is not None:
                data["limit"] = int(limit)
            if resets_in is not None:
                data["resets_at"] = now + float(resets_in)
            return data

        self.state.update_json(self.key, update, {})

    def quota(self) -> dict[str, Any]:
        """What the service last said of this account's allowance, without asking it:
        `remaining`, `limit`, `reported_at`, `resets_at` (ISO 8601 UTC, or None)."""
        data = self._load()
        remaining, limit = data.get("remaining"), data.get("limit")
        at, resets = data.get("reported_at"), data.get("resets_at")
        return {
            "remaining": remaining if isinstance(remaining, int) else None,
            "limit": limit if isinstance(limit, int) else None,
            "reported_at": _iso(at) if isinstance(at, int | float) else None,
            "resets_at": _iso(resets) if isinstance(resets, int | float) else None,
        }

    def status(self) -> dict[str, Any]:
        data = self._load()
        until = self._until(data)
        remaining = data.get("remaining")
        return {
            "exhausted": until is not None,
            "until": _iso(until),
            "remaining": remaining if isinstance(remaining, int) else None,
            "message": data.get("message") if until is not None else None,
        }

    def clear(self) -> None:
        self.state.delete(self.key)
