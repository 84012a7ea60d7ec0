"""Pl@ntNet v2: multipart upload (one `images` + one `organs` part per photo) -> Answer.

Protocol (docs/reference): `POST {api_url}/identify/{project}?api-key=KEY`, 1-5 photos of one
plant. Two things differ from Plant.id and are handled here, not in the engine:

* the key rides in the URL. It goes nowhere but the `api-key` query parameter, it is registered
  with `redact` so no log line, error message or exception text can carry it, and `send()`
  redacts transport-error texts (httpx puts the URL in some of them);
* "404 Species not found" is Pl@ntNet's way of saying "not a plant": a result (status
  `not_plant`, charged against the quota), never a failure and never a breaker hit.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from plantid_cli.constants import DEFAULT_PLANTNET_URL
from plantid_cli.errors import BadResponse, ConfigError
from plantid_cli.providers import validate as v
from plantid_cli.providers.base import Answer, IdentifyRequest, endpoint_param, send
from plantid_cli.providers.validate import charged_answer
from plantid_cli.redact import register_secret

if TYPE_CHECKING:
    import httpx

    from plantid_cli.images.prepare import PreparedImage
    from plantid_cli.records import Suggestion

NB_RESULTS = 10


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
            "nb-results": str(NB_RESULTS),
        }
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
                return self.not_plant(organs, request.project)
            raise
        return charged_answer(self.name, response, lambda data: self.parse(data, organs))

    def not_plant(self, organs: list[str], project: str) -> Answer:
        return Answer(
            status="not_plant",
            best=None,
            suggestions=[],
            is_plant={"probability": None, "binary": False},
            model_version=None,
            extra={"organs": organs, "project": project},
        )

    def parse(self, data: Any, organs: list[str]) -> Answer:
        """Normalise the v2 answer, checking every type a record relies on (BadResponse)."""
        data = v.mapping(data, "answer")
        raw = v.items(data.get("results"), "results")
        suggestions = [_suggestion(item) for item in raw[: v.MAX_SUGGESTIONS_KEPT]]
        remaining = v.or_none(v.count, data.get("remainingIdentificationRequests"), "remaining")
        organs_seen = v.or_none(v.items, data.get("predictedOrgans") or [], "predictedOrgans")
        predicted = [
            v.or_none(v.optional_text, item.get("organ"), "organ")
            if isinstance(item, dict)
            else None
            for item in organs_seen or []
        ]
        query = v.or_none(v.optional_mapping, data.get("query"), "query") or {}
        return Answer(
            status="ok",
            best=suggestions[0] if suggestions else None,
            suggestions=suggestions,
            is_plant={"probability": None, "binary": True},
            model_version=v.or_none(v.optional_text, data.get("version"), "version"),
            extra={
                "organs": organs,
                "predicted_organs": predicted,
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
    """The same suggestion shape as Plant.id's: plain binomial in `scientific_name`."""
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
    return {
        "scientific_name": name,
        "authorship": authorship or None,
        "probability": round(v.probability(item.get("score"), "result.score"), 6),
        "common_names": v.texts(species.get("commonNames"), "species.commonNames"),
        "family": family or None,
        "genus": genus or name.split(" ")[0],
        "gbif_id": _gbif_id(gbif),
        "rank": "species",
        # Plants of the World Online (Kew) page of the `powo.id` Pl@ntNet gives with each result
        "url": f"{POWO_TAXON_URL}{powo}" if powo else None,
    }


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
