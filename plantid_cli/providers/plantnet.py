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

from ..errors import BadResponse, ConfigError
from ..redact import register_secret
from .base import Answer, IdentifyRequest, endpoint_param, json_body, send

if TYPE_CHECKING:
    import httpx

    from ..images import PreparedImage

ORGANS = ("leaf", "flower", "fruit", "bark", "auto")
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
        from ..config import DEFAULT_PLANTNET_URL

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
        return self.parse(json_body(self.name, response), organs)

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
        """Normalise the v2 answer; any missing key is the service's fault (BadResponse)."""
        try:
            suggestions = [_suggestion(item) for item in data["results"]]
            remaining = data.get("remainingIdentificationRequests")
            predicted = [item.get("organ") for item in data.get("predictedOrgans") or []]
            answer = Answer(
                status="ok",
                best=suggestions[0] if suggestions else None,
                suggestions=suggestions,
                is_plant={"probability": None, "binary": True},
                model_version=data.get("version"),
                extra={
                    "organs": organs,
                    "predicted_organs": predicted,
                    "project": (data.get("query") or {}).get("project"),
                    "referential": data.get("preferedReferential"),
                },
                remaining=None if remaining is None else int(remaining),
            )
        except (KeyError, TypeError, IndexError, ValueError, AttributeError) as exc:
            raise BadResponse(
                f"plantnet: answer without the expected fields ({type(exc).__name__}: {exc})"
            ) from None
        return answer


POWO_TAXON_URL = "https://powo.science.kew.org/taxon/urn:lsid:ipni.org:names:"


def _language(request: IdentifyRequest) -> str:
    """Pl@ntNet takes one `lang`; the first of a Plant.id-style list such as "en,de"."""
    return (request.language or "en").split(",")[0].strip() or "en"


def _suggestion(item: dict[str, Any]) -> dict[str, Any]:
    """The same suggestion shape as Plant.id's: plain binomial in `scientific_name`."""
    species = item["species"]
    name = species["scientificNameWithoutAuthor"]
    genus = (species.get("genus") or {}).get("scientificNameWithoutAuthor")
    family = (species.get("family") or {}).get("scientificNameWithoutAuthor")
    gbif = (item.get("gbif") or {}).get("id")
    powo = (item.get("powo") or {}).get("id")
    return {
        "scientific_name": name,
        "authorship": species.get("scientificNameAuthorship") or None,
        "probability": round(float(item["score"]), 6),
        "common_names": list(species.get("commonNames") or []),
        "family": family or None,
        "genus": genus or (name.split(" ")[0] if name else None),
        "gbif_id": _gbif_id(gbif),
        "rank": "species",
        # Plants of the World Online (Kew) page of the `powo.id` Pl@ntNet gives with each result
        "url": f"{POWO_TAXON_URL}{powo}" if powo else None,
    }


def _gbif_id(value: Any) -> int | None:
    """Pl@ntNet gives GBIF ids as strings, Plant.id as numbers: records keep one type (int)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
