"""The sandbox's Plant.id classification levels and details (sandbox/plantid_taxonomy.py), over
HTTP where the shape matters and on the pure functions where a digest would be luck."""

from __future__ import annotations

import base64
import io

import httpx
from PIL import Image

from plantid_cli.sandbox import data
from plantid_cli.sandbox.plantid_taxonomy import INFRASPECIFIC, taxa_for

KEY = {"Api-Key": "k"}


def _photo() -> str:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (40, 160, 60)).save(out, "JPEG")
    return base64.b64encode(out.getvalue()).decode()


def _suggestions(sandbox, body=None, **params) -> list[dict]:
    response = httpx.post(
        f"{sandbox.plantid_url}/identification",
        json={"images": [_photo()], **(body or {})},
        params=params,
        headers=KEY,
        trust_env=False,
    )
    assert response.status_code == 201, response.text
    return response.json()["result"]["classification"]["suggestions"]


def test_all_adds_each_infraspecific_taxon_after_its_species_with_rank():
    index = [sp.name for sp in data.SPECIES].index("Solanum lycopersicum")
    picks = [(index, 0.9), (0, 0.05)]
    ranked = taxa_for(picks, "all")
    assert [(t.name, t.rank) for t, _ in ranked] == [
        ("Solanum lycopersicum", "species"),
        ("Solanum lycopersicum var. cerasiforme", "variety"),
        ("Aloe vera", "species"),
    ]
    assert [p for _, p in ranked] == [0.9, 0.54, 0.05]
    assert [t.name for t, _ in taxa_for(picks, "species")] == ["Solanum lycopersicum", "Aloe vera"]
    assert set(INFRASPECIFIC) <= {sp.name for sp in data.SPECIES}


def test_genus_level_sums_the_species_of_a_genus():
    aloes = [i for i, sp in enumerate(data.SPECIES) if sp.genus == "Aloe"]
    ranked = taxa_for([(aloes[0], 0.5), (aloes[1], 0.3), (5, 0.1)], "genus")
    assert [(t.name, t.rank, p) for t, p in ranked] == [("Aloe", "genus", 0.8),
                                                        ("Quercus", "genus", 0.1)]  # fmt: skip


def test_name_authority_and_the_care_details_over_http(sandbox):
    details = "name_authority,edible_parts,watering,propagation_methods,toxicity,no_such"
    for suggestion in _suggestions(sandbox, details=details):
        got = suggestion["details"]
        species = next(sp for sp in data.SPECIES if sp.name == suggestion["name"])
        assert got["name_authority"] == f"{species.name} {species.authorship}"
        assert set(got["watering"]) == {"min", "max"} and got["no_such"] is None
        assert isinstance(got["propagation_methods"], list)


def test_several_languages_turn_localized_details_into_objects(sandbox):
    body = {"classification_level": "species"}
    for suggestion in _suggestions(sandbox, body, details="common_names,url,rank",
                                   language="en,xx"):  # fmt: skip
        got = suggestion["details"]
        species = next(sp for sp in data.SPECIES if sp.name == suggestion["name"])
        assert got["common_names"] == {"en": species.common_names["en"], "xx": None}
        assert got["url"]["xx"].startswith("https://xx.wikipedia.org/")
        assert got["rank"] == "species" and got["language"] == "en"  # not localized: as before
