"""The output contract: one record per input image (schema_version 1).

Why one module: the record's shape is the tool's public promise to scripts (jq, databases). Every
writer and every path through the engine builds records here and nowhere else. Adding a field is
allowed; changing a field's meaning means schema_version 2.
"""

from __future__ import annotations

import base64
import os
from datetime import UTC
from typing import Any, NotRequired, Protocol, TypedDict

from plantid_cli.errors import ErrorInfo, PlantidError
from plantid_cli.redact import CONTROL_ESCAPES

SCHEMA_VERSION = 1


# ----- the record's shape (README "Output"); TypedDicts so that the JSON stays plain dicts -----
class RelatedImage(TypedDict):
    """A reference photo of a Pl@ntNet result (`--related-images`)."""

    url: str
    url_medium: str | None
    url_small: str | None
    organ: str | None
    author: str | None
    license: str | None
    citation: str | None
    date: str | None


class PredictedOrgan(TypedDict):
    """What Pl@ntNet saw in one photo of the request (`predicted_organs`, upload order)."""

    organ: str | None
    score: float | None


class SimilarImage(TypedDict):
    """One of Plant.id's similar images of a suggestion (`--similar-images`)."""

    url: str
    url_small: str | None
    similarity: float | None
    license_name: str | None
    license_url: str | None
    citation: str | None


#: The classification above the genus, and what only Plant.id sends (functional form: `class`
#: is a Python keyword). Absent from Pl@ntNet's suggestions.
_PlantIdKeys = TypedDict(
    "_PlantIdKeys",
    {
        "kingdom": NotRequired[str | None],
        "phylum": NotRequired[str | None],
        "class": NotRequired[str | None],
        "order": NotRequired[str | None],
        "synonyms": NotRequired[list[str]],
        "inaturalist_id": NotRequired[int | None],
        "common_names_by_language": NotRequired[dict[str, list[str]]],
        "similar_images": NotRequired[list[SimilarImage]],
        "details": NotRequired[dict[str, Any]],
    },
)


class Suggestion(_PlantIdKeys):
    """One candidate taxon (`best` and each of `suggestions`), the same core keys for both
    services (`authorship` from both; Plant.id adds the keys of `_PlantIdKeys`; Pl@ntNet adds
    `iucn_category`, `hybrid` and, when asked, `related_images`)."""

    scientific_name: str
    probability: float
    common_names: list[str]
    family: str | None
    genus: str | None
    gbif_id: int | None
    rank: str | None
    url: str | None
    authorship: NotRequired[str | None]
    iucn_category: NotRequired[str | None]
    hybrid: NotRequired[bool]
    related_images: NotRequired[list[RelatedImage]]


class Disease(TypedDict):
    """One disease suggestion (`diseases`, `health.diseases`): the disease details asked for
    beyond the name's own keys land in `details` (e.g. treatment, description, cause)."""

    name: str
    probability: float
    local_name: str | None
    common_names: list[str]
    details: dict[str, Any]


class IsHealthy(TypedDict):
    probability: float
    binary: bool


class Health(TypedDict):
    """`identify --health`: the assessment beside the identification."""

    is_healthy: IsHealthy
    diseases: list[Disease]


class IsPlant(TypedDict):
    probability: float | None  # Pl@ntNet gives none
    binary: bool


class Location(TypedDict):
    latitude: float
    longitude: float
    source: str  # "exif" | "option"


class Verification(TypedDict):
    """A person's decision on a record (`plantid review apply`, outputs/review/)."""

    decision: str  # DECISIONS: accepted | rejected | corrected
    scientific_name: str | None  # the name the person stands behind (None when rejected)
    by: str | None
    date: str  # ISO 8601 date the decision was applied
    remarks: str | None


class Record(TypedDict):
    """One input photo (or specimen): the schema_version 1 contract, built only here."""

    schema_version: int
    index: int
    path: str
    sha256: str | None
    status: str  # RECORD_STATUSES
    provider: str
    cached: bool
    best: Suggestion | None
    suggestions: list[Suggestion]
    is_plant: IsPlant | None
    location: Location | None
    taken_at: str | None
    model_version: str | None
    identified_at: str | None
    error: ErrorInfo | None
    # present only when they apply
    path_b64: NotRequired[str]
    paths_b64: NotRequired[list[str]]
    paths: NotRequired[list[str]]
    organs: NotRequired[list[str]]
    predicted_organs: NotRequired[list[PredictedOrgan]]
    degraded: NotRequired[str]
    providers: NotRequired[dict[str, Any]]
    agreement: NotRequired[str]
    remaining: NotRequired[int | float | None]
    access_token: NotRequired[str | None]  # Plant.id: re-read it free (`plantid refetch`)
    custom_id: NotRequired[int]  # Plant.id: the `--custom-id` sent
    classification_level: NotRequired[str]  # Plant.id: the level asked (`all`, `genus`...)
    refetched_at: NotRequired[str]  # `plantid refetch`: when the answer was read again
    # health (`plantid health`: is_healthy and diseases; `identify --health`: health)
    is_healthy: NotRequired[IsHealthy]
    diseases: NotRequired[list[Disease]]
    health: NotRequired[Health]
    # the herbarium workflow (issue 15): with --group-by folder or --catalog-number
    specimen: NotRequired[str]  # the specimen's folder relative to the argument
    catalog_number: NotRequired[str | None]
    verification: NotRequired[Verification]  # added by `plantid review apply`


def display_path(path: str | os.PathLike[str]) -> str:
    """Printable, unambiguous form of *path*.

    Bytes that are not UTF-8 show as ``\\xNN`` (so two such names stay distinct) and control
    characters (newline, ESC...) are escaped the same way so a name cannot break a log line or
    drive the terminal. Here, not in inputs/, because it is the record's ``path`` field (and
    every message naming a file): one form, used by every step.
    """
    text = os.fsencode(path).decode("utf-8", errors="backslashreplace")
    return text.translate(CONTROL_ESCAPES)


def exact_path(path: str | os.PathLike[str]) -> str | None:
    """``path_b64``: base64 of the path's bytes, when its display form would not reopen it.

    `path` in a record is for people: bytes that are not UTF-8 and control characters (a tab, a
    newline) are escaped as ``\\xNN`` (display_path), and the escaped text names no file.
    `plantid tag` and `plantid report` need the file itself, so such records also carry the
    exact bytes; plain names (nearly all) carry nothing extra."""
    text = os.fspath(path)
    if display_path(text) == text:
        return None
    return base64.b64encode(os.fsencode(text)).decode("ascii")


def with_exact_paths(record: Record, path: Any, members: Any = ()) -> Record:
    """Add ``path_b64`` (and ``paths_b64`` for a specimen's photos) where `path` is lossy."""
    exact = exact_path(path)
    if exact is not None:
        record["path_b64"] = exact
    raws = [exact_path(member) for member in members]
    if any(raw is not None for raw in raws):
        record["paths_b64"] = [
            base64.b64encode(os.fsencode(member)).decode("ascii") for member in members
        ]
    return record


def base_record(index: int, path: str, sha256: str | None, provider: str) -> Record:
    return {
        "schema_version": SCHEMA_VERSION,
        "index": index,
        "path": path,
        "sha256": sha256,
        "status": "error",
        "provider": provider,
        "cached": False,
        "best": None,
        "suggestions": [],
        "is_plant": None,
        "location": None,
        "taken_at": None,
        "model_version": None,
        "identified_at": None,
        "error": None,
    }


def error_record(
    index: int, path: str, sha256: str | None, provider: str, error: PlantidError
) -> Record:
    record = base_record(index, path, sha256, provider)
    record["error"] = error.to_record()
    return record


def answer_record(
    index: int, path: str, sha256: str, stored: dict[str, Any], *, cached: bool, top: int
) -> Record:
    """Build a record from a stored answer (the same dict whether fresh or from the cache)."""
    record = base_record(index, path, sha256, stored["provider"])
    suggestions = stored.get("suggestions") or []
    record["status"] = stored["status"]
    record["cached"] = cached
    record["best"] = stored.get("best")
    record["suggestions"] = suggestions[:top]
    record["is_plant"] = stored.get("is_plant")
    record["location"] = stored.get("location")
    record["taken_at"] = stored.get("taken_at")
    record["model_version"] = stored.get("model_version")
    record["identified_at"] = stored.get("identified_at")
    if "degraded" in stored:  # (each key by name: a TypedDict takes no computed keys)
        record["degraded"] = stored["degraded"]
    if "providers" in stored:
        record["providers"] = stored["providers"]
    if "agreement" in stored:
        record["agreement"] = stored["agreement"]
    if "paths" in stored:
        record["paths"] = stored["paths"]
    if "remaining" in stored:
        record["remaining"] = stored["remaining"]
    if "refetched_at" in stored:
        record["refetched_at"] = stored["refetched_at"]
    extra = stored.get("extra") or {}
    if stored["provider"] == "plantid":  # the service's handle on this identification
        record["access_token"] = extra.get("access_token")
        if "custom_id" in extra:
            record["custom_id"] = extra["custom_id"]
        if "classification_level" in extra:
            record["classification_level"] = extra["classification_level"]
    _add_health(record, stored.get("extra") or {}, top)
    return record


def _add_health(record: Record, extra: dict[str, Any], top: int) -> None:
    """A health assessment's fields (kept in the stored answer's `extra`), `top` diseases."""
    if "is_healthy" in extra:
        record["is_healthy"] = extra["is_healthy"]
        record["diseases"] = list(extra.get("diseases") or [])[:top]
    health = extra.get("health")
    if isinstance(health, dict):
        diseases = list(health.get("diseases") or [])[:top]
        record["health"] = {"is_healthy": health["is_healthy"], "diseases": diseases}


def build_record(
    index: int,
    path: str,
    sha256: str | None,
    provider: str,
    *,
    file: str | os.PathLike[str],
    stored: dict[str, Any] | None = None,
    error: PlantidError | None = None,
    cached: bool = False,
    top: int = 3,
    location: Location | None = None,
    organs: list[str] | None = None,
    predicted_organs: list[PredictedOrgan] | None = None,
    fields: dict[str, Any] | None = None,
    photos: list[str] | None = None,
    photo_files: tuple[str | os.PathLike[str], ...] = (),
    specimen: str | None = None,
    catalog_number: str | None = None,
    numbered: bool = False,
) -> Record:
    """The one record of a unit, whole: the run calls this once per unit and patches nothing.

    An answer (`stored`, shown at `location`, the position under this run's options) or an
    `error` with the combined `fields` (of which an error shows `providers`: what each service
    said when both were asked); `file` is the file or
    specimen folder (``path_b64`` when `path` would not reopen it); a specimen also names its
    `photos` (display forms) and their `photo_files`, and its `specimen` folder; a
    `catalog_number` is given with --group-by folder or (`numbered`) --catalog-number, null
    when none was found.
    """
    if stored is not None:
        assert sha256 is not None, "an answer belongs to a hashed unit"
        record = answer_record(index, path, sha256, stored, cached=cached, top=top)
        record["location"] = location
        if organs is not None and "organs" not in record:
            record["organs"] = organs
        if predicted_organs is not None:
            record["predicted_organs"] = predicted_organs
    else:
        record = base_record(index, path, sha256, provider)
        if error is not None:
            record["error"] = error.to_record()
    if photos is not None:
        record["paths"] = photos
    if specimen is not None:
        record["specimen"] = specimen
        record["catalog_number"] = catalog_number
    elif numbered:
        record["catalog_number"] = catalog_number
    record = with_exact_paths(record, file, list(photo_files))
    if stored is None:
        if fields and "providers" in fields:
            record["providers"] = fields["providers"]
        record["cached"] = cached
    return record


class AnswerFields(Protocol):
    """What a stored answer takes of a provider's `Answer` (providers/base.py), named here so
    that records, a top-level module, imports no step (tests/test_layers.py)."""

    @property
    def status(self) -> str: ...
    @property
    def best(self) -> Suggestion | None: ...
    @property
    def suggestions(self) -> list[Suggestion]: ...
    @property
    def is_plant(self) -> IsPlant | None: ...
    @property
    def model_version(self) -> str | None: ...
    @property
    def extra(self) -> dict[str, Any]: ...


def stored_answer(
    provider: str,
    answer: AnswerFields,
    location: Location | None,
    taken_at: str | None,
) -> dict[str, Any]:
    """What goes into the cache: JSON only, everything needed to rebuild the record later."""
    return {
        "provider": provider,
        "status": answer.status,
        "best": answer.best,
        "suggestions": answer.suggestions,
        "is_plant": answer.is_plant,
        "model_version": answer.model_version,
        "location": location,
        "taken_at": taken_at,
        "extra": answer.extra,
        "identified_at": now_iso(),
    }


def now_iso() -> str:
    from datetime import datetime

    return datetime.now(UTC).isoformat(timespec="seconds")


def plural(count: int, noun: str, many: str | None = None) -> str:
    """`1 record`, `2 records`, `0 records` (`many` for `entry`/`entries`): how every count
    in a message is written (sidecars, the report, status, cache clear), never "1 records"."""
    return f"{count} {noun}" if count == 1 else f"{count} {many or noun + 's'}"
