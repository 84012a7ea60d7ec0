"""Pl@ntNet v2: multipart upload (one `images` + one `organs` part per photo) -> Answer.

Protocol (docs/reference): `POST {api_url}/identify/{project}?api-key=KEY`, 1-5 photos of one
plant. Two things differ from Plant.id and are handled here, not in the engine:

* the key rides in the URL. It goes nowhere but the `api-key` query parameter, it is registered
  with `redact` so no log line, error message or exception text can carry it, and `send()`
  redacts transport-error texts (httpx puts the URL in some of them);
* "404 Species not found" is Pl@ntNet's way of saying "not a plant": a result (status
  `not_plant`, charged against the quota), never a failure and never a breaker hit.

`--top N` is sent as `nb-results=N`. A stored answer holds as many results as it was asked for;
`serves` lets a cached answer asked for more (or one that came back with fewer than asked: all
the service had) answer a request for fewer, so a smaller `--top` never buys a photo again.
The daily quota comes back with every answer (`remainingIdentificationRequests`, and the
`RateLimit`/`RateLimit-Policy` headers): `Answer.remaining`/`quota`, kept per account.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any, TypedDict

from plantid_cli.constants import DEFAULT_PLANTNET_URL
from plantid_cli.errors import BadResponse, ConfigError
from plantid_cli.providers import validate as v
from plantid_cli.providers.base import Answer, IdentifyRequest, endpoint_param, json_body, send
from plantid_cli.providers.names import genus_of, is_hybrid, name_rank
from plantid_cli.providers.validate import charged_answer
from plantid_cli.redact import register_secret

if TYPE_CHECKING:
    import httpx

    from plantid_cli.images.prepare import PreparedImage
    from plantid_cli.records import PredictedOrgan, RelatedImage, Suggestion


class Project(TypedDict):
    """One flora of `plantid projects` (README "Commands")."""

    id: str
    title: str | None
    description: str | None
    species: int | None


#: What every request asked for before `--top` was sent (`nb-results=10`): a cached answer
#: that does not say how many results it asked for was asked for this many.
LEGACY_NB_RESULTS = 10


class PlantNetProvider:
    name = "plantnet"
    api_version = "v2"

    def __init__(self, api_url: str, api_key: str) -> None:
        self.api_url = api_url.rstrip("/")
        self.api_key = api_key
        register_secret(api_key)  # a library caller may never have gone through cli.load()

    def cache_params(self, request: IdentifyRequest) -> dict[str, Any]:
        """Everything Pl@ntNet's answer depends on. No location: Pl@ntNet is never sent one."""
        return {
            "organs": list(request.organs),
            "project": request.project,
            "language": _language(request),
            **endpoint_param(self.api_url, DEFAULT_PLANTNET_URL),
        }

    def serves(self, stored: dict[str, Any], request: IdentifyRequest) -> bool:
        """Whether a cached answer holds what `request` asks: at least `nb_results` results,
        or every result the service had (it sent fewer than it was asked for), and the related
        images when they are asked for. (Neither is in the cache key: an answer that holds
        more serves a request for less, and is never bought again for it.)"""
        if stored.get("status") != "ok":  # not a plant, an unusable paid answer: final
            return True
        extra = stored.get("extra") or {}
        if request.related_images and extra.get("related_images") is not True:
            return False
        asked = extra.get("nb_results", LEGACY_NB_RESULTS)
        if not isinstance(asked, int) or isinstance(asked, bool):
            asked = LEGACY_NB_RESULTS
        return asked >= request.nb_results or len(stored.get("suggestions") or []) < asked

    def organs_for(self, request: IdentifyRequest, count: int) -> list[str]:
        """One organ per photo, same order; a single value is repeated for every photo."""
        organs = list(request.organs) or ["auto"]
        if len(organs) == 1:
            organs = organs * count
        if len(organs) != count:
            raise ValueError(f"{len(organs)} organs for {count} photos")
        return organs

    def identify(
        self,
        client: httpx.Client,
        images: list[PreparedImage],
        request: IdentifyRequest,
        position: tuple[float, float] | None,
        taken_at: str | None,
    ) -> Answer:
        """One identification of 1-5 photos of one plant (position and date are not sent)."""
        organs = self.organs_for(request, len(images))
        files = [
            ("images", (f"image{n}.jpg", io.BytesIO(image.jpeg), "image/jpeg"))
            for n, image in enumerate(images)
        ]
        params = {
            "api-key": self.api_key,
            "lang": _language(request),
            "nb-results": str(request.nb_results),
        }
        if request.related_images:
            params["include-related-images"] = "true"
        try:
            response = send(
                client,
                self.name,
                "POST",
                f"{self.api_url}/identify/{request.project}",
                params=params,
                files=files,
                data={"organs": organs},
            )
        except ConfigError as exc:
            # base.classify_http_error reads every 404 as a wrong URL; Pl@ntNet's "Species not
            # found" 404 is an answer. Any other 404 (unknown project, wrong URL) stays an error.
            if "species not found" in exc.message.lower():
                answer = self.not_plant(organs, request.project)
                # charged all the same: the quota the headers report goes to `usage`
                answer.quota = rate_limit_quota(getattr(exc, "headers", None) or {})
                answer.remaining = (answer.quota or {}).get("remaining")
                return answer
            if "HTTP 404" in exc.message:
                # the flora is the likelier mistake: the same URL answers every other project
                raise ConfigError(
                    f"{exc.message.partition(';')[0]} for flora {request.project!r}: not a"
                    " project this service has (`plantid projects` lists them), or a wrong"
                    " API URL setting"
                ) from None
            raise
        answer = charged_answer(
            self.name,
            response,
            lambda data: self.parse(data, organs, request.nb_results, request.related_images),
        )
        answer.quota = rate_limit_quota(response.headers)
        if answer.remaining is None and answer.quota:
            answer.remaining = answer.quota.get("remaining")
        return answer

    def not_plant(self, organs: list[str], project: str) -> Answer:
        return Answer(
            status="not_plant",
            best=None,
            suggestions=[],
            is_plant={"probability": None, "binary": False},
            model_version=None,
            extra={"organs": organs, "project": project},
        )

    def parse(
        self,
        data: Any,
        organs: list[str],
        nb_results: int = LEGACY_NB_RESULTS,
        related_images: bool = False,
    ) -> Answer:
        """Normalise the v2 answer, checking every type a record relies on (BadResponse)."""
        data = v.mapping(data, "answer")
        raw = v.items(data.get("results"), "results")
        suggestions = [_suggestion(item) for item in raw[: v.MAX_SUGGESTIONS_KEPT]]
        remaining = v.or_none(v.count, data.get("remainingIdentificationRequests"), "remaining")
        query = v.or_none(v.optional_mapping, data.get("query"), "query") or {}
        return Answer(
            status="ok",
            best=suggestions[0] if suggestions else None,
            suggestions=suggestions,
            is_plant={"probability": None, "binary": True},
            model_version=v.or_none(v.optional_text, data.get("version"), "version"),
            extra={
                "organs": organs,
                "predicted_organs": predicted_organs(data.get("predictedOrgans")),
                "nb_results": nb_results,
                "related_images": related_images,
                "project": v.or_none(v.optional_text, query.get("project"), "project"),
                "referential": v.or_none(
                    v.optional_text, data.get("preferedReferential"), "preferedReferential"
                ),
            },
            remaining=remaining,
        )


POWO_TAXON_URL = "https://powo.science.kew.org/taxon/urn:lsid:ipni.org:names:"


def _language(request: IdentifyRequest) -> str:
    """Pl@ntNet takes one `lang`; the first of a Plant.id-style list such as "en,de"."""
    return (request.language or "en").split(",")[0].strip() or "en"


def _suggestion(item: Any) -> Suggestion:
    """The same suggestion shape as Plant.id's: the name without its author in
    `scientific_name`, its author in `authorship`, and the rank the name's form shows (with
    `hybrid` beside it: Pl@ntNet says neither)."""
    item = v.mapping(item, "result")
    species = v.mapping(item.get("species"), "result.species")
    name = v.text(species.get("scientificNameWithoutAuthor"), "species.scientificNameWithoutAuthor")
    genus = _taxon(species.get("genus"), "species.genus")
    family = _taxon(species.get("family"), "species.family")
    gbif = v.optional_mapping(item.get("gbif"), "result.gbif").get("id")
    powo = v.optional_mapping(item.get("powo"), "result.powo").get("id")
    if powo is not None and (isinstance(powo, bool) or not isinstance(powo, str | int)):
        raise BadResponse(f"powo.id is {type(powo).__name__}, not an id")
    authorship = v.optional_text(
        species.get("scientificNameAuthorship"), "species.scientificNameAuthorship"
    )
    suggestion: Suggestion = {
        "scientific_name": name,
        "authorship": authorship or None,
        "probability": round(v.probability(item.get("score"), "result.score"), 6),
        "common_names": v.texts(species.get("commonNames"), "species.commonNames"),
        "family": family or None,
        "genus": genus or genus_of(name),
        "gbif_id": _gbif_id(gbif),
        "rank": name_rank(name),
        "hybrid": is_hybrid(name),
        # Plants of the World Online (Kew) page of the `powo.id` Pl@ntNet gives with each result
        "url": f"{POWO_TAXON_URL}{powo}" if powo else None,
        "iucn_category": _iucn_category(item.get("iucn")),
    }
    if "images" in item:  # asked for with include-related-images=true
        suggestion["related_images"] = related_images(item.get("images"))
    return suggestion


def _iucn_category(value: Any) -> str | None:
    """`iucn.category` (LC, NT, VU, EN, CR, EW, EX, DD, NE) when the service gives one: a
    damaged value is dropped (None), never a reason to lose the paid answer."""
    if not isinstance(value, dict):
        return None
    category = v.or_none(v.optional_text, value.get("category"), "iucn.category")
    return (category.strip() or None) if category else None


def related_images(value: Any) -> list[RelatedImage]:
    """The reference photos Pl@ntNet shows for a result (`images`, with
    include-related-images=true): `url` (original), `url_medium`, `url_small`, organ, author,
    licence, citation and date. Entries without an original URL are skipped."""
    out: list[RelatedImage] = []
    for entry in value if isinstance(value, list) else []:
        if not isinstance(entry, dict):
            continue
        found = entry.get("url")
        urls: dict[str, Any] = found if isinstance(found, dict) else {}
        original = _opt_text(urls.get("o"))
        if not original:
            continue
        out.append({
            "url": original,
            "url_medium": _opt_text(urls.get("m")),
            "url_small": _opt_text(urls.get("s")),
            "organ": _opt_text(entry.get("organ")),
            "author": _opt_text(entry.get("author")),
            "license": _opt_text(entry.get("license")),
            "citation": _opt_text(entry.get("citation")),
            "date": _image_date(entry.get("date")),
        })  # fmt: skip
    return out


def _opt_text(value: Any) -> str | None:
    return v.or_none(v.optional_text, value, "text") or None


def _image_date(value: Any) -> str | None:
    """`date.timestamp` (milliseconds since 1970) as an ISO 8601 date, else None."""
    stamp = value.get("timestamp") if isinstance(value, dict) else None
    if isinstance(stamp, bool) or not isinstance(stamp, int | float):
        return None
    from datetime import UTC, datetime

    try:
        return datetime.fromtimestamp(stamp / 1000, UTC).date().isoformat()
    except (OverflowError, OSError, ValueError):
        return None


def predicted_organs(value: Any) -> list[PredictedOrgan]:
    """`predictedOrgans`: the organ the service saw in each photo, with its score, in upload
    order. Metadata beside the paid answer: a damaged entry reads as nulls, never an error."""
    out: list[PredictedOrgan] = []
    for entry in value if isinstance(value, list) else []:
        entry = entry if isinstance(entry, dict) else {}
        score = v.or_none(v.probability, entry.get("score"), "predictedOrgans.score")
        out.append({
            "organ": _opt_text(entry.get("organ")),
            "score": None if score is None else round(score, 6),
        })  # fmt: skip
    return out


def rate_limit_quota(headers: Any) -> dict[str, Any] | None:
    """The daily quota from `RateLimit-Policy: "dailyQuota";q=500;w=86400` and
    `RateLimit: "dailyQuota";r=497;t=3600` (IETF draft; Pl@ntNet's "Quota" documentation):
    {"limit", "remaining", "resets_in"} (seconds), or None when neither header says."""
    policy = _header_fields(headers.get("RateLimit-Policy"))
    state = _header_fields(headers.get("RateLimit"))
    quota = {"limit": policy.get("q"), "remaining": state.get("r"), "resets_in": state.get("t")}
    return quota if any(value is not None for value in quota.values()) else None


def _header_fields(value: str | None) -> dict[str, int]:
    fields: dict[str, int] = {}
    for part in (value or "").split(";")[1:]:
        name, _, number = part.strip().partition("=")
        if number.isdigit() and len(number) <= 12:
            fields[name.strip()] = int(number)
    return fields


def _taxon(value: Any, where: str) -> str | None:
    """`genus` / `family`: an object whose plain name may be absent."""
    taxon = v.optional_mapping(value, where)
    return v.optional_text(taxon.get("scientificNameWithoutAuthor"), f"{where}.name")


def _gbif_id(value: Any) -> int | None:
    """Pl@ntNet gives GBIF ids as strings, Plant.id as numbers: records keep one type (int)."""
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: 1e999 reads as infinity
        return None


def fetch_projects(
    client: httpx.Client,
    api_url: str,
    api_key: str,
    *,
    latitude: float | None = None,
    longitude: float | None = None,
    language: str = "en",
) -> list[Project]:
    """`GET /v2/projects` (free: no quota): the floras, or with a position those covering it.
    Each {id, title, description, species}; the ids are what `--project` takes."""
    params: dict[str, str] = {"api-key": api_key, "lang": language}
    if latitude is not None and longitude is not None:
        params.update(lat=f"{latitude:.6f}", lon=f"{longitude:.6f}")
    response = send(client, "plantnet", "GET", f"{api_url.rstrip('/')}/projects", params=params)
    try:
        return [_project(item) for item in v.items(json_body("plantnet", response), "projects")]
    except BadResponse as exc:
        raise BadResponse(f"plantnet: the projects answer cannot be used ({exc.message})") from None


def _project(item: Any) -> Project:
    item = v.mapping(item, "project")
    species = item.get("species")
    return {
        "id": v.text(item.get("id"), "project.id"),
        "title": v.optional_text(item.get("title"), "project.title"),
        "description": v.optional_text(item.get("description"), "project.description"),
        "species": v.or_none(v.count, species, "project.species"),
    }
