"""Plant.id v3's identification object -> the normalised `Answer` (the record's Plant.id part).

Why its own module: the answer carries far more than the six fields plantid once kept (the
whole classification, the name's authority, synonyms, similar images, per-language names,
extra details), and reading it is a responsibility apart from sending the request
(providers/plantid.py). What a record relies on (name, probability, family, genus, gbif_id,
rank, url, common names) is checked strictly: a wrong type there is an unusable answer. What
sits beside it (authorship, synonyms, the other ranks, similar images, extra details) is read
leniently: a damaged value becomes null or empty, never costing the paid answer itself.

Several languages (`language=en,de`): the service turns each localized detail into an object
keyed by language. A suggestion then keeps `common_names` (and `url`) in the first language,
so the one-language shape holds, and adds `common_names_by_language`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from plantid_cli.constants import DEFAULT_DETAILS
from plantid_cli.errors import BadResponse
from plantid_cli.providers import validate as v
from plantid_cli.providers.base import Answer

if TYPE_CHECKING:
    from plantid_cli.records import SimilarImage, Suggestion

#: The classification ranks a suggestion carries as flat keys (details.taxonomy).
RANKS = ("kingdom", "phylum", "class", "order", "family", "genus")
#: Details that are the record's own keys; any other detail lands under `details`.
FLAT_DETAILS = frozenset(DEFAULT_DETAILS) | {"language", "entity_id"}
#: The keys of one similar image kept in a record.
SIMILAR_KEYS = ("url", "url_small", "similarity", "license_name", "license_url", "citation")


def parse_identification(data: Any) -> Answer:
    """Normalise the identification object, checking every type a record relies on."""
    data = v.mapping(data, "answer")
    result = v.mapping(data.get("result"), "result")
    is_plant = v.mapping(result.get("is_plant"), "result.is_plant")
    classification = v.mapping(result.get("classification"), "result.classification")
    raw = v.items(classification.get("suggestions"), "suggestions")
    inputs = data.get("input") if isinstance(data.get("input"), dict) else {}
    with_similar = inputs.get("similar_images") is True
    suggestions = [_suggestion(item, with_similar) for item in raw[: v.MAX_SUGGESTIONS_KEPT]]
    plant = v.flag(is_plant.get("binary"), "is_plant.binary")
    probability = v.probability(is_plant.get("probability"), "is_plant.probability")
    token = v.or_none(v.optional_text, data.get("access_token"), "access_token")
    extra: dict[str, Any] = {"access_token": token}
    custom_id = data.get("custom_id")
    if isinstance(custom_id, int) and not isinstance(custom_id, bool):
        extra["custom_id"] = custom_id
    level = inputs.get("classification_level")
    if isinstance(level, str):
        extra["classification_level"] = level
    return Answer(
        status="ok" if plant else "not_plant",
        best=suggestions[0] if plant and suggestions else None,
        suggestions=suggestions,
        is_plant={"probability": probability, "binary": plant},
        model_version=v.or_none(v.optional_text, data.get("model_version"), "model_version"),
        extra=extra,
    )


def _suggestion(item: Any, with_similar: bool) -> Suggestion:
    item = v.mapping(item, "suggestion")
    details = v.optional_mapping(item.get("details"), "suggestion.details")
    taxonomy = v.optional_mapping(details.get("taxonomy"), "details.taxonomy")
    name = v.text(item.get("name"), "suggestion.name")
    gbif = details.get("gbif_id")
    if gbif is not None and (isinstance(gbif, bool) or not isinstance(gbif, int)):
        raise BadResponse(f"details.gbif_id is {type(gbif).__name__}, not a number")
    names, by_language = _localized(details.get("common_names"), "details.common_names")
    url = details.get("url")
    if isinstance(url, dict):  # several languages: the first one's page
        url = next(iter(url.values()), None)
    suggestion: Suggestion = {
        "scientific_name": name,
        "probability": round(v.probability(item.get("probability"), "suggestion.probability"), 6),
        "common_names": names,
        "family": v.optional_text(taxonomy.get("family"), "taxonomy.family"),
        "genus": v.optional_text(taxonomy.get("genus"), "taxonomy.genus") or name.split(" ")[0],
        "gbif_id": gbif,
        "rank": v.optional_text(details.get("rank"), "details.rank"),
        "url": v.optional_text(url, "details.url"),
        "authorship": authorship(name, details.get("name_authority")),
        "kingdom": _lenient_text(taxonomy.get("kingdom")),
        "phylum": _lenient_text(taxonomy.get("phylum")),
        "class": _lenient_text(taxonomy.get("class")),
        "order": _lenient_text(taxonomy.get("order")),
        "synonyms": v.or_none(v.texts, details.get("synonyms"), "details.synonyms") or [],
        "inaturalist_id": _lenient_id(details.get("inaturalist_id")),
    }
    if by_language is not None:
        suggestion["common_names_by_language"] = by_language
    if with_similar:
        suggestion["similar_images"] = _similar_images(item.get("similar_images"))
    extras = {key: json_safe(value) for key, value in details.items() if key not in FLAT_DETAILS}
    if extras:
        suggestion["details"] = extras
    return suggestion


def authorship(name: str, name_authority: Any) -> str | None:
    """The author part of `name_authority` ("Taraxacum officinale F.H.Wigg." -> "F.H.Wigg.").
    A value that does not begin with the name is kept whole (it is the service's own form);
    one that is only the name (an autonym, a cultivar) has no author: None."""
    text = _lenient_text(name_authority)
    if text is None:
        return None
    text = " ".join(text.split())
    if text == name:
        return None
    if text.startswith(name + " "):
        return text[len(name) + 1 :].strip() or None
    return text


def _localized(value: Any, where: str) -> tuple[list[str], dict[str, list[str]] | None]:
    """(names in the first language, names per language or None): a list in a one-language
    answer, an object keyed by language (each value a list or null) with several."""
    if not isinstance(value, dict):
        return v.texts(value, where), None
    by_language = {str(lang): v.texts(names, f"{where}.{lang}") for lang, names in value.items()}
    first = next(iter(by_language.values()), [])
    return first, by_language


def _similar_images(value: Any) -> list[SimilarImage]:
    if not isinstance(value, list):
        return []
    out: list[SimilarImage] = []
    for image in value:
        if not isinstance(image, dict) or not isinstance(image.get("url"), str):
            continue  # an image without its address shows nothing: skipped
        similarity = image.get("similarity")
        out.append({
            "url": _lenient_text(image.get("url")) or "",
            "url_small": _lenient_text(image.get("url_small")),
            "similarity": v.or_none(v.probability, similarity, "similar_images.similarity"),
            "license_name": _lenient_text(image.get("license_name")),
            "license_url": _lenient_text(image.get("license_url")),
            "citation": _lenient_text(image.get("citation")),
        })  # fmt: skip
    return out


def _lenient_text(value: Any) -> str | None:
    text = v.or_none(v.optional_text, value, "text")
    return text if isinstance(text, str) else None


def _lenient_id(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def json_safe(value: Any) -> Any:
    """A detail's JSON with every string made storable (a lone surrogate becomes U+FFFD), so
    an odd extra detail can never stop a paid answer from being cached or printed."""
    if isinstance(value, str):
        return v.optional_text(value, "detail")
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_safe(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):  # NaN, Infinity: not JSON
        return None
    return value
