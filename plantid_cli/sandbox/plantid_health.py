"""Plant.id's health assessment, as the sandbox answers it (`POST /health_assessment`, and the
`is_healthy`/`disease` part of an identification sent with `health`).

Shapes follow the official SDK (kindwise-api-client: `HealthAssessment`, `PlantResult`):
`result.is_healthy` {probability, binary, threshold} and `result.disease` {suggestions:
[{id, name, probability, similar_images, details}], question}. Deterministic from the image
digest, like the rest of the sandbox:

* healthy when digest byte 8 % 3 != 0 (two photos in three); `is_healthy.probability` is
  0.60..0.99 when healthy, 0.05..0.44 when not (byte 9), threshold 0.525;
* three disease suggestions: index = byte 10 % len(DISEASES), then the next two in the table,
  probabilities descending from 1 - is_healthy.probability (an unhealthy plant's top disease
  is likely, a healthy plant's is not).

Pure and stdlib only (the sandbox stays a faithful outsider).
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

THRESHOLD = 0.525


class Disease(NamedTuple):
    name: str
    local_name: str
    classification: tuple[str, ...]
    common_names: dict[str, list[str]]
    description: str
    cause: str | None
    treatment: dict[str, list[str]]

    @property
    def entity_id(self) -> str:
        return hashlib.sha256(f"disease/{self.name}".encode()).hexdigest()[:16]


# fmt: off
DISEASES: tuple[Disease, ...] = (
    Disease("water excess or uneven watering", "Water excess or uneven watering", ("Abiotic",),
            {"en": ["overwatering"], "de": ["Staunässe"]},
            "Roots kept too wet rot and cannot take up water or nutrients.", None,
            {"prevention": ["Water only when the top of the soil is dry."],
             "chemical": [], "biological": []}),
    Disease("Fungi", "Fungal infection", ("Fungi",), {"en": ["fungal disease"],
            "de": ["Pilzbefall"]}, "Fungi infect leaves, stems or roots and spread by spores.",
            None, {"prevention": ["Remove fallen leaves.", "Keep the leaves dry."],
                   "chemical": ["Apply a copper-based fungicide."], "biological": []}),
    Disease("Erysiphaceae", "Powdery mildew", ("Fungi", "Ascomycota", "Erysiphales"),
            {"en": ["powdery mildew"], "de": ["Echter Mehltau"], "fr": ["oïdium"]},
            "A white powdery coating of fungal growth on leaves and shoots.", "Erysiphaceae",
            {"prevention": ["Give plants room for air to move."],
             "chemical": ["Sulphur sprays."], "biological": ["Milk diluted 1:9 with water."]}),
    Disease("Aphidoidea", "Aphids", ("Animalia", "Insecta", "Hemiptera"),
            {"en": ["aphids", "greenfly"], "de": ["Blattläuse"]},
            "Small sap-sucking insects that gather on young shoots and leaf undersides.",
            "Aphidoidea", {"prevention": ["Check new growth weekly."],
                           "chemical": ["Insecticidal soap."], "biological": ["Ladybirds."]}),
    Disease("nutrient deficiency", "Nutrient deficiency", ("Abiotic",),
            {"en": ["nutrient deficiency"], "de": ["Nährstoffmangel"]},
            "Yellowing or stunted growth from too little nitrogen, iron or magnesium.", None,
            {"prevention": ["Feed during the growing season."], "chemical": [],
             "biological": ["Compost."]}),
    Disease("mechanical damage", "Mechanical damage", ("Abiotic",),
            {"en": ["mechanical damage"], "de": ["mechanische Beschädigung"]},
            "Torn or bruised tissue from handling, wind or animals.", None,
            {"prevention": ["Shelter from wind."], "chemical": [], "biological": []}),
)
# fmt: on


def _detail(disease: Disease, name: str, language: str) -> object:
    if name == "local_name":
        return disease.local_name if language == "en" else None
    if name == "common_names":
        names = disease.common_names.get(language)  # no fallback to English, like the service
        return list(names) if names else None
    if name == "description":
        return disease.description if language == "en" else None
    if name == "treatment":
        return {kind: list(steps) for kind, steps in disease.treatment.items()}
    if name == "classification":
        return list(disease.classification)
    if name == "cause":
        return disease.cause
    if name == "url":
        return f"https://en.wikipedia.org/wiki/{disease.local_name.replace(' ', '_')}"
    return None  # asked for but unknown: null, as the service does


def _similar(disease: Disease, base_url: str) -> list[dict]:
    out = []
    for n, similarity in enumerate((0.651, 0.488)):
        image_id = hashlib.sha1(f"{disease.name}/{n}".encode()).hexdigest()
        out.append({
            "id": image_id,
            "url": f"{base_url}/media/similar/{image_id}.jpg",
            "url_small": f"{base_url}/media/similar/{image_id}.small.jpg",
            "similarity": similarity,
        })  # fmt: skip
    return out


def health_result(
    digest: bytes, *, details: list[str], language: str, with_similar: bool, base_url: str
) -> dict:
    """`is_healthy` and `disease` for an image digest, in the query's details and language."""
    healthy = digest[8] % 3 != 0
    p_healthy = 0.60 + digest[9] % 40 / 100 if healthy else 0.05 + digest[9] % 40 / 100
    first = digest[10] % len(DISEASES)
    top = round(1 - p_healthy, 4)
    suggestions = []
    for rank in range(3):
        disease = DISEASES[(first + rank) % len(DISEASES)]
        detail = {name: _detail(disease, name, language) for name in details}
        detail["language"] = language
        detail["entity_id"] = disease.entity_id
        suggestions.append({
            "id": disease.entity_id,
            "name": disease.name,
            "probability": round(top * 0.6**rank, 4),
            "similar_images": _similar(disease, base_url) if with_similar else [],
            "details": detail,
        })  # fmt: skip
    return {
        "is_healthy": {
            "probability": round(p_healthy, 4),
            "binary": p_healthy >= THRESHOLD,
            "threshold": THRESHOLD,
        },
        "disease": {"suggestions": suggestions, "question": None},
    }
