"""Issue 14, Plant.id identification: what a botanist checks before trusting a name.

Real `plantid identify` subprocesses against the sandbox over loopback. Expected values come
from the service's own answer (re-read with `GET /identification/{token}`) or from the
sandbox's species table, never rebuilt the way plantid builds them.
"""

from __future__ import annotations

import json

import httpx
import pytest
from conftest import TEST_KEY, run_plantid
from photos import green_photo

from plantid_cli.constants import DEFAULT_DETAILS
from plantid_cli.guards.disk.cache import ResultCache, cache_key
from plantid_cli.providers.plantid import PlantIdProvider
from plantid_cli.sandbox import data
from plantid_cli.sandbox.plantid_taxonomy import INFRASPECIFIC

AUTHORS = {sp.name: sp.authorship for sp in data.SPECIES}
SYNONYMS = {sp.name: list(sp.synonyms) for sp in data.SPECIES}


def records_of(result) -> list[dict]:
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def reread(sandbox, token: str, details: str, language: str = "en") -> list[dict]:
    """The service's own answer for an identification (free GET), its suggestions."""
    response = httpx.get(
        f"{sandbox.plantid_url}/identification/{token}",
        params={"details": details, "language": language},
        headers={"Api-Key": TEST_KEY},
        trust_env=False,
    )
    response.raise_for_status()
    return response.json()["result"]["classification"]["suggestions"]


def test_every_suggestion_carries_classification_authorship_synonyms_inaturalist(
    tmp_path, sandbox, cli_env
):
    """Before: only family and genus were kept; inaturalist_id was asked for and dropped."""
    photos = [green_photo(tmp_path / f"p{n}.jpg", seed=n) for n in range(4)]
    records = records_of(run_plantid(["identify", *photos, "--top", "5"], cli_env))
    calls = sandbox.stats()["calls"]
    assert [c["kind"] for c in calls] == ["plantid_identify"] * 4
    assert {"synonyms", "name_authority", "taxonomy", "inaturalist_id"} <= set(calls[0]["details"])
    for record in records:
        assert record["access_token"] in sandbox._identifications
        answered = reread(sandbox, record["access_token"], "taxonomy,inaturalist_id,synonyms")
        assert len(record["suggestions"]) == len(answered) == 5
        assert record["best"] == record["suggestions"][0]
        for mine, theirs in zip(record["suggestions"], answered, strict=True):
            assert mine["scientific_name"] == theirs["name"]
            taxonomy = theirs["details"]["taxonomy"]
            for rank in ("kingdom", "phylum", "class", "order", "family", "genus"):
                assert mine[rank] == taxonomy[rank]
            assert mine["inaturalist_id"] == theirs["details"]["inaturalist_id"]
            assert mine["authorship"] == AUTHORS[mine["scientific_name"]]
            assert mine["synonyms"] == SYNONYMS[mine["scientific_name"]]
            assert "details" not in mine  # nothing beyond the record's own keys was asked
            assert "similar_images" not in mine and "common_names_by_language" not in mine


def test_details_flag_adds_to_the_defaults_and_lands_under_details(tmp_path, sandbox, cli_env):
    """Before: `--details description` replaced the defaults and its answer was dropped."""
    photo = green_photo(tmp_path / "basil.jpg", seed=3)
    extra = "description,edible_parts,watering,toxicity"
    [record] = records_of(run_plantid(["identify", photo, "--details", extra], cli_env))
    [call] = sandbox.stats()["calls"]
    assert call["details"] == [*DEFAULT_DETAILS, *extra.split(",")]
    answered = reread(sandbox, record["access_token"], extra)
    for mine, theirs in zip(record["suggestions"], answered, strict=False):
        wanted = {name: theirs["details"][name] for name in extra.split(",")}
        assert mine["details"] == wanted
        assert mine["family"] is not None and mine["common_names"]  # the flat keys still there


def test_classification_level_all_brings_infraspecific_taxa_with_their_rank(
    tmp_path, sandbox, cli_env
):
    photos = [green_photo(tmp_path / f"s{n}.jpg", seed=n) for n in range(10)]
    species = records_of(run_plantid(["identify", *photos, "--top", "10"], cli_env))
    every = records_of(
        run_plantid(["identify", *photos, "--top", "10", "--classification-level", "all"], cli_env)
    )
    calls = sandbox.stats()["calls"]
    assert [c["classification_level"] for c in calls] == [None] * 10 + ["all"] * 10
    assert all(r["classification_level"] == "all" for r in every)
    assert all("classification_level" not in r for r in species)
    assert {s["rank"] for r in species for s in r["suggestions"]} == {"species"}
    below = [s for r in every for s in r["suggestions"] if s["rank"] != "species"]
    known = {name: rank for taxa in INFRASPECIFIC.values() for name, rank, _, _ in taxa}
    assert below, "the photos reached no species with infraspecific taxa"
    for suggestion in below:
        assert suggestion["rank"] == known[suggestion["scientific_name"]]
        parent = next(p for p in INFRASPECIFIC if suggestion["scientific_name"].startswith(p))
        assert suggestion["genus"] == parent.split()[0]


def test_classification_level_genus_names_genera(tmp_path, sandbox, cli_env):
    photo = green_photo(tmp_path / "g.jpg", seed=8)
    args = ["identify", photo, "--classification-level", "genus", "--top", "5"]
    [record] = records_of(run_plantid(args, cli_env))
    assert sandbox.stats()["calls"][0]["classification_level"] == "genus"
    genera = {sp.genus for sp in data.SPECIES}
    assert record["suggestions"] and all(s["rank"] == "genus" for s in record["suggestions"])
    assert {s["scientific_name"] for s in record["suggestions"]} <= genera
    assert all(s["genus"] == s["scientific_name"] for s in record["suggestions"])


def test_bad_classification_level_is_a_usage_error(tmp_path, sandbox, cli_env):
    photo = green_photo(tmp_path / "x.jpg")
    result = run_plantid(["identify", photo, "--classification-level", "family"], cli_env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert sandbox.stats()["plantid_identify"] == 0


def test_similar_images_are_in_the_record_as_the_service_sent_them(tmp_path, sandbox, cli_env):
    photo = green_photo(tmp_path / "sim.jpg", seed=4)
    [plain] = records_of(run_plantid(["identify", photo], cli_env))
    [record] = records_of(run_plantid(["identify", photo, "--similar-images"], cli_env))
    calls = sandbox.stats()["calls"]
    assert [c["similar_images"] for c in calls] == [False, True]  # a second, different call
    assert all("similar_images" not in s for s in plain["suggestions"])
    answered = reread(sandbox, record["access_token"], "rank")
    for mine, theirs in zip(record["suggestions"], answered, strict=False):
        assert theirs["similar_images"]
        assert mine["similar_images"] == [
            {key: image[key] for key in ("url", "url_small", "similarity", "license_name",
                                         "license_url", "citation")}
            for image in theirs["similar_images"]
        ]  # fmt: skip


def test_several_languages_keep_the_one_language_shape(tmp_path, sandbox, cli_env):
    photo = green_photo(tmp_path / "lang.jpg", seed=5)
    [record] = records_of(run_plantid(["identify", photo, "--language", "en,de"], cli_env))
    [call] = sandbox.stats()["calls"]
    assert call["language"] == "en,de"
    answered = reread(sandbox, record["access_token"], "common_names,url", "en,de")
    for mine, theirs in zip(record["suggestions"], answered, strict=False):
        by_language = theirs["details"]["common_names"]
        assert set(by_language) == {"en", "de"}
        assert mine["common_names"] == (by_language["en"] or [])  # still a list, first language
        assert mine["common_names_by_language"] == {k: v or [] for k, v in by_language.items()}
        assert mine["url"] == theirs["details"]["url"]["en"]
    [one] = records_of(run_plantid(["identify", photo, "--language", "de"], cli_env))
    assert "common_names_by_language" not in one["best"]
    assert one["best"]["common_names"] == data.SPECIES[
        [sp.name for sp in data.SPECIES].index(one["best"]["scientific_name"])
    ].common_names.get("de", [])


def test_more_than_three_languages_is_refused_before_anything_is_sent(tmp_path, sandbox, cli_env):
    photo = green_photo(tmp_path / "x.jpg")
    result = run_plantid(["identify", photo, "--language", "en,de,fr,cs"], cli_env)
    assert result.returncode == 2 and "at most 3 languages" in result.stderr
    assert sandbox.stats()["plantid_identify"] == 0


def test_custom_id_is_sent_and_recorded_for_one_photo(tmp_path, sandbox, cli_env):
    photo = green_photo(tmp_path / "one.jpg", seed=6)
    [record] = records_of(run_plantid(["identify", photo, "--custom-id", "4242"], cli_env))
    [call] = sandbox.stats()["calls"]
    assert call["custom_id"] == 4242
    assert record["custom_id"] == 4242
    stored = sandbox._identifications[record["access_token"]]
    assert stored["ident"]["custom_id"] == 4242


@pytest.mark.parametrize("shape", ["two photos", "folder", "stdin"])
def test_custom_id_for_more_than_one_photo_is_a_usage_error(tmp_path, sandbox, cli_env, shape):
    a, b = green_photo(tmp_path / "a.jpg", seed=1), green_photo(tmp_path / "b.jpg", seed=2)
    paths = {"two photos": [a, b], "folder": [tmp_path], "stdin": ["-"]}[shape]
    result = run_plantid(["identify", *paths, "--custom-id", "7"], cli_env, input=f"{a}\n{b}\n")
    assert result.returncode == 2, result.stderr
    assert "--custom-id" in result.stderr and result.stdout == ""
    assert sandbox.stats()["plantid_identify"] == 0


def test_cache_keys_tell_every_answer_changing_option_apart(tmp_path, sandbox, cli_env):
    """Each option changes what the service answers: each is its own cache entry, asked once.
    What was bought (level, similar images) is bought once each; other languages or details
    of a bought identification are read again by its token, free (run/reread.py)."""
    photo = green_photo(tmp_path / "key.jpg", seed=9)
    bought = [[], ["--classification-level", "genus"], ["--classification-level", "all"],
              ["--similar-images"]]  # fmt: skip
    reread = [["--language", "en,de"], ["--details", "description"]]
    seen = []
    for _ in range(2):
        for args in bought + reread:
            [record] = records_of(run_plantid(["identify", photo, *args], cli_env))
            seen.append(record)
    stats = sandbox.stats()
    assert (stats["plantid_identify"], stats["plantid_get"]) == (len(bought), len(reread))
    assert [r["cached"] for r in seen] == [False] * 6 + [True] * 6
    assert seen[4]["best"]["common_names_by_language"]  # the re-read's own answer
    assert "description" in seen[5]["best"]["details"]
    assert seen[4]["access_token"] == seen[0]["access_token"]  # the same identification


def test_another_language_of_a_bought_photo_is_read_not_bought(tmp_path, sandbox, cli_env):
    """Before: `--language de` after an English run bought the photo again (1 credit)."""
    photos = [green_photo(tmp_path / f"l{n}.jpg", seed=20 + n) for n in range(3)]
    english = records_of(run_plantid(["identify", *photos], cli_env))
    result = run_plantid(["identify", *photos, "--language", "de"], cli_env)
    german = records_of(result)
    assert "0 credits used" in result.stderr
    stats = sandbox.stats()
    assert (stats["plantid_identify"], stats["plantid_get"], stats["credits"]["used"]) == (3, 3, 3)
    tokens = {r["path"]: r["access_token"] for r in english}
    for record in german:
        assert record["access_token"] == tokens[record["path"]] and record["cached"] is False
        species = next(sp for sp in data.SPECIES if sp.name == record["best"]["scientific_name"])
        assert record["best"]["common_names"] == species.common_names.get("de", [])
    refreshed = run_plantid(["identify", photos[0], "--language", "de", "--refresh"], cli_env)
    assert refreshed.returncode == 0 and sandbox.stats()["plantid_identify"] == 4  # asked for


def test_answers_bought_under_the_old_default_details_are_read_not_bought(
    tmp_path, sandbox, cli_env, isolated_env
):
    """Upgrading plantid widened the default details, so the cache keys changed: an answer a
    plantid before issue 14 bought is found under its old key and read again by its token,
    never bought again."""
    photo = green_photo(tmp_path / "old.jpg", seed=31)
    [first] = records_of(run_plantid(["identify", photo], cli_env))
    assert run_plantid(["cache", "clear", "--yes"], cli_env).returncode == 0
    # the cache as plantid 0.1 (before issue 14) left it: its key's parameters, its entry
    old_params = {"location": "exif", "language": "en", "similar_images": False,
                  "details": ["common_names", "gbif_id", "inaturalist_id", "rank", "taxonomy",
                              "url"],
                  "endpoint": sandbox.plantid_url, "max_side": 1500}  # fmt: skip
    slim = [{k: s[k] for k in ("scientific_name", "probability", "common_names", "family",
                               "genus", "gbif_id", "rank", "url")}
            for s in first["suggestions"]]  # fmt: skip
    entry = {"provider": "plantid", "status": "ok", "best": slim[0], "suggestions": slim,
             "is_plant": first["is_plant"], "model_version": first["model_version"],
             "location": None, "taken_at": None, "identified_at": first["identified_at"],
             "extra": {"access_token": first["access_token"]}}  # fmt: skip
    cache = ResultCache(isolated_env / "cache" / "results")
    cache.set(cache_key("plantid", "v3", first["sha256"], old_params), entry)
    cache.close()
    [after] = records_of(run_plantid(["identify", photo], cli_env))
    stats = sandbox.stats()
    assert (stats["plantid_identify"], stats["plantid_get"]) == (1, 1)
    assert after["access_token"] == first["access_token"]
    assert after["best"]["authorship"] == AUTHORS[after["best"]["scientific_name"]]


# ----- reading odd answers: what sits beside the name never costs the paid answer ------------
def _answer(**details) -> dict:
    suggestion = {"id": "x", "name": "Taraxacum officinale", "probability": 0.9,
                  "similar_images": [], "details": details}  # fmt: skip
    return {"access_token": "tok", "custom_id": None, "model_version": "plant_id:3",
            "input": {"similar_images": False},
            "result": {"is_plant": {"probability": 0.99, "binary": True},
                       "classification": {"suggestions": [suggestion]}}}  # fmt: skip


PROVIDER = PlantIdProvider("http://127.0.0.1:9", "k")


@pytest.mark.parametrize(
    ("authority", "expected"),
    [
        ("Taraxacum officinale F.H.Wigg.", "F.H.Wigg."),
        ("Taraxacum  officinale   F.H.Wigg.", "F.H.Wigg."),
        ("Taraxacum officinale", None),  # only the name: no author
        ("F.H.Wigg.", "F.H.Wigg."),  # the service's own form, kept whole
        (None, None),
        (17, None),  # damaged: null, the answer still used
    ],
)
def test_authorship_is_read_from_name_authority(authority, expected):
    answer = PROVIDER.parse(_answer(name_authority=authority))
    assert answer.suggestions[0]["authorship"] == expected


def test_damaged_side_details_become_empty_not_unusable():
    answer = PROVIDER.parse(
        _answer(synonyms="not a list", inaturalist_id="12", taxonomy={"kingdom": 3},
                description={"value": "bad \ud800 text"}, watering={"min": float("nan")})
    )  # fmt: skip
    best = answer.suggestions[0]
    assert best["synonyms"] == [] and best["inaturalist_id"] is None and best["kingdom"] is None
    assert best["details"] == {"description": {"value": "bad \ufffd text"},
                               "watering": {"min": None}}  # fmt: skip
    json.dumps(best, allow_nan=False).encode("utf-8")  # storable and printable
