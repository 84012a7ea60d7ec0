"""The sandbox speaks both services' documented protocols, deterministically, with faults on tap.

Every call goes to 127.0.0.1 only; counts are read at the sandbox (`/_sandbox/stats`), never
inside a client.
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from conftest import wait_for
from PIL import Image

from plantid_cli.sandbox import data as sandbox_data
from plantid_cli.sandbox.server import SandboxServer

# the project's own copy (examples/ travels with the repository; shared/ may not be beside it)
ALOE = Path(__file__).resolve().parents[1] / "examples" / "aloe-vera.jpg"
KEY = {"Api-Key": "test-key"}
GREEN = (40, 150, 60)
MAGENTA = (200, 30, 190)  # green trails red and blue: "not a plant" by the documented rule


def photo(color=GREEN, size=(64, 48), fmt="JPEG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, fmt)
    return buffer.getvalue()


def b64(blob: bytes) -> str:
    return base64.b64encode(blob).decode()


@pytest.fixture
def client():
    with httpx.Client(timeout=5, trust_env=False) as http:
        yield http


def identify(client, sandbox, body=None, *, params=None, headers=KEY, **kwargs):
    body = {"images": [b64(photo())], "similar_images": True} if body is None else body
    url = f"{sandbox.plantid_url}/identification"
    return client.post(url, json=body, params=params, headers=headers, **kwargs)


def plantnet(client, sandbox, images, organs, *, key="pn-key", project="all", **params):
    files = [("images", (f"p{n}.jpg", blob, "image/jpeg")) for n, blob in enumerate(images)]
    files += [("organs", (None, organ)) for organ in organs]
    query = {"api-key": key, **params} if key is not None else params
    return client.post(f"{sandbox.plantnet_url}/identify/{project}", params=query, files=files)


# -- the official SDK parses what the sandbox answers ----------------------------------------


def test_official_sdk_parses_identify_get_and_usage(sandbox, monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    from kindwise import PlantApi

    api = PlantApi(api_key="sdk-key")
    api.host = sandbox.url  # the SDK builds f"{host}/api/v3/identification"
    details = ["common_names", "url", "taxonomy", "gbif_id", "rank"]
    ident = api.identify(
        ALOE, details=details, latitude_longitude=(49.2, 16.6), similar_images=True
    )
    raw = httpx.get(
        f"{sandbox.plantid_url}/identification/{ident.access_token}",
        params={"details": ",".join(details)},
        headers={"Api-Key": "sdk-key"},
        trust_env=False,
    ).json()
    names = [s.name for s in ident.result.classification.suggestions]
    assert names == [s["name"] for s in raw["result"]["classification"]["suggestions"]]
    assert ident.result.is_plant.binary is True
    assert ident.input.latitude == 49.2 and ident.input.similar_images is True
    top = ident.result.classification.suggestions[0]
    assert top.similar_images and top.similar_images[0].url.startswith(sandbox.url)
    assert set(top.details) == {*details, "language", "entity_id"}

    again = api.get_identification(ident.access_token, details=["rank"], language="de")
    assert [s.name for s in again.result.classification.suggestions] == names
    assert again.result.classification.suggestions[0].details["language"] == "de"

    usage = api.usage_info()
    total = sandbox.stats()["credits"]["total"]
    assert (usage.used.total, usage.remaining.total, usage.credit_limits.total) == (
        1,
        total - 1,
        total,
    )
    assert usage.can_use_credits.value is True


def test_official_sdk_parses_classification_all_and_languages(sandbox, monkeypatch):
    """identify(classification_level="all") and get_identification in two languages: the
    SDK's dataclasses (hard key lookups) read the sandbox's answers whole."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    from kindwise import PlantApi
    from kindwise.models import ClassificationLevel

    api = PlantApi(api_key="sdk-key")
    api.host = sandbox.url
    details = ["common_names", "taxonomy", "rank", "name_authority", "synonyms", "watering"]
    ident = api.identify(
        ALOE, details=details, classification_level="all", similar_images=True, custom_id=77
    )
    assert ident.input.classification_level is ClassificationLevel.ALL
    assert ident.custom_id == 77
    suggestions = ident.result.classification.suggestions
    assert [s.probability for s in suggestions] == sorted(
        (s.probability for s in suggestions), reverse=True
    )
    for suggestion in suggestions:
        assert set(suggestion.details) == {*details, "language", "entity_id"}
        assert suggestion.details["name_authority"].startswith(suggestion.name)
        assert suggestion.similar_images and suggestion.similar_images[0].license_name

    again = api.get_identification(
        ident.access_token, details=["common_names"], language=["en", "de"]
    )
    assert [s.name for s in again.result.classification.suggestions] == [
        s.name for s in suggestions
    ]
    names = again.result.classification.suggestions[0].details["common_names"]
    assert set(names) == {"en", "de"}  # one list per language
    assert again.input.classification_level is ClassificationLevel.ALL

    genus = api.identify(ALOE, details=["rank"], classification_level="genus")
    assert {s.details["rank"] for s in genus.result.classification.suggestions} == {"genus"}


# -- Plant.id: auth and validation ---------------------------------------------------------


def test_plantid_without_key_is_401_plain_text(sandbox, client):
    response = identify(client, sandbox, headers={})
    assert response.status_code == 401
    assert response.text == "No api key provided."
    assert response.headers["content-type"].startswith("text/plain")


def test_plantid_wrong_key_is_401_when_started_with_a_key(client):
    with SandboxServer(key="right-key") as server:
        assert identify(client, server, headers={"Api-Key": "right-key"}).status_code == 201
        wrong = identify(client, server, headers={"Api-Key": "other"})
        assert (wrong.status_code, wrong.text) == (401, "The specified api key not found.")
        usage = client.get(f"{server.plantid_url}/usage_info", headers={"Api-Key": "x"})
        assert usage.status_code == 401


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"images": ["@@not base64@@"]}, "Invalid base64 image data"),
        ({"images": [b64(b"this is text, not a photo")]}, "Invalid image data"),
        ({"images": [b64(photo()[:200])]}, "Invalid image data"),  # truncated JPEG
        ({"images": []}, "Missing image data"),
        ({"latitude": 1.0}, "Missing image data"),
        ({"images": [b64(photo())], "datetime": "2024-06-01T10:20:30Z"}, "datetime"),
        ({"images": [b64(photo())], "datetime": 1717237230}, "datetime"),
        ({"images": [b64(photo())], "latitude": 91.0, "longitude": 0.0}, "latitude"),
        ({"images": [b64(photo())], "longitude": "east"}, "longitude"),
        ({"images": [b64(photo())] * 6}, "at most 5"),
    ],
)
def test_plantid_rejects_bad_requests_with_400(sandbox, client, body, message):
    response = identify(client, sandbox, body)
    assert response.status_code == 400
    assert message in response.text


def test_plantid_invalid_json_is_400(sandbox, client):
    response = client.post(
        f"{sandbox.plantid_url}/identification",
        content=b"{not json",
        headers={**KEY, "Content-Type": "application/json"},
    )
    assert (response.status_code, response.text) == (400, "Invalid json data")


def test_plantid_accepts_iso_datetime_without_z_and_echoes_input(sandbox, client):
    body = {"images": [b64(photo())], "datetime": "2024-06-01T10:20:30", "latitude": -33.9,
            "longitude": 151.2, "custom_id": 7}  # fmt: skip
    answer = identify(client, sandbox, body).json()
    assert answer["input"]["datetime"] == "2024-06-01T10:20:30"
    assert (answer["input"]["latitude"], answer["input"]["longitude"]) == (-33.9, 151.2)
    assert answer["custom_id"] == 7 and answer["status"] == "COMPLETED"
    assert answer["model_version"] == "plant_id:3.2.0"


def test_plantid_unknown_identification_is_404(sandbox, client):
    response = client.get(f"{sandbox.plantid_url}/identification/nope", headers=KEY)
    assert response.status_code == 404


# -- Plant.id: answers --------------------------------------------------------------------


def test_same_image_gives_the_same_answer(sandbox, client):
    image = b64(photo((30, 140, 70)))
    first = identify(client, sandbox, {"images": [image]}).json()
    second = identify(client, sandbox, {"images": [image]}).json()
    pick = [(s["name"], s["probability"]) for s in first["result"]["classification"]["suggestions"]]
    again = [
        (s["name"], s["probability"]) for s in second["result"]["classification"]["suggestions"]
    ]
    assert pick == again
    assert first["access_token"] != second["access_token"]
    probabilities = [p for _, p in pick]
    assert len(pick) == 5 and probabilities == sorted(probabilities, reverse=True)
    assert 0.55 <= probabilities[0] <= 0.99


def test_different_images_reach_different_species(sandbox, client):
    tops = {
        identify(client, sandbox, {"images": [b64(photo((20 + n, 150, 60)))]}).json()["result"][
            "classification"
        ]["suggestions"][0]["name"]
        for n in range(8)
    }
    assert len(tops) > 1


def test_details_contain_exactly_the_requested_keys(sandbox, client):
    params = {"details": "common_names,gbif_id,no_such_detail", "language": "en"}
    answer = identify(client, sandbox, params=params).json()
    for suggestion in answer["result"]["classification"]["suggestions"]:
        details = suggestion["details"]
        assert set(details) == {"common_names", "gbif_id", "no_such_detail", "language",
                                "entity_id"}  # fmt: skip
        assert details["no_such_detail"] is None and isinstance(details["gbif_id"], int)
        assert details["entity_id"] == suggestion["id"]
    bare = identify(client, sandbox).json()["result"]["classification"]["suggestions"][0]
    assert set(bare["details"]) == {"language", "entity_id"}


def test_language_is_honoured_without_english_fallback(sandbox, client):
    answer = identify(client, sandbox, params={"details": "common_names,url", "language": "xx"})
    top = answer.json()["result"]["classification"]["suggestions"][0]["details"]
    assert top["language"] == "xx" and top["common_names"] is None
    assert top["url"].startswith("https://xx.wikipedia.org/")


def test_not_a_plant_image_is_flagged(sandbox, client):
    answer = identify(client, sandbox, {"images": [b64(photo(MAGENTA))]}).json()
    assert answer["result"]["is_plant"] == {"probability": 0.05, "binary": False, "threshold": 0.5}
    assert answer["result"]["classification"]["suggestions"][0]["probability"] < 0.3


def test_plantid_multipart_upload_is_accepted(sandbox, client):
    response = client.post(
        f"{sandbox.plantid_url}/identification",
        files=[("images", ("a.jpg", photo(), "image/jpeg"))],
        data={"latitude": "10.5", "similar_images": "false"},
        headers=KEY,
    )
    assert response.status_code == 201
    assert response.json()["input"]["latitude"] == 10.5


def test_credits_run_out_with_429_text(client):
    with SandboxServer(credits=2) as server:
        assert [identify(client, server).status_code for _ in range(3)] == [201, 201, 429]
        assert identify(client, server).text == (
            "The specified api key does not have sufficient number of available credits."
        )
        usage = client.get(f"{server.plantid_url}/usage_info", headers=KEY).json()
        assert usage["remaining"]["total"] == 0 and usage["can_use_credits"]["value"] is False


# -- counting at the sandbox ---------------------------------------------------------------


def test_stats_count_every_identification_call_with_its_status(sandbox, client):
    body = {"images": [b64(photo()), b64(photo((10, 99, 10)))], "latitude": 1.5, "longitude": 2.5}
    identify(client, sandbox, body, params={"details": "rank", "language": "de"})
    identify(client, sandbox, headers={})
    plantnet(client, sandbox, [photo()], ["leaf"])
    stats = client.get(f"{sandbox.url}/_sandbox/stats").json()
    assert stats == json.loads(json.dumps(sandbox.stats()))
    assert (stats["plantid_identify"], stats["plantid_identify_images"]) == (2, 3)
    assert stats["plantnet_identify"] == 1
    first, second, third = stats["calls"]
    assert (first["status"], second["status"], third["status"]) == (201, 401, 200)
    assert first["image_sizes"] == [[64, 48], [64, 48]] and len(first["image_bytes"]) == 2
    assert (first["latitude"], first["longitude"]) == (1.5, 2.5)
    assert (first["details"], first["language"]) == (["rank"], "de")
    assert third["organs"] == ["leaf"] and third["project"] == "all"
    assert "pn-key" not in third["path"]
    assert all(c["t_start"] <= c["t_end"] for c in stats["calls"])

    assert client.post(f"{sandbox.url}/_sandbox/reset").status_code == 200
    after = sandbox.stats()
    assert after["plantid_identify"] == after["plantnet_identify"] == 0 and after["calls"] == []


def test_keep_alive_reuses_one_connection(sandbox, client):
    for _ in range(3):
        assert identify(client, sandbox).status_code == 201
    assert sandbox.stats()["connections"] == 1


# -- fault modes, observable over HTTP -----------------------------------------------------


def set_mode(client, sandbox, **changes):
    response = client.post(f"{sandbox.url}/_sandbox/config", json=changes)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("mode", ["error500", "error503"])
def test_error_modes_answer_html(sandbox, client, mode):
    set_mode(client, sandbox, mode=mode)
    response = identify(client, sandbox)
    assert response.status_code == int(mode[-3:])
    assert response.headers["content-type"].startswith("text/html")
    assert plantnet(client, sandbox, [photo()], ["leaf"]).status_code == int(mode[-3:])
    # usage_info and the stats stay up
    assert client.get(f"{sandbox.plantid_url}/usage_info", headers=KEY).status_code == 200
    assert sandbox.stats()["calls"][0]["fault"] == mode


def test_credits_and_auth_modes(sandbox, client):
    set_mode(client, sandbox, mode="credits")
    response = identify(client, sandbox)
    assert response.status_code == 429 and "available credits" in response.text
    assert plantnet(client, sandbox, [photo()], ["leaf"]).json()["statusCode"] == 429
    set_mode(client, sandbox, mode="auth")
    assert identify(client, sandbox).status_code == 401
    set_mode(client, sandbox, mode=None)
    assert identify(client, sandbox).status_code == 201


def test_badjson_and_badshape_modes(sandbox, client):
    set_mode(client, sandbox, mode="badjson")
    response = identify(client, sandbox)
    assert response.status_code == 201
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)
    set_mode(client, sandbox, mode="badshape")
    answer = identify(client, sandbox).json()
    assert "result" not in answer and answer["status"] == "COMPLETED"
    assert "results" not in plantnet(client, sandbox, [photo()], ["leaf"]).json()


def test_reset_mode_drops_the_connection(sandbox, client):
    sandbox.configure(mode="reset")
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        identify(client, sandbox)
    assert sandbox.stats()["calls"][0]["status"] is None


@pytest.mark.parametrize("mode", ["drip", "hang"])
def test_slow_modes_trip_a_short_client_timeout(sandbox, client, mode):
    # hang holds the call for 300 s, drip sends one byte every 0.5 s: the 0.3 s read timeout is
    # what ends the call, so the sandbox's log still shows it in flight when the client gives up
    sandbox.configure(mode=mode)
    with pytest.raises(httpx.ReadTimeout):
        identify(client, sandbox, timeout=0.3)
    (call,) = sandbox.stats()["calls"]
    assert call["fault"] == mode and call["t_end"] is None


def test_drip_sends_the_real_answer_byte_by_byte(client):
    with SandboxServer(mode="drip", drip_interval=0.01) as server:
        response = identify(client, server, headers={})  # a short real answer: the 401
        assert (response.status_code, response.text) == (401, "No api key provided.")
        # the sandbox's own log: it dripped, then finished (it notes the end just after the
        # last byte, which the client may have read first)
        wait_for(lambda: server.stats()["calls"][0]["t_end"] is not None)
        (call,) = server.stats()["calls"]
        assert call["fault"] == "drip" and call["t_end"] is not None


def test_stop_wakes_a_hanging_call(client):
    # the hang would last an hour: only stop() can end the call, and its log entry says so
    server = SandboxServer(mode="hang", hang_seconds=3600).start()
    try:
        with pytest.raises(httpx.ReadTimeout):
            identify(client, server, timeout=0.2)
        assert server.stats()["calls"][0]["t_end"] is None
    finally:
        server.stop()
    (call,) = wait_for(lambda: [c for c in server.stats()["calls"] if c["t_end"] is not None])
    assert (call["fault"], call["status"]) == ("hang", None)


def test_echo_key_mode_puts_the_key_in_the_error_body(sandbox, client):
    sandbox.configure(mode="echo_key")
    response = identify(client, sandbox, headers={"Api-Key": "sekrit-123"})
    assert response.status_code == 500 and "sekrit-123" in response.text
    assert "pn-secret" in plantnet(client, sandbox, [photo()], ["leaf"], key="pn-secret").text


def test_fail_rate_is_reproducible_with_a_seed(client):
    def statuses() -> list[int]:
        with SandboxServer(fail_rate=0.5, seed=42) as server:
            return [identify(client, server).status_code for _ in range(12)]

    first = statuses()
    assert first == statuses()
    assert set(first) == {201, 500}


def identify_ignoring_errors(server: SandboxServer) -> None:
    """An identification from a thread of its own, ended by the server's stop()."""
    with httpx.Client(timeout=None, trust_env=False) as http:
        try:
            identify(http, server)
        except httpx.HTTPError:
            pass


def test_latency_delays_identification_only(client):
    with SandboxServer(latency_ms=150) as server:
        identify(client, server)
        # t_end is written just after the reply's last byte: the client can read the stats first
        wait_for(lambda: server.stats()["calls"][0]["t_end"] is not None)
        (call,) = server.stats()["calls"]  # held for its latency before it was answered
        assert call["t_end"] - call["t_arrival"] >= 0.15
    # usage_info is answered while an identification is still held by an hour's latency
    server = SandboxServer(latency_ms=3_600_000).start()
    try:
        pending = threading.Thread(target=identify_ignoring_errors, args=(server,), daemon=True)
        pending.start()
        wait_for(lambda: server.stats()["plantid_identify"] == 1)
        usage = client.get(f"{server.plantid_url}/usage_info", headers=KEY)
        assert usage.status_code == 200
        (call,) = server.stats()["calls"]
        assert call["t_end"] is None  # the identification is still waiting out its latency
    finally:
        server.stop()
    pending.join(30)


def test_hold_after_holds_later_identifications_until_released(sandbox, client):
    sandbox.configure(hold_after=1)
    assert identify(client, sandbox).status_code == 201  # the first is not held
    results: list[int] = []

    def second() -> None:
        with httpx.Client(timeout=60, trust_env=False) as http:
            results.append(identify(http, sandbox).status_code)

    thread = threading.Thread(target=second, daemon=True)
    thread.start()
    wait_for(lambda: [c for c in sandbox.stats()["calls"] if c.get("held")])
    assert client.get(f"{sandbox.plantid_url}/usage_info", headers=KEY).status_code == 200
    held = sandbox.stats()["calls"][1]
    assert (held["seq"], held.get("held"), held["t_end"], results) == (2, True, None, [])
    sandbox.configure(hold_after=None)
    thread.join(60)
    assert results == [201]
    assert [c["seq"] for c in sandbox.stats()["calls"]] == [1, 2]
    for bad in (-1, 1.5, "2", True):
        with pytest.raises(ValueError):
            sandbox.configure(hold_after=bad)


def test_stop_wakes_a_held_call(client):
    server = SandboxServer().start()
    server.configure(hold_after=0)
    pending = threading.Thread(target=identify_ignoring_errors, args=(server,), daemon=True)
    pending.start()
    wait_for(lambda: [c for c in server.stats()["calls"] if c.get("held")])
    server.stop()
    (call,) = wait_for(lambda: [c for c in server.stats()["calls"] if c["t_end"] is not None])
    assert (call["held"], call["status"]) == (True, None)
    pending.join(30)


def test_bad_config_is_refused(sandbox, client):
    response = client.post(f"{sandbox.url}/_sandbox/config", json={"mode": "explode"})
    assert response.status_code == 400
    assert client.post(f"{sandbox.url}/_sandbox/config", json={"nope": 1}).status_code == 400
    with pytest.raises(ValueError):
        sandbox.configure(fail_rate=2)


# -- Pl@ntNet ------------------------------------------------------------------------------


def test_plantnet_success_shape(sandbox, client):
    response = plantnet(client, sandbox, [photo(), photo((20, 90, 30))], ["leaf", "auto"],
                        lang="de")  # fmt: skip
    assert response.status_code == 200
    answer = response.json()
    assert answer["query"]["project"] == "all" and answer["query"]["organs"] == ["leaf", "auto"]
    assert len(answer["query"]["images"]) == len(answer["predictedOrgans"]) == 2
    assert answer["language"] == "de" and answer["preferedReferential"] == "k-world-flora"
    best = answer["results"][0]
    assert answer["bestMatch"] == best["species"]["scientificName"]
    species = best["species"]
    assert species["scientificName"].startswith(species["scientificNameWithoutAuthor"])
    assert set(species["genus"]) == set(species["family"]) == {
        "scientificNameWithoutAuthor", "scientificNameAuthorship", "scientificName"}  # fmt: skip
    assert isinstance(best["gbif"]["id"], str) and "id" in best["powo"]
    scores = [r["score"] for r in answer["results"]]
    assert scores == sorted(scores, reverse=True)
    assert answer["remainingIdentificationRequests"] == 499
    assert '"daily";r=499' in response.headers["RateLimit"]
    assert "RateLimit-Policy" in response.headers
    again = plantnet(client, sandbox, [photo()], ["flower"]).json()
    assert again["remainingIdentificationRequests"] == 498


def test_plantnet_not_a_plant_is_404_species_not_found(sandbox, client):
    response = plantnet(client, sandbox, [photo(MAGENTA)], ["leaf"])
    assert response.status_code == 404
    assert response.json() == {"statusCode": 404, "error": "Not Found",
                               "message": "Species not found"}  # fmt: skip
    kept = plantnet(client, sandbox, [photo(MAGENTA)], ["leaf"], **{"no-reject": "true"})
    assert kept.status_code == 200


def test_plantnet_without_or_with_wrong_api_key_is_401(client):
    with SandboxServer(key="pn-right") as server:
        missing = plantnet(client, server, [photo()], ["leaf"], key=None)
        assert missing.status_code == 401 and missing.json()["statusCode"] == 401
        assert plantnet(client, server, [photo()], ["leaf"], key="wrong").status_code == 401
        assert plantnet(client, server, [photo()], ["leaf"], key="pn-right").status_code == 200


def test_plantnet_daily_quota_runs_out_with_429(client):
    with SandboxServer(plantnet_quota=1) as server:
        assert plantnet(client, server, [photo()], ["leaf"]).status_code == 200
        spent = plantnet(client, server, [photo()], ["leaf"])
        assert spent.status_code == 429 and spent.json()["statusCode"] == 429
        assert '"daily";r=0' in spent.headers["RateLimit"]


@pytest.mark.parametrize(
    ("images", "organs", "message"),
    [
        ([photo()], [], "organs"),
        ([photo(), photo()], ["leaf"], "organs"),
        ([photo()], ["root"], "Invalid organ"),
        ([photo()], ["habit"], "beside"),
        ([], ["leaf"], "Missing images"),
        ([photo(fmt="GIF")], ["leaf"], "JPEG and PNG"),
        ([b"not an image"], ["leaf"], "Invalid image"),
    ],
)
def test_plantnet_rejects_bad_requests_with_400(sandbox, client, images, organs, message):
    response = plantnet(client, sandbox, images, organs)
    assert response.status_code == 400
    assert response.json()["statusCode"] == 400 and message in response.json()["message"]


def test_plantnet_usually_agrees_with_plantid(sandbox, client):
    agree = 0
    for n in range(10):
        image = photo((10 + 3 * n, 160, 40))
        plant_id = identify(client, sandbox, {"images": [b64(image)]}).json()
        names = [s["name"] for s in plant_id["result"]["classification"]["suggestions"]]
        best = plantnet(client, sandbox, [image], ["leaf"]).json()["results"][0]["species"]
        other = best["scientificNameWithoutAuthor"]
        agree += other == names[0]
        assert other == names[0] or other in names[1:]  # a close relative when it differs
    assert 6 <= agree < 10


def test_species_table_is_plausible():
    names = [s.name for s in sandbox_data.SPECIES]
    assert len(names) == len(set(names)) >= 20
    assert len({s.gbif_id for s in sandbox_data.SPECIES}) == len(names)


# -- the separate process form ---------------------------------------------------------------


def test_module_runs_as_a_process_and_writes_its_port(tmp_path):
    port_file = tmp_path / "port"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "plantid_cli.sandbox",
            "--port",
            "0",
            "--port-file",
            str(port_file),
        ],
        cwd=Path(__file__).resolve().parents[1],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while not port_file.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        port = int(port_file.read_text())
        stats = httpx.get(f"http://127.0.0.1:{port}/_sandbox/stats", trust_env=False)
        assert stats.json()["plantid_identify"] == 0
    finally:
        process.terminate()
        _, err = process.communicate(timeout=5)
    assert f"plantid sandbox listening on http://127.0.0.1:{port}" in err


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["--port", "99999"], 2, "the port must be 0-65535"),
        (["--port", "-1"], 2, "the port must be 0-65535"),
        (["--port", "0", "--mode", "sleepy"], 2, "Invalid value for '--mode'"),
        (["--port", "0", "--fail-rate", "2"], 2, "fail_rate must be"),
    ],
)
def test_sandbox_command_refuses_bad_options_without_a_traceback(cli_env, args, code, message):
    from conftest import run_plantid

    result = run_plantid(["sandbox", *args], cli_env, timeout=20)
    assert result.returncode == code, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_sandbox_command_on_a_port_in_use_says_so(sandbox, cli_env):
    from conftest import run_plantid

    result = run_plantid(["sandbox", "--port", sandbox.port], cli_env, timeout=20)
    assert result.returncode == 1
    assert "cannot start" in result.stderr and "Traceback" not in result.stderr


def assert_spoiled(kind, answer):
    suggestions = answer["result"]["classification"]["suggestions"]
    if kind == "badtypes":
        assert answer["result"]["is_plant"]["binary"] == "false"
        assert suggestions[0]["name"] == 5
    elif kind == "badlist":
        assert isinstance(suggestions, dict)
    elif kind == "badnumber":
        assert suggestions[0]["probability"] != suggestions[0]["probability"]  # NaN
        assert answer["result"]["is_plant"]["probability"] == float("inf")
    else:
        assert len(suggestions) == 100_000


@pytest.mark.parametrize("kind", ["badtypes", "badlist", "badnumber", "hugelist"])
def test_unusable_answer_modes_are_charged_and_the_reread_is_clean(sandbox, client, kind):
    """Each spoils the POST after charging for it; `fault_reread` spoils the re-read too."""
    set_mode(client, sandbox, mode=kind)
    response = identify(client, sandbox)
    assert response.status_code == 201
    assert sandbox.stats()["credits"]["used"] == 1
    answer = json.loads(response.text)  # Python's json reads NaN and 1e999
    assert_spoiled(kind, answer)
    url = f"{sandbox.plantid_url}/identification/{answer['access_token']}"
    clean = client.get(url, headers=KEY).json()
    assert isinstance(clean["result"]["classification"]["suggestions"], list)
    assert clean["result"]["is_plant"]["binary"] is True
    sandbox.configure(fault_reread=True)
    assert_spoiled(kind, json.loads(client.get(url, headers=KEY).text))
    assert sandbox.stats()["credits"]["used"] == 1  # re-reads are free
    spoiled = plantnet(client, sandbox, [photo()], ["leaf"])
    assert spoiled.status_code == 200 and sandbox.stats()["plantnet_remaining"] == 499


def test_base64_images_are_read_plain_wrapped_or_as_data_urls_and_junk_is_refused(sandbox, client):
    """The strict one-pass decode (issue 17: the copy that stripped whitespace cost every
    upload ~0.6 ms) must still take what it took: line-wrapped base64 and data: URLs."""
    raw = b64(photo())
    wrapped = "\n".join(raw[i : i + 76] for i in range(0, len(raw), 76))
    for image in (raw, wrapped, "data:image/jpeg;base64," + raw):
        response = identify(client, sandbox, {"images": [image]})
        assert response.status_code == 201, image[:40]
    assert identify(client, sandbox, {"images": ["not base64!"]}).status_code == 400
    assert sandbox.stats()["plantid_identify_images"] == 4
