"""Plant.id's health assessment: `POST /health_assessment` (`plantid health`) and an
identification sent with `health: "all"` (`plantid identify --health`).

Both are Plant.id calls on the same account (name "plantid": the same key, breaker, rate limit
and credits state), so they subclass PlantIdProvider and change only what differs: the path,
the body, the query's details, what one answer costs, the cache parameters and the shape read.
Costs are the service's (kindwise.com/faq, "Credits and pricing"): an identification is one
credit and health assessment "another credit", so an identification with health is two and a
health assessment alone is one. The cache parameters name the task, so a health assessment is
never served from an identification's entry, nor an identification with health from one
without (or the other way round).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from plantid_cli.constants import CREDITS_HEALTH, CREDITS_IDENTIFY, DEFAULT_HEALTH_DETAILS
from plantid_cli.errors import BadResponse
from plantid_cli.providers import validate as v
from plantid_cli.providers.base import Answer, IdentifyRequest
from plantid_cli.providers.plantid import PlantIdProvider

if TYPE_CHECKING:
    from plantid_cli.images.prepare import PreparedImage
    from plantid_cli.records import Disease, Health

#: Disease details that get their own key in a record; every other one asked for lands in the
#: disease's `details` object.
_OWN_KEYS = ("local_name", "common_names", "name", "probability")
#: How deep a detail's JSON may nest (a treatment is {kind: [steps]}: 2 levels).
_MAX_DEPTH = 6


def with_defaults(asked: tuple[str, ...]) -> tuple[str, ...]:
    """The disease details to ask for: the defaults every record's diseases carry (their
    names), then what `--details` / `--disease-details` adds, each once. Adds, never takes
    away, as identify's `--details` does: `--details treatment` had dropped every disease's
    `local_name` and `common_names` (README walk-through, session 19)."""
    return tuple(dict.fromkeys([*DEFAULT_HEALTH_DETAILS, *asked]))


class PlantIdHealthProvider(PlantIdProvider):
    """`POST /health_assessment`: `is_healthy` and `diseases`, no classification."""

    endpoint = "health_assessment"
    credits_per_call = CREDITS_HEALTH
    task = "health_assessment"

    def __init__(self, api_url: str, api_key: str, disease_details: tuple[str, ...] = ()) -> None:
        super().__init__(api_url, api_key)
        self.disease_details = with_defaults(disease_details)

    def cache_params(self, request: IdentifyRequest) -> dict[str, Any]:
        params = super().cache_params(request)
        params.update(task=self.task, details=sorted(self.disease_details))
        return params

    def query(self, request: IdentifyRequest) -> dict[str, str]:
        return {"language": ",".join(request.languages), "details": ",".join(self.disease_details)}

    def parse(self, data: Any) -> Answer:
        data = v.mapping(data, "answer")
        result = v.mapping(data.get("result"), "result")
        is_plant = v.mapping(result.get("is_plant"), "result.is_plant")
        plant = v.flag(is_plant.get("binary"), "is_plant.binary")
        probability = v.probability(is_plant.get("probability"), "is_plant.probability")
        health = health_of(result, self.disease_details)
        return Answer(
            status="ok" if plant else "not_plant",
            best=None,
            suggestions=[],
            is_plant={"probability": probability, "binary": plant},
            model_version=v.or_none(v.optional_text, data.get("model_version"), "model_version"),
            extra={
                "access_token": v.or_none(v.optional_text, data.get("access_token"), "token"),
                "is_healthy": health["is_healthy"],
                "diseases": health["diseases"],
            },
        )


class PlantIdWithHealthProvider(PlantIdProvider):
    """`POST /identification` with `health: "all"`: the identification and a `health` object."""

    credits_per_call = CREDITS_IDENTIFY + CREDITS_HEALTH
    task = "identification+health"

    def __init__(self, api_url: str, api_key: str, disease_details: tuple[str, ...] = ()) -> None:
        super().__init__(api_url, api_key)
        self.disease_details = with_defaults(disease_details)

    def cache_params(self, request: IdentifyRequest) -> dict[str, Any]:
        params = super().cache_params(request)
        params.update(health="all", disease_details=sorted(self.disease_details))
        return params

    def build_body(
        self,
        images: list[PreparedImage],
        request: IdentifyRequest,
        position: tuple[float, float] | None,
        taken_at: str | None,
    ) -> dict[str, Any]:
        body = super().build_body(images, request, position, taken_at)
        body["health"] = "all"
        return body

    def query(self, request: IdentifyRequest) -> dict[str, str]:
        """One `details` list for both (the SDK merges `details` and `disease_details`)."""
        params = super().query(request)
        asked = [*request.details, *self.disease_details]
        params["details"] = ",".join(dict.fromkeys(asked))
        return params

    def parse(self, data: Any) -> Answer:
        answer = super().parse(data)
        result = v.mapping(v.mapping(data, "answer").get("result"), "result")
        answer.extra["health"] = health_of(result, self.disease_details)
        return answer


def health_of(result: dict[str, Any], asked: tuple[str, ...]) -> Health:
    """`is_healthy` and the disease suggestions of a result, every type a record relies on
    checked (a bad one is a BadResponse: the paid answer is stored as unusable). A disease's
    `details` keeps the `asked` disease details only: with `identify --health` one `details`
    list goes to both, and the plant details come back null on every disease."""
    healthy = v.mapping(result.get("is_healthy"), "result.is_healthy")
    disease = v.mapping(result.get("disease"), "result.disease")
    raw = v.items(disease.get("suggestions"), "disease.suggestions")
    return {
        "is_healthy": {
            "probability": round(
                v.probability(healthy.get("probability"), "is_healthy.probability"), 6
            ),
            "binary": v.flag(healthy.get("binary"), "is_healthy.binary"),
        },
        "diseases": [_disease(item, asked) for item in raw[: v.MAX_SUGGESTIONS_KEPT]],
    }


def _disease(item: Any, asked: tuple[str, ...]) -> Disease:
    item = v.mapping(item, "disease suggestion")
    details = v.optional_mapping(item.get("details"), "disease.details")
    extra = {
        name: plain_json(value, f"disease.details.{name}")
        for name, value in details.items()
        if name in asked and name not in _OWN_KEYS
    }
    return {
        "name": v.text(item.get("name"), "disease.name"),
        "probability": round(v.probability(item.get("probability"), "disease.probability"), 6),
        "local_name": v.optional_text(details.get("local_name"), "disease.local_name"),
        "common_names": v.texts(details.get("common_names"), "disease.common_names"),
        "details": extra,
    }


def plain_json(value: Any, where: str, depth: int = 0) -> Any:
    """A detail's JSON as it came (texts, lists, objects), checked to be plain and finite so
    that it can always be stored and printed."""
    if depth > _MAX_DEPTH:
        raise BadResponse(f"{where} nests deeper than {_MAX_DEPTH} levels")
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise BadResponse(f"{where} is {value!r}, not a number")
        return value
    if isinstance(value, str):
        return v.optional_text(value, where)
    if isinstance(value, list):
        return [plain_json(entry, f"{where}[]", depth + 1) for entry in v.items(value, where)]
    if isinstance(value, dict):
        return {str(k): plain_json(entry, f"{where}.{k}", depth + 1) for k, entry in value.items()}
    raise BadResponse(f"{where} is {type(value).__name__}, not JSON")
