"""Knowledge-base look-ups (`plantid search`, `plantid about`) through the same guards as a run.

Why here and not in the CLI: a KB call is a Plant.id call on the same account as an
identification, so it goes through that account's ProviderGuards (breaker, rate limit,
retries, credits cool-down) and a rejected key is the same AuthError (exit 3). A search is free
(kindwise.com/faq), so only an open breaker refuses it; an entry costs CREDITS_KB_DETAIL, so it
is also refused while credits are known to be gone, counted in `credits_used`, and stored in the
result cache the moment it arrives: asking for the same entry again (same token, details,
language, endpoint) is served from the cache and costs nothing, until `refresh`. A paid entry
that cannot be used is stored too (run/charged.py's rule) and served as its error.
"""

from __future__ import annotations

import hashlib
import threading
import unicodedata
from typing import TYPE_CHECKING, Any

from plantid_cli.constants import CREDITS_KB_DETAIL, DEFAULT_API_URL, KB_NAME_MAX, KB_SEARCH_MAX
from plantid_cli.errors import PlantidError, UnusableAnswer, UsageError
from plantid_cli.events import Event, EventBus
from plantid_cli.guards.backend import open_backend
from plantid_cli.guards.disk.cache import cache_key
from plantid_cli.guards.provider_guards import ProviderGuards
from plantid_cli.providers import plantid_kb
from plantid_cli.providers.base import endpoint_param
from plantid_cli.providers.http import new_client
from plantid_cli.records import now_iso
from plantid_cli.run.charged import UNUSABLE, outcome_for

if TYPE_CHECKING:
    import httpx

    from plantid_cli.config import Settings

PROVIDER = plantid_kb.PROVIDER


class KnowledgeBase:
    """Plant.id's knowledge base for one account; close() when done (or use `with`)."""

    def __init__(self, settings: Settings, bus: EventBus | None = None) -> None:
        self.settings = settings
        self.key = settings.key_for(PROVIDER)
        self.url = settings.url_for(PROVIDER).rstrip("/")
        self.bus = bus or EventBus()
        backend = open_backend(settings)
        self.guards = ProviderGuards(settings, PROVIDER, self.key, self.bus, backend)
        self.guards.stop = threading.Event()
        self.cache = backend.cache()
        self.credits_used = 0.0
        self._client: httpx.Client | None = None

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self.cache.close()

    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = new_client(self.settings.timeout)
        return self._client

    # ----- search (free) -----
    def search(self, query: str, limit: int, language: str) -> dict[str, Any]:
        _check_name(query)
        self.guards.breaker.check()  # free: credits gone do not stop a search
        client = self.client()
        return self.guards.call(
            lambda: plantid_kb.search(client, self.url, self.key, query, limit, language),
            f"search:{query}",
        )

    def resolve(self, name_or_token: str, language: str) -> tuple[str, str | None]:
        """(token, the name it was found under, or None when a token was given): a name is
        looked up with the free search; an exact match wins, else the first one."""
        _check_name(name_or_token)  # a token too: a short run of letters and digits
        if plantid_kb.looks_like_token(name_or_token):
            return name_or_token, None
        found = self.search(name_or_token, KB_SEARCH_MAX, language)["entities"]
        if not found:
            raise PlantidError(f"no plant named {name_or_token!r} in the knowledge base")
        wanted = " ".join(name_or_token.lower().split())
        exact = [e for e in found if e["matched_in"].lower() == wanted]
        chosen = (exact or found)[0]
        return chosen["access_token"], chosen["matched_in"]

    # ----- one entry (paid) -----
    def key_for(self, token: str, details: tuple[str, ...], language: str) -> str:
        params = {
            "task": "kb_detail",
            "details": sorted(details),
            "language": language,
            **endpoint_param(self.url, DEFAULT_API_URL),
        }
        subject = hashlib.sha256(f"kb:plants:{token}".encode()).hexdigest()
        return cache_key(PROVIDER, "v3", subject, params)

    def about(
        self,
        token: str,
        details: tuple[str, ...],
        language: str,
        *,
        use_cache: bool = True,
        refresh: bool = False,
        max_credits: float | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """(entry, served from the cache). Paid once: stored before it is returned."""
        key = self.key_for(token, details, language)
        if use_cache and not refresh:
            stored = self.cache.get(key)
            self.bus.emit(
                Event.CACHE_MISS if stored is None else Event.CACHE_HIT,
                provider=PROVIDER,
                path=f"kb:{token}",
            )
            if stored is not None:
                return _served(stored), True
        if max_credits is not None and CREDITS_KB_DETAIL > max_credits:
            raise UsageError(
                f"this entry would cost {CREDITS_KB_DETAIL:g} credits but --max-credits is "
                f"{max_credits:g}; nothing was sent"
            )
        self.guards.check()  # credits known to be gone, or the breaker open: no call
        client = self.client()
        try:
            entry = self.guards.call(
                lambda: plantid_kb.detail(client, self.url, self.key, token, details, language),
                f"kb:{token}",
            )
        except UnusableAnswer as exc:  # billed all the same: stored, never bought again
            self.credits_used += CREDITS_KB_DETAIL
            if use_cache:
                self.cache.set(key, _unusable(exc))
            raise
        self.credits_used += CREDITS_KB_DETAIL
        entry["fetched_at"] = now_iso()
        if use_cache:
            self.cache.set(key, {"provider": PROVIDER, "status": "ok", "entry": entry})
        return entry, False


def _unusable(exc: UnusableAnswer) -> dict[str, Any]:
    return {
        "provider": PROVIDER,
        "status": UNUSABLE,
        "error": exc.to_record(),
        "raw": exc.raw,
        "access_token": exc.access_token,
    }


def _served(stored: dict[str, Any]) -> dict[str, Any]:
    """A cached entry, or the stored unusable answer's error raised again."""
    if stored.get("status") == UNUSABLE:
        error = outcome_for(PROVIDER, stored, cached=True).error
        assert error is not None
        raise error
    entry = stored.get("entry")
    if not isinstance(entry, dict):
        raise PlantidError("plantid: the cached knowledge-base entry is damaged; use --refresh")
    return entry


def _check_name(name: str) -> None:
    """A usage error (exit 2, nothing sent) for a name no search could mean: the request would
    otherwise fail on its way out with the encoder's or the URL parser's words (exit 1)."""
    if not name.strip():
        raise UsageError("give a name to search for")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # bytes a non-UTF-8 terminal or script passed (surrogates)
        raise UsageError("the name is not valid UTF-8 text: give the name as text") from None
    if len(name) > KB_NAME_MAX:
        raise UsageError(f"a name of {len(name):,} characters: give at most {KB_NAME_MAX}")
    if any(unicodedata.category(c) == "Cc" or c in "\u2028\u2029" for c in name):
        # control characters only: a no-break space (names pasted from a web page) is a space
        raise UsageError(
            "the name holds a control character (a newline, a tab): give one name per search"
        )
