"""A Plant.id identification bought once is read again for free, never bought again, when a
later run only wants other details or languages.

Why: details and languages are part of the cache key (they change the answer), so a photo
asked with `--language de` after an English run, with `--details description`, or after
issue 14 widened the default details, misses the cache. But the service already holds that
identification: `GET /identification/{access_token}` with the new details and languages
answers it for free. So every Plant.id answer stored also stores its access token under the
*identity* of what was bought (photo, position mode, classification level, similar images,
custom id, upload size, endpoint: `PlantIdProvider.identity_params`), and answers stored
under the pre-issue-14 default details are found by their old key. On a miss the engine asks
here first, inside the photo's single-flight lock; only when no token is known, or the re-read
fails (a token older than the service's 6 months, an outage), is the photo bought.

The re-read goes through the lane's breaker and rate limit and is never counted as a credit.
`--max-credits` and the confirmation still count such a photo as a possible cost (the token is
only looked for once the lock is held): the estimate errs on the safe side.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plantid_cli.errors import PlantidError
from plantid_cli.guards.disk.cache import cache_key
from plantid_cli.providers import validate
from plantid_cli.records import stored_answer

if TYPE_CHECKING:
    import httpx

    from plantid_cli.guards.backend import AnswerCache
    from plantid_cli.records import Location
    from plantid_cli.run.lane import Lane
    from plantid_cli.run.pending import Pending

#: Marks a token entry (never an answer) in the result cache.
TOKEN_ENTRY = "access_token"


def _key(provider: Any, sha256: str, params: dict[str, Any], max_side: int) -> str:
    return cache_key(provider.name, provider.api_version, sha256, {**params, "max_side": max_side})


def token_key(provider: Any, pending: Pending, max_side: int) -> str | None:
    """The cache key of `pending`'s token entry, None for a provider with no free re-read."""
    if not hasattr(provider, "identity_params"):
        return None
    params = {**provider.identity_params(pending.request), "entry": TOKEN_ENTRY}
    return _key(provider, pending.sha256, params, max_side)


def remember(
    cache: AnswerCache, lane: Lane, pending: Pending, stored: dict[str, Any], max_side: int
) -> None:
    """Store the access token of a stored answer under what was bought."""
    key = token_key(lane.provider, pending, max_side)
    token = (stored.get("extra") or {}).get("access_token")
    if key is not None and validate.valid_token(token):
        cache.set(key, {"provider": lane.provider.name, "entry": TOKEN_ENTRY, "token": token})


def known_token(cache: AnswerCache, lane: Lane, pending: Pending, max_side: int) -> str | None:
    """A token of this photo's identification, from its token entry or an answer stored under
    the details of an older plantid."""
    provider = lane.provider
    key = token_key(provider, pending, max_side)
    if key is None:
        return None
    entry = cache.get(key) or {}
    if validate.valid_token(entry.get("token")):
        return str(entry["token"])
    for params in provider.legacy_cache_params(pending.request):  # type: ignore[attr-defined]
        old = cache.get(_key(provider, pending.sha256, params, max_side)) or {}
        token = (old.get("extra") or {}).get("access_token")
        if old.get("status") in ("ok", "not_plant") and validate.valid_token(token):
            return str(token)
    return None


def reread(
    cache: AnswerCache,
    lane: Lane,
    pending: Pending,
    client: httpx.Client,
    max_side: int,
    location: Location | None,
    taken_at: str | None,
) -> dict[str, Any] | None:
    """The stored answer of a free re-read of this photo's identification, or None (nothing
    known to re-read, or the re-read failed: then the caller buys it)."""
    token = known_token(cache, lane, pending, max_side)
    if token is None:
        return None
    provider: Any = lane.provider
    try:
        answer = lane.guards.call(
            lambda: provider.refetch(client, token, pending.request), pending.job.display
        )
    except PlantidError:
        return None
    stored = stored_answer(provider.name, answer, location, taken_at)
    stored["extra"] = {**stored["extra"], "reread": True}
    return stored
