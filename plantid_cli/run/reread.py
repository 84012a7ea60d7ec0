"""A Plant.id identification bought once is read again for free, never bought again, when a
later run only wants other details or languages.

Why: details and languages are part of the cache key (they change the answer), so a photo
asked with `--language de` after an English run, with `--details description`, or after
issue 14 widened the default details, misses the cache. But the service already holds that
identification: `GET /identification/{access_token}` with the new details and languages
answers it for free. So on a miss the engine asks here first, inside the photo's single-flight
lock: the answers the cache may hold for the same identification with other details or
languages (`PlantIdProvider.sibling_cache_params`: the defaults in English, in this run's
languages, the details of older plantids) are looked up, and the first one's access token is
re-read. Only when none is cached, or the re-read fails (a token older than the service's
6 months, an outage), is the photo bought. No entry is added for this: a look-up is a local
read of keys the cache already has.

The re-read goes through the lane's breaker and rate limit and is never counted as a credit.
`--max-credits` and the confirmation still count such a photo as a possible cost (the siblings
are looked for only once the lock is held): the estimate errs on the safe side.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plantid_cli.errors import PlantidError, ProbeInFlight
from plantid_cli.guards.disk.cache import cache_key
from plantid_cli.records import stored_answer

if TYPE_CHECKING:
    import httpx

    from plantid_cli.guards.backend import AnswerCache
    from plantid_cli.records import Location
    from plantid_cli.run.lane import Lane
    from plantid_cli.run.pending import Pending


def known_token(cache: AnswerCache, lane: Lane, pending: Pending, max_side: int) -> str | None:
    """The access token of this photo's identification, from an answer cached with other
    details or languages; None when there is none (or the provider has no free re-read)."""
    provider: Any = lane.provider
    if not hasattr(provider, "sibling_cache_params"):
        return None
    # lazy: the answer checks are paid by a lane that can re-read, not by every run
    from plantid_cli.providers import validate

    for params in provider.sibling_cache_params(pending.request):
        key = cache_key(provider.name, provider.api_version, pending.sha256,
                        {**params, "max_side": max_side})  # fmt: skip
        entry = cache.get(key) or {}
        token = (entry.get("extra") or {}).get("access_token")
        if entry.get("status") in ("ok", "not_plant") and validate.valid_token(token):
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
    except ProbeInFlight:
        raise  # a trial call is out: the caller waits for it, then re-reads (never buys)
    except PlantidError:
        return None
    stored = stored_answer(provider.name, answer, location, taken_at)
    stored["extra"] = {**stored["extra"], "reread": True}
    return stored
