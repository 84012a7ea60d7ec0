"""Pl@ntNet v2 provider, specimen grouping and the auto/both strategy, in process.

The provider is checked against the real sandbox over HTTP: its normalised answer is compared
with the raw JSON the sandbox gives for the very same upload (no mocked httpx).
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import httpx
import pytest
from photos import green_photo, magenta_photo

from plantid_cli.errors import (
    AuthError,
    CircuitOpenError,
    CreditsExhausted,
    ImageError,
    PlantidError,
    RequestRejected,
    ServiceUnavailable,
)
from plantid_cli.images.prepare import prepare_image
from plantid_cli.inputs.specimens import Specimen, group_by_folder, specimen_sha256
from plantid_cli.inputs.walk import ImageJob, iter_jobs
from plantid_cli.providers.base import IdentifyRequest, send
from plantid_cli.providers.plantnet import PlantNetProvider
from plantid_cli.run.combine import Outcome, agreement, combine, to_ask

KEY = "pn-secret-key-8c1d5e"


@pytest.fixture
def client():
    with httpx.Client(timeout=10, trust_env=False) as c:
        yield c


def raw_plantnet(sandbox, jpegs: list[bytes], organs: list[str]) -> httpx.Response:
    files = [
        ("images", (f"image{n}.jpg", io.BytesIO(b), "image/jpeg")) for n, b in enumerate(jpegs)
    ]
    return httpx.post(
        f"{sandbox.plantnet_url}/identify/all",
        params={"api-key": KEY, "lang": "en", "nb-results": "10"},
        files=files,
        data={"organs": organs},
    )


def test_answer_is_normalised_from_the_raw_v2_fields(tmp_path, sandbox, client):
    image = prepare_image(green_photo(tmp_path / "a.jpg", (4000, 3000)))
    assert (image.width, image.height) == (1500, 1125)
    provider = PlantNetProvider(sandbox.plantnet_url, KEY)
    answer = provider.identify(client, [image], IdentifyRequest(organs=("flower",)), None, None)
    raw = raw_plantnet(sandbox, [image.jpeg], ["flower"]).json()

    assert answer.status == "ok"
    assert answer.model_version == raw["version"] == "2026-03-20 (7.5)"
    assert answer.remaining == raw["remainingIdentificationRequests"] + 1  # raw call came after
    assert len(answer.suggestions) == len(raw["results"])
    for mine, theirs in zip(answer.suggestions, raw["results"], strict=True):
        species = theirs["species"]
        assert mine["scientific_name"] == species["scientificNameWithoutAuthor"]
        assert mine["iucn_category"] == (theirs.get("iucn") or {}).get("category")
        assert mine["authorship"] == (species["scientificNameAuthorship"] or None)  # "": none
        assert mine["family"] == species["family"]["scientificNameWithoutAuthor"]
        assert mine["genus"] == species["genus"]["scientificNameWithoutAuthor"]
        assert mine["common_names"] == species["commonNames"]
        # Pl@ntNet sends a string; records keep Plant.id's type (one shape whatever the provider)
        assert isinstance(theirs["gbif"]["id"], str)
        assert mine["gbif_id"] == int(theirs["gbif"]["id"])
        assert mine["url"].endswith(theirs["powo"]["id"])  # the accepted name's POWO page
        assert mine["probability"] == theirs["score"]
    assert answer.best == answer.suggestions[0]
    assert answer.extra["organs"] == ["flower"]

    calls = sandbox.stats()["calls"]
    assert [c["organs"] for c in calls] == [["flower"], ["flower"]]
    assert calls[0]["image_sizes"] == [[1500, 1125]]
    assert "api-key=***" in calls[0]["path"]


def test_species_not_found_is_not_plant_not_a_failure(tmp_path, sandbox, client):
    image = prepare_image(magenta_photo(tmp_path / "m.jpg"))
    provider = PlantNetProvider(sandbox.plantnet_url, KEY)
    answer = provider.identify(client, [image], IdentifyRequest(), None, None)
    assert answer.status == "not_plant"
    assert answer.best is None and answer.suggestions == []
    assert sandbox.stats()["statuses"] == {"404": 1}


def test_a_wrong_url_404_is_still_a_configuration_error(tmp_path, sandbox, client):
    image = prepare_image(green_photo(tmp_path / "a.jpg"))
    provider = PlantNetProvider(sandbox.url + "/v9", KEY)
    with pytest.raises(PlantidError) as info:
        provider.identify(client, [image], IdentifyRequest(), None, None)
    assert info.value.code == "config"


@pytest.mark.parametrize(
    ("mode", "error", "reason"),
    [
        ("auth", AuthError, "auth-rejected"),
        ("credits", CreditsExhausted, "credits"),
        ("error503", ServiceUnavailable, "http-503"),
        ("error500", ServiceUnavailable, "http-500"),
    ],
)
def test_failures_are_classified(tmp_path, sandbox, client, mode, error, reason):
    image = prepare_image(green_photo(tmp_path / "a.jpg"))
    sandbox.configure(mode_plantnet=mode)
    provider = PlantNetProvider(sandbox.plantnet_url, KEY)
    with pytest.raises(error) as info:
        provider.identify(client, [image], IdentifyRequest(), None, None)
    assert info.value.reason == reason
    assert KEY not in str(info.value)


def test_six_photos_are_a_bad_request(tmp_path, sandbox, client):
    images = [prepare_image(green_photo(tmp_path / f"{n}.jpg", seed=n)) for n in range(6)]
    provider = PlantNetProvider(sandbox.plantnet_url, KEY)
    with pytest.raises(RequestRejected):
        provider.identify(client, images, IdentifyRequest(), None, None)


def test_key_echoed_in_an_error_body_is_redacted(tmp_path, sandbox, client):
    image = prepare_image(green_photo(tmp_path / "a.jpg"))
    sandbox.configure(mode_plantnet="echo_key")
    provider = PlantNetProvider(sandbox.plantnet_url, KEY)
    with pytest.raises(ServiceUnavailable) as info:
        provider.identify(client, [image], IdentifyRequest(), None, None)
    assert KEY not in str(info.value) and KEY not in info.value.message


def test_send_never_lets_the_url_key_out_of_an_exception(client):
    with socket_closed_port() as port:
        with pytest.raises(ServiceUnavailable) as info:
            send(
                client,
                "plantnet",
                "POST",
                f"http://127.0.0.1:{port}/v2/identify/all",
                params={"api-key": KEY},
            )
    assert KEY not in str(info.value)
    with pytest.raises(PlantidError) as info:  # httpx.InvalidURL quotes the URL
        send(client, "plantnet", "GET", f"http://[::1/identify?api-key={KEY}")
    assert KEY not in str(info.value)
    assert not isinstance(info.value, ServiceUnavailable)  # not an outage: no breaker hit


class socket_closed_port:
    def __enter__(self) -> int:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def __exit__(self, *exc) -> None:
        pass


def test_cache_params_hold_organs_project_language_but_no_location():
    provider = PlantNetProvider("http://x/v2", KEY)
    params = provider.cache_params(
        IdentifyRequest(
            language="de,en",
            organs=("leaf", "leaf"),
            project="weurope",
            latitude=1.0,
            longitude=2.0,
        )
    )
    assert params == {
        "organs": ["leaf", "leaf"],
        "project": "weurope",
        "language": "de",
        "endpoint": "http://x/v2",  # not the real service: its answers are kept apart
    }
    assert provider.organs_for(IdentifyRequest(organs=("bark",)), 3) == ["bark"] * 3


def test_sandbox_mode_can_target_one_api(tmp_path, sandbox):
    sandbox.configure(mode_plantid="error503")
    jpeg = (green_photo(tmp_path / "a.jpg")).read_bytes()
    assert raw_plantnet(sandbox, [jpeg], ["leaf"]).status_code == 200
    response = httpx.post(
        f"{sandbox.plantid_url}/identification", json={"images": []}, headers={"Api-Key": "k"}
    )
    assert response.status_code == 503
    sandbox.configure(mode_plantid=None, mode_plantnet="error500")
    assert raw_plantnet(sandbox, [jpeg], ["leaf"]).status_code == 500
    with pytest.raises(ValueError):
        sandbox.configure(mode_plantnet="bogus")


# ----- specimens ------------------------------------------------------------------------------
def test_grouping_follows_the_depth_first_walk(tmp_path):
    for name in ("a/1.jpg", "a/b/x.jpg", "a/b/y.jpg", "a/c.jpg", "d/1.jpg"):
        green_photo(tmp_path / name)
    specimens = list(group_by_folder(iter_jobs([str(tmp_path)])))
    shown = [
        (s.index, Path(s.path).relative_to(tmp_path).as_posix(), len(s.members)) for s in specimens
    ]
    assert shown == [(0, "a/b", 2), (1, "a", 2), (2, "d", 1)]
    assert specimens[1].paths == [str(tmp_path / "a/1.jpg"), str(tmp_path / "a/c.jpg")]
    assert all(s.error is None for s in specimens)


def test_more_than_five_photos_is_an_error_naming_the_folder(tmp_path):
    for n in range(7):
        (tmp_path / "big").mkdir(exist_ok=True)
        (tmp_path / "big" / f"{n}.jpg").write_bytes(b"x")
    [specimen] = group_by_folder(iter_jobs([str(tmp_path)]))
    assert isinstance(specimen.error, ImageError)
    assert specimen.error.code == "too_many_photos"
    assert specimen.error.message.startswith(f"{tmp_path / 'big'}: 7 photos")


def test_a_missing_photo_fails_its_specimen(tmp_path):
    jobs = [
        ImageJob(0, tmp_path / "f" / "1.jpg", str(tmp_path / "f" / "1.jpg")),
        ImageJob(
            1,
            tmp_path / "f" / "2.jpg",
            str(tmp_path / "f" / "2.jpg"),
            ImageError("not_found", "no such file: 2.jpg"),
        ),
    ]
    [specimen] = group_by_folder(jobs)
    assert specimen.error is not None and specimen.error.code == "not_found"


def test_specimen_identity_ignores_file_order():
    one, two = hashlib.sha256(b"1").hexdigest(), hashlib.sha256(b"2").hexdigest()
    expected = hashlib.sha256((min(one, two) + max(one, two)).encode()).hexdigest()
    assert specimen_sha256([one, two]) == specimen_sha256([two, one]) == expected
    assert isinstance(Specimen(0, Path("."), ".", ()), Specimen)


# ----- strategy -------------------------------------------------------------------------------
def _stored(provider: str, name: str | None, probability: float = 0.5) -> dict:
    best = (
        None
        if name is None
        else {"scientific_name": name, "genus": name.split()[0], "probability": probability}
    )
    return {"provider": provider, "status": "ok" if best else "not_plant", "best": best}


def test_auto_asks_the_fallback_only_after_an_outage_like_failure():
    down = Outcome("plantid", error=CircuitOpenError("open"))
    assert to_ask("auto", {}) == ["plantid"]
    assert to_ask("auto", {"plantid": Outcome("plantid", _stored("plantid", "A b"))}) == []
    assert to_ask("auto", {"plantid": down}) == ["plantnet"]
    refused = Outcome("plantid", error=RequestRejected("bad"))
    assert to_ask("auto", {"plantid": refused}) == []
    assert to_ask("plantid", {"plantid": down}) == []
    assert to_ask("both", {}) == ["plantid", "plantnet"]

    combined = combine(
        "auto",
        {"plantid": down, "plantnet": Outcome("plantnet", _stored("plantnet", "A b"), cached=True)},
    )
    assert combined.provider == "plantnet" and combined.cached
    assert combined.stored["degraded"] is True
    assert combined.stored["providers"]["plantid"] == {
        "status": "unavailable",
        "reason": "circuit-open",
        "message": "open",
    }
    assert combined.stored["providers"]["plantnet"] == {
        "status": "ok",
        "reason": None,
        "cached": True,
    }


def test_both_failing_reports_the_most_serious_error():
    outcomes = {
        "plantid": Outcome("plantid", error=ServiceUnavailable("down", reason="http-503")),
        "plantnet": Outcome("plantnet", error=AuthError("bad key")),
    }
    combined = combine("auto", outcomes)
    assert combined.stored is None and combined.provider == "plantnet"
    assert combined.error.code == "auth"
    assert set(combined.fields["providers"]) == {"plantid", "plantnet"}


def test_agreement_and_the_chosen_best():
    assert (
        agreement(
            {"scientific_name": "Urtica dioica", "genus": "Urtica"},
            {"scientific_name": "urtica  dioica", "genus": "Urtica"},
        )
        == "species"
    )
    assert (
        agreement(
            {"scientific_name": "Urtica dioica", "genus": "Urtica"},
            {"scientific_name": "Urtica urens", "genus": "Urtica"},
        )
        == "genus"
    )
    assert (
        agreement(
            {"scientific_name": "A b", "genus": "A"}, {"scientific_name": "C d", "genus": "C"}
        )
        == "differ"
    )
    outcomes = {
        "plantid": Outcome("plantid", _stored("plantid", "Urtica dioica", 0.4)),
        "plantnet": Outcome("plantnet", _stored("plantnet", "Urtica urens", 0.8)),
    }
    combined = combine("both", outcomes)
    assert combined.provider == "plantnet"
    assert combined.stored["agreement"] == "genus"
    assert combined.stored["best"]["scientific_name"] == "Urtica urens"
    assert combined.stored["providers"]["plantid"]["best"]["scientific_name"] == "Urtica dioica"
    one_down = dict(outcomes, plantnet=Outcome("plantnet", error=CreditsExhausted("quota")))
    degraded = combine("both", one_down)
    assert degraded.provider == "plantid" and degraded.stored["degraded"] is True
    assert degraded.stored["agreement"] is None
    assert degraded.stored["providers"]["plantnet"]["reason"] == "credits"


def test_module_sizes_stay_small():
    root = Path(__file__).resolve().parents[1] / "plantid_cli"
    for name in ("providers/plantnet.py", "run/combine.py", "inputs/specimens.py"):
        assert len((root / name).read_text().splitlines()) < 400, name
    assert os.path.exists(root / "providers" / "plantid.py")
