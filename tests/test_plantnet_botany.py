"""Issue 14, Pl@ntNet: --top as nb-results, predicted organs, IUCN, authorship, honest ranks,
related images, `plantid projects` and `plantid usage --provider plantnet`.

The CLI runs in a subprocess against the sandbox; what it sent is read from the sandbox's call
log, and what a record says is compared with the raw answer the sandbox gives for the very same
upload bytes (posted again by hand), never with values rebuilt the way the code builds them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from conftest import TEST_KEY, run_plantid
from photos import green_photo, magenta_photo

from plantid_cli.images.prepare import prepare_image
from plantid_cli.providers.base import IdentifyRequest
from plantid_cli.providers.names import is_hybrid, name_rank
from plantid_cli.providers.plantnet import PlantNetProvider, rate_limit_quota

PN_KEY = TEST_KEY + "-pn"  # what cli_env sets as PLANTNET_API_KEY


def records_of(result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def identify(photo, env, *args):
    result = run_plantid(
        ["identify", photo, "--provider", "plantnet", "-f", "ndjson", "-q", *args], env
    )
    assert result.returncode == 0, result.stderr
    [record] = records_of(result)
    return record


def query_of(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call["path"]).query, keep_blank_values=True)


def raw_answer(sandbox, photo, call, **params) -> dict:
    """The sandbox's answer to the bytes the CLI uploaded in `call` (checked to be the same)."""
    jpeg = prepare_image(photo).jpeg
    assert call["image_sha256"] == [hashlib.sha256(jpeg).hexdigest()]
    query = {"api-key": PN_KEY, "lang": "en", **params}
    response = httpx.post(
        f"{sandbox.plantnet_url}/identify/all",
        params=query,
        files=[("images", ("image0.jpg", io.BytesIO(jpeg), "image/jpeg"))],
        data={"organs": call["organs"]},
    )
    assert response.status_code == 200, response.text
    return response.json()


# ----- --top N is nb-results=N -----------------------------------------------------------------
def test_top_is_sent_as_nb_results_and_the_record_holds_that_many(tmp_path, sandbox, cli_env):
    photo = green_photo(tmp_path / "a.jpg")
    record = identify(photo, cli_env, "--top", "8")
    [call] = sandbox.stats()["calls"]
    assert query_of(call)["nb-results"] == ["8"]  # was always 10
    raw = raw_answer(sandbox, photo, call, **{"nb-results": "8"})
    assert len(raw["results"]) == 8
    names = [r["species"]["scientificNameWithoutAuthor"] for r in raw["results"]]
    assert [s["scientific_name"] for s in record["suggestions"]] == names


def test_default_top_asks_for_three(tmp_path, sandbox, cli_env):
    record = identify(green_photo(tmp_path / "a.jpg"), cli_env)
    [call] = sandbox.stats()["calls"]
    assert query_of(call)["nb-results"] == ["3"] and len(record["suggestions"]) == 3
    raw = raw_answer(sandbox, green_photo(tmp_path / "a.jpg"), call, **{"nb-results": "3"})
    assert len(raw["results"]) == 3  # the service sends what was asked for, no more


def test_a_cached_answer_serves_a_smaller_top_and_a_larger_one_asks_again(
    tmp_path, sandbox, cli_env
):
    photo = green_photo(tmp_path / "a.jpg")
    first = identify(photo, cli_env, "--top", "7")
    smaller = identify(photo, cli_env, "--top", "2")
    assert sandbox.stats()["plantnet_identify"] == 1  # never bought again for less
    assert smaller["cached"] is True
    assert smaller["suggestions"] == first["suggestions"][:2]

    larger = identify(photo, cli_env, "--top", "9")
    calls = sandbox.stats()["calls"]
    assert [query_of(c)["nb-results"] for c in calls] == [["7"], ["9"]]
    assert larger["cached"] is False and len(larger["suggestions"]) == 9
    assert identify(photo, cli_env, "--top", "9")["cached"] is True
    assert identify(photo, cli_env, "--top", "7")["cached"] is True  # the larger answer serves
    assert sandbox.stats()["plantnet_identify"] == 2


def test_an_answer_shorter_than_asked_is_everything_and_serves_any_top(tmp_path, sandbox, cli_env):
    photo = green_photo(tmp_path / "a.jpg")
    everything = identify(photo, cli_env, "--top", "40")
    held = len(everything["suggestions"])
    assert 5 < held < 40  # the sandbox has no more for this photo
    again = identify(photo, cli_env, "--top", "30")
    assert again["cached"] is True and len(again["suggestions"]) == held
    assert sandbox.stats()["plantnet_identify"] == 1


def test_answers_cached_before_top_was_sent_serve_up_to_ten():
    """Entries stored before this change hold no `nb_results`: they were asked for 10."""
    provider = PlantNetProvider("http://127.0.0.1:9/v2", "k")
    legacy = {"status": "ok", "suggestions": [{}] * 10, "extra": {"organs": ["auto"]}}
    assert provider.serves(legacy, IdentifyRequest(nb_results=3))
    assert provider.serves(legacy, IdentifyRequest(nb_results=10))
    assert not provider.serves(legacy, IdentifyRequest(nb_results=11))
    not_plant = {"status": "not_plant", "suggestions": [], "extra": {}}
    assert provider.serves(not_plant, IdentifyRequest(nb_results=50))


# ----- what a record keeps of each answer ------------------------------------------------------
def test_record_keeps_predicted_organs_iucn_authorship_as_the_service_said(
    tmp_path, sandbox, cli_env
):
    photo = green_photo(tmp_path / "a.jpg", seed=3)
    record = identify(photo, cli_env, "--top", "12")
    [call] = sandbox.stats()["calls"]
    raw = raw_answer(sandbox, photo, call, **{"nb-results": "12"})

    assert record["organs"] == ["auto"]
    assert record["predicted_organs"] == [
        {"organ": p["organ"], "score": p["score"]} for p in raw["predictedOrgans"]
    ]
    assert record["predicted_organs"][0]["organ"] in ("leaf", "flower", "fruit", "bark")
    categories = []
    for mine, theirs in zip(record["suggestions"], raw["results"], strict=True):
        assert mine["authorship"] == (theirs["species"]["scientificNameAuthorship"] or None)
        assert mine["iucn_category"] == (theirs.get("iucn") or {}).get("category")
        categories.append(mine["iucn_category"])
        assert "related_images" not in mine  # not asked for
    assert None in categories and {"LC", "DD"} <= set(categories)


@pytest.mark.parametrize(
    ("name", "rank", "hybrid"),
    [
        ("Quercus robur", "species", False),
        ("Quercus", "genus", False),
        ("Mentha × piperita", "species", True),  # a nothospecies: a species, and a hybrid
        ("Mentha x piperita", "species", True),
        ("Mentha ×piperita", "species", True),
        ("×Cupressocyparis leylandii", "species", True),  # a nothogenus
        ("x Cupressocyparis leylandii", "species", True),
        ("Salix alba × Salix fragilis", None, True),  # a formula: two parents, no rank
        ("Salix alba × S. fragilis", None, True),
        ("Aloe vera var. chinensis", "variety", False),
        ("Taraxacum officinale subsp. vulgare", "subspecies", False),
        ("Hedera helix f. poetarum", "form", False),
        ("Mentha × piperita var. citrata", "variety", True),
        ("Acer palmatum 'Atropurpureum'", "cultivar", False),
        ("Rosa 'Peace'", "cultivar", False),
        ("Solanum lycopersicum cv. Moneymaker", "cultivar", False),
        ("Xanthium strumarium", "species", False),  # an X that starts a genus is no sign
        ("quercus robur", None, False),
        ("Quercus robur robur", None, False),
        ("", None, False),
    ],
)
def test_rank_and_hybrid_follow_the_name_form(name, rank, hybrid):
    assert name_rank(name) == rank
    assert is_hybrid(name) is hybrid


def test_records_rank_names_that_are_not_binomials_honestly(tmp_path, sandbox, cli_env):
    record = identify(green_photo(tmp_path / "a.jpg", seed=5), cli_env, "--top", "12")
    ranks = {s["scientific_name"]: (s["rank"], s["hybrid"]) for s in record["suggestions"]}
    # the sandbox's results 6.. (plantid_cli/sandbox/data.py PLANTNET_TAIL): real name forms
    assert ranks["Mentha × piperita"] == ("species", True)
    assert ranks["Quercus"] == ("genus", False)
    assert ranks["Aloe vera var. chinensis"] == ("variety", False)
    assert ranks["Acer palmatum 'Atropurpureum'"] == ("cultivar", False)
    assert ranks["Taraxacum officinale subsp. vulgare"] == ("subspecies", False)
    assert ranks["×Cupressocyparis leylandii"] == ("species", True)
    assert ranks["Hedera helix f. poetarum"] == ("form", False)
    assert list(ranks.values())[:5] == [("species", False)] * 5
    genus = {s["scientific_name"]: s["genus"] for s in record["suggestions"]}
    assert genus["×Cupressocyparis leylandii"] == "×Cupressocyparis"


# ----- --related-images ------------------------------------------------------------------------
def test_related_images_are_asked_for_and_kept_per_suggestion(tmp_path, sandbox, cli_env):
    photo = green_photo(tmp_path / "a.jpg")
    record = identify(photo, cli_env, "--related-images", "--top", "4")
    [call] = sandbox.stats()["calls"]
    assert query_of(call)["include-related-images"] == ["true"]
    raw = raw_answer(sandbox, photo, call, **{"nb-results": "4", "include-related-images": "true"})
    for mine, theirs in zip(record["suggestions"], raw["results"], strict=True):
        assert [i["url"] for i in mine["related_images"]] == [
            i["url"]["o"] for i in theirs["images"]
        ]
        assert [i["url_small"] for i in mine["related_images"]] == [
            i["url"]["s"] for i in theirs["images"]
        ]
        assert [i["organ"] for i in mine["related_images"]] == [
            i["organ"] for i in theirs["images"]
        ]
        assert all(i["license"] and i["citation"] and i["date"] for i in mine["related_images"])
    assert record["best"]["related_images"] == record["suggestions"][0]["related_images"]


def test_related_images_answer_serves_a_plain_run_but_not_the_reverse(tmp_path, sandbox, cli_env):
    photo, other = green_photo(tmp_path / "a.jpg"), green_photo(tmp_path / "b.jpg", seed=9)
    identify(photo, cli_env, "--related-images")
    plain = identify(photo, cli_env)
    assert plain["cached"] is True and sandbox.stats()["plantnet_identify"] == 1
    assert all("related_images" not in s for s in plain["suggestions"])  # what this run asked

    identify(other, cli_env)
    wanted = identify(other, cli_env, "--related-images")
    assert wanted["cached"] is False and sandbox.stats()["plantnet_identify"] == 3
    assert all(s["related_images"] for s in wanted["suggestions"])
    assert "include-related-images" not in query_of(sandbox.stats()["calls"][1])


# ----- plantid projects ------------------------------------------------------------------------
def test_projects_lists_the_floras_in_every_format(sandbox, cli_env):
    result = run_plantid(["projects", "-f", "json"], cli_env)
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    served = httpx.get(f"{sandbox.plantnet_url}/projects", params={"api-key": PN_KEY}).json()
    assert listed == served and "k-world-flora" in [p["id"] for p in listed]
    [call] = [c for c in sandbox.stats()["calls"] if c["kind"] == "plantnet_projects"][:1]
    assert "api-key=***" in call["path"] and PN_KEY not in result.stderr

    table = run_plantid(["projects"], cli_env)
    assert table.returncode == 0 and "k-western-europe" in table.stdout

    as_csv = run_plantid(["projects", "-f", "csv"], cli_env)
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [r["id"] for r in rows] == [p["id"] for p in served]
    assert rows[0].keys() == {"id", "title", "species", "description"}


def test_projects_for_a_place_sends_the_position(sandbox, cli_env):
    result = run_plantid(["projects", "--lat", "48.85", "--lon", "2.35", "-f", "json"], cli_env)
    assert result.returncode == 0, result.stderr
    ids = [p["id"] for p in json.loads(result.stdout)]
    everywhere = httpx.get(f"{sandbox.plantnet_url}/projects", params={"api-key": PN_KEY}).json()
    assert "k-western-europe" in ids and "k-northern-america" not in ids
    assert len(ids) < len(everywhere)
    [call] = [c for c in sandbox.stats()["calls"] if c["kind"] == "plantnet_projects"][:1]
    query = query_of(call)
    assert (float(query["lat"][0]), float(query["lon"][0])) == (48.85, 2.35)


@pytest.mark.parametrize(
    "args", [["--lat", "48"], ["--lat", "91", "--lon", "2"], ["--lat", "4", "--lon", "181"]]
)
def test_projects_refuses_a_bad_position_before_any_call(sandbox, cli_env, args):
    result = run_plantid(["projects", *args], cli_env)
    assert result.returncode == 2 and result.stderr.startswith("plantid: ")
    assert "Traceback" not in result.stderr
    assert sandbox.stats()["plantnet_projects"] == 0


def test_projects_needs_the_key(sandbox, cli_env):
    env = {k: v for k, v in cli_env.items() if k != "PLANTNET_API_KEY"}
    result = run_plantid(["projects"], env)
    assert result.returncode == 3, result.stderr
    assert sandbox.stats()["plantnet_projects"] == 0


def test_projects_goes_through_the_breaker_and_the_rate_limit(sandbox, cli_env, isolated_env):
    env = {**cli_env, "PLANTID_BREAKER_FAIL_MAX": "1", "PLANTID_RATE_LIMIT": "5/60s"}
    sandbox.configure(mode_plantnet="error503")
    failed = run_plantid(["projects"], env)
    assert failed.returncode == 4 and "Traceback" not in failed.stderr
    refused = run_plantid(["projects"], env)
    assert refused.returncode == 4
    assert sandbox.stats()["plantnet_projects"] == 1  # the open breaker sent nothing
    status = json.loads(run_plantid(["status", "-f", "json"], env).stdout)
    plantnet = status["providers"]["plantnet"]
    assert plantnet["breaker"]["state"] == "open"
    # the one call took a slot: counted in the limiter's own log, not in a window of the clock
    import sqlite3

    with sqlite3.connect(isolated_env / "cache" / "state.sqlite3") as con:
        slots = [ts for (ts,) in con.execute("SELECT ts FROM ratelog")]
    assert len(slots) == 1


# ----- plantid usage --provider plantnet -------------------------------------------------------
def test_usage_shows_the_daily_quota_the_last_answer_reported(tmp_path, sandbox, cli_env):
    before = run_plantid(["usage", "--provider", "plantnet", "-f", "json"], cli_env)
    assert before.returncode == 0, before.stderr
    assert json.loads(before.stdout)["remaining"] is None  # nothing seen yet, nothing asked
    identify(green_photo(tmp_path / "a.jpg"), cli_env)
    identify(green_photo(tmp_path / "b.jpg", seed=4), cli_env)

    after = run_plantid(["usage", "--provider", "plantnet", "-f", "json"], cli_env)
    info = json.loads(after.stdout)
    stats = sandbox.stats()
    assert info["remaining"] == stats["plantnet_remaining"] == 498
    assert info["limit"] == stats["config"]["plantnet_quota"] == 500
    assert info["used"] == 2 and info["current"] is True
    assert info["resets_at"].endswith("T00:00:00+00:00")  # Pl@ntNet resets at 00:00 UTC
    assert stats["plantnet_identify"] == 2  # usage itself asked nothing
    table = run_plantid(["usage", "--provider", "plantnet"], cli_env)
    assert table.returncode == 0 and "498" in table.stdout


def test_a_not_a_plant_answer_counts_against_the_quota_usage_shows(tmp_path, sandbox, cli_env):
    """Pl@ntNet's "Species not found" 404 is charged; its RateLimit headers say what is left."""
    record = identify(magenta_photo(tmp_path / "m.jpg"), cli_env)
    assert record["status"] == "not_plant"
    info = json.loads(
        run_plantid(["usage", "--provider", "plantnet", "-f", "json"], cli_env).stdout
    )
    assert info["remaining"] == sandbox.stats()["plantnet_remaining"] == 499
    assert info["limit"] == 500


def test_usage_for_plantnet_needs_its_key(sandbox, cli_env):
    env = {k: v for k, v in cli_env.items() if k != "PLANTNET_API_KEY"}
    assert run_plantid(["usage", "--provider", "plantnet"], env).returncode == 3


def test_quota_headers_in_the_documented_form_are_read():
    """Pl@ntNet's "Quota" page: RateLimit-Policy with a partition key, RateLimit with r and t."""
    quota = rate_limit_quota(
        {
            "RateLimit-Policy": '"dailyQuota";q=2000;w=86400;pk=:MjEyNjQxMDM3MDAtdm90ZXM=:',
            "RateLimit": '"dailyQuota";r=1995;t=3600;pk=:MjEyNjQxMDM3MDAtdm90ZXM=:',
        }
    )
    assert quota == {"limit": 2000, "remaining": 1995, "resets_in": 3600}
    assert rate_limit_quota({}) is None


def test_both_mode_shows_related_images_only_when_asked(tmp_path, sandbox, cli_env):
    photo = green_photo(tmp_path / "a.jpg")
    identify(photo, cli_env, "--related-images")  # Pl@ntNet's answer cached with them
    result = run_plantid(["identify", photo, "--provider", "both", "-f", "ndjson", "-q"], cli_env)
    [record] = records_of(result)
    assert sandbox.stats()["plantnet_identify"] == 1  # served from the richer answer
    shown = json.dumps(record)
    assert "related_images" not in shown and record["providers"]["plantnet"]["cached"] is True


# ----- the sandbox speaks the documented shapes ------------------------------------------------
def test_sandbox_projects_want_a_key_and_a_whole_position(sandbox):
    url = f"{sandbox.plantnet_url}/projects"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, params={"api-key": "k", "lat": "48"}).status_code == 400
    assert httpx.get(url, params={"api-key": "k", "lat": "x", "lon": "2"}).status_code == 400
    floras = httpx.get(url, params={"api-key": "k", "lat": "-33.9", "lon": "151.2"}).json()
    assert {"k-world-flora", "k-eastern-australia"} <= {p["id"] for p in floras}
    assert all(set(p) == {"id", "title", "description", "species"} for p in floras)
    assert sandbox.stats()["plantnet_projects"] == 4


def test_sandbox_results_past_five_and_related_images(tmp_path, sandbox):
    jpeg = prepare_image(green_photo(tmp_path / "a.jpg")).jpeg

    def ask(**params):
        return httpx.post(
            f"{sandbox.plantnet_url}/identify/all",
            params={"api-key": "k", **params},
            files=[("images", ("a.jpg", io.BytesIO(jpeg), "image/jpeg"))],
            data={"organs": ["leaf"]},
        ).json()

    many = ask(**{"nb-results": "9", "include-related-images": "true"})
    scores = [r["score"] for r in many["results"]]
    assert len(scores) == 9 and scores == sorted(scores, reverse=True) and scores[-1] > 0
    assert many["query"]["includeRelatedImages"] is True
    for result in many["results"]:
        assert {"o", "m", "s"} == set(result["images"][0]["url"])
    assert all("images" not in r for r in ask(**{"nb-results": "2"})["results"])
    assert len(ask(**{"nb-results": "2"})["results"]) == 2


# ----- the public API --------------------------------------------------------------------------
def test_public_api_lists_floras_and_takes_related_images(tmp_path, sandbox, monkeypatch):
    import plantid_cli

    monkeypatch.setenv("PLANTNET_API_URL", sandbox.plantnet_url)
    monkeypatch.setenv("PLANTNET_API_KEY", PN_KEY)
    monkeypatch.setenv("PLANTID_RATE_LIMIT", "off")
    floras = plantid_cli.plantnet_projects(-33.9, 151.2)
    assert "k-eastern-australia" in [f["id"] for f in floras]
    with pytest.raises(plantid_cli.UsageError):
        plantid_cli.plantnet_projects(-33.9)
    assert sandbox.stats()["plantnet_projects"] == 1

    photo = green_photo(tmp_path / "a.jpg")
    [record] = plantid_cli.identify([photo], provider="plantnet", related_images=True, top=6)
    assert len(record["suggestions"]) == 6 and record["best"]["related_images"]
    assert query_of(sandbox.stats()["calls"][-1])["nb-results"] == ["6"]
