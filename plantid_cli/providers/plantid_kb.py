"""Plant.id's knowledge base: `GET /kb/plants/name_search` (free) and `GET /kb/plants/{token}`
(one plant's entry, 0.5 credits: kindwise.com/faq "Credits and pricing").

Shapes as the official SDK reads them (kindwise-api-client `SearchResult`, `get_kb_detail`).
What comes back is checked like an identification (providers/validate.py) and turned into the
plain dicts `plantid search` / `plantid about` print; the guards (breaker, rate limit, retries)
and the cache wrap these calls from above (run/kb.py).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from plantid_cli.errors import ConfigError, PlantidError
from plantid_cli.providers import validate as v
from plantid_cli.providers.base import json_body, send
from plantid_cli.providers.plantid_health import plain_json
from plantid_cli.providers.validate import charged_answer

if TYPE_CHECKING:
    import httpx

PROVIDER = "plantid"
#: The classification levels an entry's `taxonomy` holds, flat in the printed entry.
TAXONOMY = ("kingdom", "phylum", "class", "order", "family", "genus")
#: Details that get their own key in an entry; every other one asked for lands in `details`.
_OWN = ("common_names", "taxonomy", "url", "gbif_id", "inaturalist_id", "rank", "synonyms")
#: A KB access token (URL-safe base64, e.g. `bG1NbjFDTkoxOHNTTHlIYwpcKF8CIS9yCAoXY3ofelA-`):
#: no plant name is a single word this long.
_TOKEN = re.compile(r"[A-Za-z0-9_=-]{24,}")


def looks_like_token(text: str) -> bool:
    return bool(_TOKEN.fullmatch(text))


def search(
    client: httpx.Client, api_url: str, api_key: str, query: str, limit: int, language: str
) -> dict[str, Any]:
    """`{"entities": [...], "entities_trimmed": bool, "limit": n}`, each entity checked."""
    response = send(
        client,
        PROVIDER,
        "GET",
        f"{api_url.rstrip('/')}/kb/plants/name_search",
        params={"q": query, "limit": limit, "language": language},
        headers={"Api-Key": api_key},
    )
    return parse_search(json_body(PROVIDER, response))


def parse_search(data: Any) -> dict[str, Any]:
    data = v.mapping(data, "answer")
    entities = []
    for item in v.items(data.get("entities"), "entities"):
        item = v.mapping(item, "entity")
        entities.append({
            "matched_in": v.text(item.get("matched_in"), "entity.matched_in"),
            "matched_in_type": v.optional_text(item.get("matched_in_type"), "matched_in_type"),
            "access_token": v.text(item.get("access_token"), "entity.access_token"),
            "match_position": v.count(item.get("match_position"), "entity.match_position"),
            "match_length": v.count(item.get("match_length"), "entity.match_length"),
        })  # fmt: skip
    return {
        "entities": entities,
        "entities_trimmed": bool(data.get("entities_trimmed")),
        "limit": v.or_none(v.count, data.get("limit"), "limit"),
    }


def detail(
    client: httpx.Client,
    api_url: str,
    api_key: str,
    token: str,
    details: tuple[str, ...],
    language: str,
) -> dict[str, Any]:
    """One entry, as printed (`entry`). Billed: a 2xx cut short or unusable is an
    UnusableAnswer (never retried); an unknown token is a plain PlantidError (exit 1)."""
    params = {"details": ",".join(details), "language": language}
    url = f"{api_url.rstrip('/')}/kb/plants/{token}"
    try:
        response = send(
            client, PROVIDER, "GET", url, params=params, headers={"Api-Key": api_key}, charged=True
        )
    except ConfigError as exc:
        if "HTTP 404" not in exc.message:
            raise
        raise PlantidError(f"plantid: no knowledge-base entry has the token {token!r}") from None
    return charged_answer(PROVIDER, response, lambda data: entry(token, data))


def entry(token: str, data: Any) -> dict[str, Any]:
    """The printed entry: name, common names, the classification flat, url, ids, description
    (its text), and every other detail asked for under `details`."""
    data = v.mapping(data, "answer")
    taxonomy = v.optional_mapping(data.get("taxonomy"), "taxonomy")
    description = data.get("description")
    if isinstance(description, dict):
        description = description.get("value")
    gbif = v.or_none(v.count, data.get("gbif_id"), "gbif_id")
    shown: dict[str, Any] = {
        "access_token": token,
        "name": v.text(data.get("name"), "name"),
        "common_names": v.texts(data.get("common_names"), "common_names"),
        **{level: v.optional_text(taxonomy.get(level), f"taxonomy.{level}") for level in TAXONOMY},
        "rank": v.optional_text(data.get("rank"), "rank"),
        "synonyms": v.texts(data.get("synonyms"), "synonyms"),
        "url": v.optional_text(data.get("url"), "url"),
        "gbif_id": gbif,
        "inaturalist_id": v.or_none(v.count, data.get("inaturalist_id"), "inaturalist_id"),
        "description": v.optional_text(description, "description"),
        "language": v.optional_text(data.get("language"), "language"),
        "entity_id": v.optional_text(data.get("entity_id"), "entity_id"),
    }
    shown["details"] = {
        name: plain_json(value, name) for name, value in data.items() if name not in (*_OWN, *shown)
    }
    return shown
