"""Answers that were paid for but cannot be used: stored like answers, served as errors.

Why: once a service has answered an identification with 2xx it has charged for it. Asking
again (a retry, a rerun) pays again for what is most likely the same junk. So the unusable
answer is kept under the photo's cache key like any answer — the cache holds JSON objects, so
the raw text goes in as a (capped) string — and every later run serves the same `bad_response`
error record from it (`cached: true`) without a call, until the user asks with `--refresh`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plantid_cli.errors import UnusableAnswer
from plantid_cli.records import now_iso
from plantid_cli.run.combine import Outcome

if TYPE_CHECKING:
    from plantid_cli.records import Location

#: `status` of a stored unusable answer (a usable one is "ok" or "not_plant").
UNUSABLE = "unusable"


def unusable_entry(
    provider: str,
    error: UnusableAnswer,
    location: Location | None,
    taken_at: str | None,
) -> dict[str, Any]:
    """What goes into the cache for a paid answer that cannot be used."""
    return {
        "provider": provider,
        "status": UNUSABLE,
        "error": error.to_record(),
        "raw": error.raw,
        "access_token": error.access_token,
        "location": location,
        "taken_at": taken_at,
        "identified_at": now_iso(),
    }


def outcome_for(provider: str, stored: dict[str, Any], cached: bool) -> Outcome:
    """A provider's outcome from a stored entry: an answer, or the unusable answer's error."""
    if stored.get("status") != UNUSABLE:
        return Outcome(provider, stored, cached)
    error = stored.get("error")
    if not isinstance(error, dict):
        error = {}
    raw, token = stored.get("raw"), stored.get("access_token")
    exc = UnusableAnswer(
        str(error.get("message") or f"{provider}: the service charged for an unusable answer"),
        raw=raw if isinstance(raw, str) else "",
        access_token=token if isinstance(token, str) else None,
    )
    exc.cached = cached
    return Outcome(provider, error=exc, cached=cached)
