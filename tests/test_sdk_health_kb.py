"""The official SDK (kindwise-api-client) parses what the sandbox answers for the health
assessment, an identification with `health="all"`, and the knowledge base (search, detail).

Like test_sandbox.py's SDK test: the SDK builds its dataclasses with hard key lookups, so a
sandbox it can parse speaks the documented shape; the counts are read at the sandbox.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

ALOE = Path(__file__).resolve().parents[1] / "examples" / "aloe-vera.jpg"


@pytest.fixture
def api(sandbox, monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    from kindwise import PlantApi

    client = PlantApi(api_key="sdk-key")
    client.host = sandbox.url  # the SDK builds f"{host}/api/v3/..."
    return client


def test_sdk_parses_a_health_assessment_and_its_reread(api, sandbox):
    details = "local_name,description,treatment,common_names,cause,classification,url"
    assessment = api.health_assessment(ALOE, details=details)
    result = assessment.result
    assert isinstance(result.is_healthy.binary, bool)
    assert 0 <= result.is_healthy.probability <= 1
    diseases = result.disease.suggestions
    assert len(diseases) == 3
    assert [d.probability for d in diseases] == sorted(
        (d.probability for d in diseases), reverse=True
    )
    assert set(diseases[0].details) == {*details.split(","), "language", "entity_id"}
    assert diseases[0].details["treatment"]["prevention"]
    assert diseases[0].similar_images and diseases[0].similar_images[0].url.startswith(sandbox.url)

    again = api.get_health_assessment(assessment.access_token, details="treatment")
    assert [d.name for d in again.result.disease.suggestions] == [d.name for d in diseases]
    stats = sandbox.stats()
    assert (stats["plantid_health"], stats["plantid_get"], stats["plantid_identify"]) == (1, 1, 0)
    assert stats["credits"]["used"] == 1  # a health assessment alone: one credit


def test_sdk_parses_an_identification_with_health_all(api, sandbox):
    ident = api.identify(
        ALOE, details=["common_names", "taxonomy"], health="all", classification_level="all"
    )
    assert ident.result.classification.suggestions  # the identification is still there
    assert ident.result.is_healthy is not None and ident.result.disease is not None
    assert ident.result.disease.suggestions[0].name
    raw = httpx.get(
        f"{sandbox.plantid_url}/identification/{ident.access_token}",
        headers={"Api-Key": "sdk-key"},
        trust_env=False,
    ).json()
    assert raw["input"]["health"] == "all"
    assert sandbox.stats()["credits"]["used"] == 2  # identification + health: two credits


def test_sdk_parses_kb_search_and_detail(api, sandbox):
    found = api.search("aloe", limit=1)
    assert found.limit == 1 and found.entities_trimmed is True  # two aloes in the table
    [entity] = found.entities
    assert entity.matched_in.lower().startswith("aloe")
    assert (entity.match_position, entity.match_length) == (0, 4)
    by_common = api.search("weizen", language="de")
    assert {e.matched_in_type for e in by_common.entities} == {"common_name"}

    entry = api.get_kb_detail(entity.access_token, details="common_names,taxonomy,url")
    assert entry["name"] == entity.matched_in
    assert entry["taxonomy"]["family"] and entry["url"].startswith("https://")
    stats = sandbox.stats()
    assert (stats["plantid_kb_search"], stats["plantid_kb_detail"]) == (2, 1)
    assert stats["credits"]["used"] == 0.5  # searching is free, an entry costs half a credit
