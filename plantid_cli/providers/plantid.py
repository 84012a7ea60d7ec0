"""Plant.id v3 (Kindwise): JSON request with base64 images; answer -> normalised Answer.

Shapes follow the documented protocol (docs and the official SDK): `POST /identification`,
header `Api-Key`, 201 with the identification object. The key never goes into a URL.
"""

from __future__ import annotations

import base64
import math
from typing import TYPE_CHECKING, Any

from plantid_cli.constants import CREDITS_IDENTIFY, DEFAULT_API_URL
from plantid_cli.errors import BadResponse, PlantidError, UnusableAnswer
from plantid_cli.providers import validate as v
from plantid_cli.providers.base import Answer, IdentifyRequest, endpoint_param, json_body, send
from plantid_cli.providers.validate import charged_answer

if TYPE_CHECKING:
    import httpx

    from plantid_cli.images.prepare import PreparedImage
    from plantid_cli.records import Suggestion


class PlantIdProvider:
    name = "plantid"
    api_version = "v3"
    #: The path a unit is POSTed to, and what one answer costs (kindwise.com/faq); the health
    #: variants (providers/plantid_health.py) change these two and the shapes.
    endpoint = "identification"
    credits_per_call = CREDITS_IDENTIFY

    def __init__(self, api_url: str, api_key: str) -> None:
        self.api_url = api_url.rstrip("/")
        self.api_key = api_key

    def cache_params(self, request: IdentifyRequest) -> dict[str, Any]:
        return {
            "location": request.location_mode(),
            "language": request.language,
            "details": sorted(request.details),
            "similar_images": request.similar_images,
            **endpoint_param(self.api_url, DEFAULT_API_URL),
        }

    def build_body(
        self,
        images: list[PreparedImage],
        request: IdentifyRequest,
        position: tuple[float, float] | None,
        taken_at: str | None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "images": [base64.b64encode(image.jpeg).decode("ascii") for image in images],
            "similar_images": request.similar_images,
        }
        if position is not None:
            body["latitude"], body["longitude"] = position
        if taken_at:
            body["datetime"] = taken_at
        return body

    def identify(
        self,
        client: httpx.Client,
        images: list[PreparedImage],
        request: IdentifyRequest,
        position: tuple[float, float] | None,
        taken_at: str | None,
    ) -> Answer:
        params = self.query_params(request)
        url = f"{self.api_url}/{self.endpoint}"
        headers = {"Api-Key": self.api_key}
        body = self.build_body(images, request, position, taken_at)
        try:  # a 2xx cut short (send) or unusable (charged_answer): re-read by its token
            response = send(
                client, self.name, "POST", url, params=params, json=body, headers=headers
            )
            return charged_answer(self.name, response, self.parse)
        except UnusableAnswer as exc:
            if exc.access_token is None:
                raise
            return self._reread(client, exc, params, headers)

    def query_params(self, request: IdentifyRequest) -> dict[str, Any]:
        params = {"language": request.language}
        if request.details:
            params["details"] = ",".join(request.details)
        return params

    def _reread(
        self,
        client: httpx.Client,
        exc: UnusableAnswer,
        params: dict[str, Any],
        headers: dict[str, str],
    ) -> Answer:
        """The free `GET /identification/{token}`, once: the paid answer read again. Any
        failure of it (an outage, a bad answer again) gives up with the original answer, so
        the POST is never retried (`exc` is what the engine stores)."""
        url = f"{self.api_url}/identification/{exc.access_token}"
        try:
            response = send(client, self.name, "GET", url, params=params, headers=headers)
            return charged_answer(self.name, response, self.parse)
        except PlantidError:
            raise exc from None

    def parse(self, data: Any) -> Answer:
        """Normalise the identification object, checking every type a record relies on."""
        data = v.mapping(data, "answer")
        result = v.mapping(data.get("result"), "result")
        is_plant = v.mapping(result.get("is_plant"), "result.is_plant")
        classification = v.mapping(result.get("classification"), "result.classification")
        raw = v.items(classification.get("suggestions"), "suggestions")
        suggestions = [_suggestion(item) for item in raw[: v.MAX_SUGGESTIONS_KEPT]]
        plant = v.flag(is_plant.get("binary"), "is_plant.binary")
        probability = v.probability(is_plant.get("probability"), "is_plant.probability")
        token = v.or_none(v.optional_text, data.get("access_token"), "access_token")
        return Answer(
            status="ok" if plant else "not_plant",
            best=suggestions[0] if plant and suggestions else None,
            suggestions=suggestions,
            is_plant={"probability": probability, "binary": plant},
            model_version=v.or_none(v.optional_text, data.get("model_version"), "model_version"),
            extra={"access_token": token},
        )


def _suggestion(item: Any) -> Suggestion:
    item = v.mapping(item, "suggestion")
    details = v.optional_mapping(item.get("details"), "suggestion.details")
    taxonomy = v.optional_mapping(details.get("taxonomy"), "details.taxonomy")
    name = v.text(item.get("name"), "suggestion.name")
    gbif = details.get("gbif_id")
    if gbif is not None and (isinstance(gbif, bool) or not isinstance(gbif, int)):
        raise BadResponse(f"details.gbif_id is {type(gbif).__name__}, not a number")
    return {
        "scientific_name": name,
        "probability": round(v.probability(item.get("probability"), "suggestion.probability"), 6),
        "common_names": v.texts(details.get("common_names"), "details.common_names"),
        "family": v.optional_text(taxonomy.get("family"), "taxonomy.family"),
        "genus": v.optional_text(taxonomy.get("genus"), "taxonomy.genus") or name.split(" ")[0],
        "gbif_id": gbif,
        "rank": v.optional_text(details.get("rank"), "details.rank"),
        "url": v.optional_text(details.get("url"), "details.url"),
    }


def fetch_usage(api_url: str, api_key: str, timeout: float) -> dict[str, Any]:
    """GET /usage_info (free): credit limits, use and what remains."""
    import httpx

    with httpx.Client(timeout=timeout, trust_env=False) as client:
        response = send(
            client,
            "plantid",
            "GET",
            f"{api_url.rstrip('/')}/usage_info",
            headers={"Api-Key": api_key},
        )
        data = json_body("plantid", response)
    try:
        return usage_info(data)
    except BadResponse as exc:
        raise BadResponse(f"plantid: usage_info answer cannot be used ({exc.message})") from None


USAGE_PERIODS = ("day", "week", "month", "total")


def usage_info(data: Any) -> dict[str, Any]:
    """The usage_info answer with its types checked: counts are numbers or null (a whole
    float such as `86.0`, which the real service sends, reads as the int 86), so callers can
    compare them without guessing."""
    info = dict(v.mapping(data, "answer"))
    for name in ("credit_limits", "used", "remaining"):
        counts = v.optional_mapping(info.get(name), name)
        info[name] = {period: _credits(counts.get(period), name) for period in USAGE_PERIODS}
    can_use = v.optional_mapping(info.get("can_use_credits"), "can_use_credits")
    value = can_use.get("value", True)
    info["can_use_credits"] = {
        "value": v.flag(value, "can_use_credits.value"),
        "reason": v.optional_text(can_use.get("reason"), "can_use_credits.reason"),
    }
    return info


def _credits(value: Any, where: str) -> int | float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadResponse(f"{where} holds {type(value).__name__}, not a number")
    if not math.isfinite(value) or value < 0:
        raise BadResponse(f"{where} holds {value!r}, not a count")
    return int(value) if value == int(value) else value
