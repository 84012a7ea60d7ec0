"""Plant.id v3 (Kindwise): JSON request with base64 images; answer -> normalised Answer.

Shapes follow the documented protocol (docs and the official SDK): `POST /identification`,
header `Api-Key`, 201 with the identification object. The key never goes into a URL.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from ..errors import BadResponse
from .base import Answer, IdentifyRequest, endpoint_param, json_body, send

if TYPE_CHECKING:
    import httpx

    from ..images import PreparedImage


class PlantIdProvider:
    name = "plantid"
    api_version = "v3"

    def __init__(self, api_url: str, api_key: str) -> None:
        self.api_url = api_url.rstrip("/")
        self.api_key = api_key

    def cache_params(self, request: IdentifyRequest) -> dict[str, Any]:
        from ..config import DEFAULT_API_URL

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
        params = {"language": request.language}
        if request.details:
            params["details"] = ",".join(request.details)
        response = send(
            client,
            self.name,
            "POST",
            f"{self.api_url}/identification",
            params=params,
            json=self.build_body(images, request, position, taken_at),
            headers={"Api-Key": self.api_key},
        )
        return self.parse(json_body(self.name, response))

    def parse(self, data: Any) -> Answer:
        """Normalise the identification object; any missing key is the service's fault."""
        try:
            result = data["result"]
            is_plant = result["is_plant"]
            raw_suggestions = result["classification"]["suggestions"]
            suggestions = [_suggestion(item) for item in raw_suggestions]
            plant = bool(is_plant["binary"])
            answer = Answer(
                status="ok" if plant else "not_plant",
                best=suggestions[0] if plant and suggestions else None,
                suggestions=suggestions,
                is_plant={"probability": float(is_plant["probability"]), "binary": plant},
                model_version=data.get("model_version"),
                extra={"access_token": data.get("access_token")},
            )
        except (KeyError, TypeError, IndexError, ValueError) as exc:
            raise BadResponse(
                f"plantid: answer without the expected fields ({type(exc).__name__}: {exc})"
            ) from None
        return answer


def _suggestion(item: dict[str, Any]) -> dict[str, Any]:
    details = item.get("details") or {}
    taxonomy = details.get("taxonomy") or {}
    name = item["name"]
    genus = taxonomy.get("genus") or (name.split(" ")[0] if name else None)
    return {
        "scientific_name": name,
        "probability": round(float(item["probability"]), 6),
        "common_names": list(details.get("common_names") or []),
        "family": taxonomy.get("family"),
        "genus": genus,
        "gbif_id": details.get("gbif_id"),
        "rank": details.get("rank"),
        "url": details.get("url"),
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
    if not isinstance(data, dict):
        raise BadResponse("plantid: usage_info answer is not an object")
    return data
