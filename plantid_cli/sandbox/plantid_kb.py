"""Plant.id's knowledge base, as the sandbox answers it (`GET /kb/plants/name_search`, free, and
`GET /kb/plants/{access_token}`, 0.5 credits: kindwise.com/faq "Credits and pricing").

Shapes follow the official SDK (kindwise-api-client `SearchResult`/`SearchEntity`,
`get_kb_detail`): a search answers `{"entities": [{matched_in, matched_in_type, access_token,
match_position, match_length}], "entities_trimmed", "limit"}`; a detail answers the plant's
`name` with the asked-for details (the identification's detail names), `language` and
`entity_id`. The entries are the sandbox's species table (`data.SPECIES`): a case-insensitive
substring of the scientific name (`entity_name`), a synonym (`synonym`) or a common name in the
query's language (`common_name`) matches. Pure and stdlib only.
"""

from __future__ import annotations

import base64
from typing import Any

from plantid_cli.sandbox import data, plantid_taxonomy
from plantid_cli.sandbox.plantid_api import CREDITS_TEXT, Reply, csv_param, json_reply, text_reply

#: What a detail costs (kindwise.com/faq); a search is free.
DETAIL_COST = 0.5
DEFAULT_LIMIT = 10
MAX_LIMIT = 20


def token_for(index: int) -> str:
    """A KB access token: URL-safe base64 ending in `-`, like the service's."""
    species = data.SPECIES[index]
    raw = f"kb:{species.entity_id}:{index}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=") + "-"


def index_for(token: str) -> int | None:
    return next((i for i in range(len(data.SPECIES)) if token_for(i) == token), None)


def search_error(query: dict) -> str | None:
    """The 400 message for a bad search query, else None."""
    q = (query.get("q") or [""])[-1]
    if not q.strip():
        return "Query parameter q must be provided"
    raw = (query.get("limit") or [str(DEFAULT_LIMIT)])[-1]
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        return f"Invalid limit: expected an integer from 1 to {MAX_LIMIT}"
    return None


def search(query: dict) -> dict:
    """The name_search answer for a checked query (`search_error` said None)."""
    q = query["q"][-1].strip().lower()
    limit = int((query.get("limit") or [str(DEFAULT_LIMIT)])[-1])
    language = (query.get("language") or ["en"])[-1]
    found = []
    for index, species in enumerate(data.SPECIES):
        candidates = [(species.name, "entity_name")]
        candidates += [(name, "synonym") for name in species.synonyms]
        candidates += [(name, "common_name") for name in species.common_names.get(language, [])]
        for text, kind in candidates:
            position = text.lower().find(q)
            if position >= 0:
                found.append({
                    "matched_in": text,
                    "matched_in_type": kind,
                    "access_token": token_for(index),
                    "match_position": position,
                    "match_length": len(q),
                })  # fmt: skip
                break  # one entity once, by its best-ranked match
    return {"entities": found[:limit], "entities_trimmed": len(found) > limit, "limit": limit}


def detail(index: int, details: list[str], language: str, base_url: str) -> dict:
    """One plant's entry with the asked-for details (unknown ones null, as the service does)."""
    species = data.SPECIES[index]
    taxon = plantid_taxonomy.species_taxon(index)  # the identification's details, the same way
    return {
        "name": species.name,
        **plantid_taxonomy.details_for(taxon, details, [language], base_url),
    }


def reply(sb: Any, path: str, query: dict, key: str) -> Reply:
    """The answer to one knowledge-base GET (after the handler's latency and faults): keyed
    like every Plant.id call; a detail is charged DETAIL_COST, a search nothing."""
    if denied := sb._auth(key):
        return denied
    name = path.rsplit("/", 1)[-1]
    if name == "name_search":
        error = search_error(query)
        return text_reply(400, error) if error else json_reply(200, search(query))
    index = index_for(name)
    if index is None:
        return text_reply(404, "Not found")
    if not sb._charge(DETAIL_COST):
        return text_reply(429, CREDITS_TEXT)
    language = (csv_param(query, "language") or ["en"])[0]
    return json_reply(200, detail(index, csv_param(query, "details"), language, sb.url))
