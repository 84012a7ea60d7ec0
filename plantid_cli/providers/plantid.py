"""Plant.id v3 (Kindwise): JSON request with base64 images; answer -> normalised Answer.

Shapes follow the documented protocol (docs and the official SDK): `POST /identification`,
header `Api-Key`, 201 with the identification object. The key never goes into a URL.
"""

from __future__ import annotations

import base64
import math
from typing import TYPE_CHECKING, Any

from plantid_cli.constants import (
    CLASSIFICATION_LEVELS,
    CREDITS_IDENTIFY,
    DEFAULT_API_URL,
    DEFAULT_DETAILS,
)
from plantid_cli.errors import (
    AuthError,
    BadResponse,
    ConfigError,
    PlantidError,
    RequestRejected,
    UnusableAnswer,
)
from plantid_cli.providers import validate as v
from plantid_cli.providers.base import Answer, IdentifyRequest, endpoint_param, json_body, send
from plantid_cli.providers.http import new_client
from plantid_cli.providers.plantid_parse import parse_identification
from plantid_cli.providers.validate import charged_answer

if TYPE_CHECKING:
    import threading

    import httpx

    from plantid_cli.images.prepare import PreparedImage


#: The default details until issue 14 (cache keys of answers bought then carry these).
DETAILS_BEFORE_ISSUE_14 = ("common_names", "taxonomy", "gbif_id", "url", "rank", "inaturalist_id")


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
        """Everything that changes the answer: a level other than the default and a custom id
        are keyed only when given, so that the keys of plain runs stay as they were."""
        params: dict[str, Any] = {
            "location": request.location_mode(),
            "language": ",".join(request.languages),
            "details": sorted(request.details),
            "similar_images": request.similar_images,
            **endpoint_param(self.api_url, DEFAULT_API_URL),
        }
        if request.classification_level != CLASSIFICATION_LEVELS[0]:
            params["classification_level"] = request.classification_level
        if request.custom_id is not None:
            params["custom_id"] = request.custom_id
        return params

    def sibling_cache_params(self, request: IdentifyRequest) -> list[dict[str, Any]]:
        """Cache parameters of answers to the same identification (same photo, position,
        level, similar images, custom id) with other details or languages, most likely first:
        the default details in English, in this request's languages, in its first language,
        then this request's details likewise, then the default details before issue 14 widened
        them. run/reread.py re-reads such an answer by its token instead of buying it again."""
        own = self.cache_params(request)
        languages = ["en", own["language"], request.languages[0]]
        details = [sorted(DEFAULT_DETAILS), own["details"]]
        if request.classification_level == CLASSIFICATION_LEVELS[0] and request.custom_id is None:
            details.append(sorted(DETAILS_BEFORE_ISSUE_14))  # keys without level/custom id
        found: list[dict[str, Any]] = []
        for names in details:
            for language in languages:
                params = {**own, "details": names, "language": language}
                if params != own and params not in found:
                    found.append(params)
        return found

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
        if request.classification_level != CLASSIFICATION_LEVELS[0]:
            body["classification_level"] = request.classification_level
        if request.custom_id is not None:
            body["custom_id"] = request.custom_id
        return body

    def query(self, request: IdentifyRequest) -> dict[str, str]:
        """The query of an identification and of its free re-read: details and languages."""
        params = {"language": ",".join(request.languages)}
        if request.details:
            params["details"] = ",".join(request.details)
        return params

    def identify(
        self,
        client: httpx.Client,
        images: list[PreparedImage],
        request: IdentifyRequest,
        position: tuple[float, float] | None,
        taken_at: str | None,
    ) -> Answer:
        params = self.query(request)
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
        return parse_identification(data)

    def refetch(self, client: httpx.Client, token: str, request: IdentifyRequest) -> Answer:
        """The free `GET /identification/{token}` with this request's details and languages:
        a stored identification read again (`plantid refetch`). Never a charge: a GET."""
        if not v.valid_token(token):
            raise BadResponse(f"plantid: {token!r} is not an access token")
        url = f"{self.api_url}/identification/{token}"
        try:
            response = send(
                client, self.name, "GET", url, params=self.query(request),
                headers={"Api-Key": self.api_key},
            )  # fmt: skip
        except ConfigError as exc:
            if not isinstance(exc, AuthError) and "HTTP 404" in exc.message:
                raise RequestRejected(  # not the URL setting: the service keeps them 6 months
                    f"plantid: no identification {token} at the service (HTTP 404); "
                    "identifications are kept for 6 months",
                    reason="not-found",
                ) from None
            raise
        return parse_identification(json_body(self.name, response))


def fetch_usage(
    api_url: str,
    api_key: str,
    timeout: float,
    client: httpx.Client | None = None,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """GET /usage_info (free): credit limits, use and what remains, within `timeout` seconds.

    `client`: a run's own client, so that the connection this opens (for the service, its TLS
    handshake) carries the run's first upload too; without one, a client of its own. `stop`:
    the run's, which gives the call up at once (a timeout) when it is set."""
    if client is None:
        with new_client(timeout) as own:
            return fetch_usage(api_url, api_key, timeout, own, stop)
    response = send(
        client,
        "plantid",
        "GET",
        f"{api_url.rstrip('/')}/usage_info",
        headers={"Api-Key": api_key},
        timeout=timeout,
        stop=stop,
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
