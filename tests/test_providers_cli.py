"""`--provider plantnet|auto|both`, `--group-by folder` and the Darwin Core CSV, from the CLI.

Every test runs the real `plantid` in a subprocess against the sandbox and counts the calls the
sandbox received (`sandbox.stats()`), so "Plant.id saw three calls" means three HTTP requests.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json

from conftest import TEST_KEY, run_plantid
from photos import green_photo, magenta_photo

from plantid_cli.sandbox.data import SPECIES

PN_KEY = TEST_KEY + "-pn"  # what cli_env sets as PLANTNET_API_KEY
DWC = (
    "scientificName scientificNameAuthorship family genus vernacularName taxonID "
    "identificationQualifier identifiedBy dateIdentified identificationRemarks eventDate "
    "decimalLatitude decimalLongitude geodeticDatum associatedMedia basisOfRecord "
    "catalogNumber occurrenceID identificationVerificationStatus"
).split()


def records_of(result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_plantnet_flower_one_multipart_request_resized_and_normalised(tmp_path, sandbox, cli_env):
    photo = green_photo(tmp_path / "big.jpg", (4000, 3000))
    result = run_plantid(
        ["identify", photo, "--provider", "plantnet", "--organ", "flower", "-f", "ndjson", "-v"],
        cli_env,
    )
    assert result.returncode == 0, result.stderr
    stats = sandbox.stats()
    assert (stats["plantnet_identify"], stats["plantid_identify"]) == (1, 0)
    [call] = stats["calls"]
    assert call["status"] == 200  # the sandbox answers 400 to anything but multipart
    assert call["organs"] == ["flower"] and call["project"] == "all"
    assert call["images"] == 1 and call["image_sizes"] == [[1500, 1125]]

    [record] = records_of(result)
    best = record["best"]
    species = next(s for s in SPECIES if s.name == best["scientific_name"])
    assert best["scientific_name"] == species.name  # plain binomial, no authorship
    assert best["authorship"] == species.authorship
    assert best["family"] == species.family and best["genus"] == species.genus
    assert best["gbif_id"] == species.gbif_id  # an int, as from Plant.id (Pl@ntNet sends a string)
    assert best["probability"] == record["suggestions"][0]["probability"]
    assert record["provider"] == "plantnet" and record["status"] == "ok"
    assert record["model_version"] == "2026-03-20 (7.5)"
    assert record["organs"] == ["flower"]
    assert record["sha256"] == sha(photo)
    assert PN_KEY not in result.stderr + result.stdout

    status = run_plantid(["status", "--format", "json"], cli_env)
    remaining = json.loads(status.stdout)["providers"]["plantnet"]["credits"]["remaining"]
    assert remaining == stats["plantnet_remaining"] == 499
    assert (
        "plantnet: breaker closed (0 failures); credits ok (499 remaining)"
        in run_plantid(["status", "-f", "table"], cli_env).stdout
    )


def test_not_a_plant_is_a_result_not_a_breaker_failure(tmp_path, sandbox, cli_env):
    photo = magenta_photo(tmp_path / "m.jpg")
    result = run_plantid(["identify", photo, "--provider", "plantnet", "-f", "ndjson"], cli_env)
    assert result.returncode == 0, result.stderr
    [record] = records_of(result)
    assert (record["status"], record["best"], record["error"]) == ("not_plant", None, None)
    status = json.loads(run_plantid(["status", "--format", "json"], cli_env).stdout)
    assert status["providers"]["plantnet"]["breaker"]["failures"] == 0


def test_two_specimen_folders_are_two_requests_of_3_and_2(tmp_path, sandbox, cli_env):
    root = tmp_path / "specimens"
    first = [green_photo(root / "oak" / f"{n}.jpg", seed=n) for n in range(3)]
    second = [green_photo(root / "rose" / f"{n}.jpg", seed=10 + n) for n in range(2)]
    result = run_plantid(
        ["identify", root, "--provider", "plantnet", "--group-by", "folder", "--organ", "leaf",
         "-f", "json"],
        cli_env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    calls = sandbox.stats()["calls"]
    assert sorted(c["images"] for c in calls) == [2, 3]
    assert sorted(map(tuple, (c["organs"] for c in calls))) == [("leaf",) * 2, ("leaf",) * 3]
    records = json.loads(result.stdout)
    assert [r["path"] for r in records] == [str(root / "oak"), str(root / "rose")]
    assert [r["index"] for r in records] == [0, 1]
    for record, photos in zip(records, (first, second), strict=True):
        assert record["paths"] == [str(p) for p in photos]
        expected = hashlib.sha256("".join(sorted(sha(p) for p in photos)).encode()).hexdigest()
        assert record["sha256"] == expected
        assert record["status"] == "ok"
    assert "2 specimens, 2 ok" in result.stderr  # one record per specimen

    again = run_plantid(
        ["identify", root, "--provider", "plantnet", "--group-by", "folder", "--organ", "leaf",
         "-f", "csv"],
        cli_env,
    )  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(again.stdout)))
    assert [row["associatedMedia"] for row in rows] == [
        " | ".join(str(p) for p in photos) for photos in (first, second)
    ]
    assert [row["cached"] for row in rows] == ["true", "true"]
    assert len(sandbox.stats()["calls"]) == 2


def test_a_folder_of_six_is_an_error_record_and_nothing_is_sent(tmp_path, sandbox, cli_env):
    for n in range(6):
        green_photo(tmp_path / "big" / f"{n}.jpg", seed=n)
    result = run_plantid(["identify", tmp_path / "big", "--group-by", "folder"], cli_env)
    assert result.returncode == 1
    [record] = records_of(result)
    assert record["error"]["code"] == "too_many_photos"
    assert str(tmp_path / "big") in record["error"]["message"]
    assert sandbox.stats()["plantid_identify"] == 0


def test_auto_falls_back_and_plantid_sees_only_the_calls_that_opened_its_breaker(
    tmp_path, sandbox, cli_env
):
    sandbox.configure(mode_plantid="error503")
    env = dict(cli_env, PLANTID_BREAKER_FAIL_MAX="3", PLANTID_BREAKER_RESET_TIMEOUT="300")
    reasons = []
    for n in range(6):
        photo = green_photo(tmp_path / f"p{n}.jpg", seed=n)
        result = run_plantid(["identify", photo, "--provider", "auto", "-f", "ndjson"], env)
        assert result.returncode == 0, result.stderr
        [record] = records_of(result)
        assert record["provider"] == "plantnet" and record["status"] == "ok"
        assert record["degraded"] is True
        assert record["providers"]["plantnet"] == {"status": "ok", "reason": None, "cached": False}
        assert record["providers"]["plantid"]["status"] == "unavailable"
        reasons.append(record["providers"]["plantid"]["reason"])
        assert "1 degraded" in result.stderr
    assert reasons == ["http-503"] * 3 + ["circuit-open"] * 3
    stats = sandbox.stats()
    assert (stats["plantid_identify"], stats["plantnet_identify"]) == (3, 6)


def test_auto_serves_a_cached_plantid_answer_without_asking_plantnet(tmp_path, sandbox, cli_env):
    photo = green_photo(tmp_path / "a.jpg")
    first = run_plantid(["identify", photo, "-f", "ndjson"], cli_env)
    assert first.returncode == 0, first.stderr
    sandbox.configure(mode_plantid="error503")
    again = run_plantid(["identify", photo, "--provider", "auto", "-f", "ndjson"], cli_env)
    [record] = records_of(again)
    assert record["provider"] == "plantid" and record["cached"] is True
    assert "degraded" not in record
    stats = sandbox.stats()
    assert (stats["plantid_identify"], stats["plantnet_identify"]) == (1, 0)


def test_auto_with_both_down_is_an_outage_with_both_reasons(tmp_path, sandbox, cli_env):
    sandbox.configure(mode_plantid="error503", mode_plantnet="auth")
    photo = green_photo(tmp_path / "a.jpg")
    result = run_plantid(["identify", photo, "--provider", "auto", "-f", "ndjson"], cli_env)
    assert result.returncode == 3  # the rejected key is the most actionable
    [record] = records_of(result)
    assert record["status"] == "error" and record["error"]["code"] == "auth"
    assert record["providers"]["plantid"]["reason"] == "http-503"
    assert record["providers"]["plantnet"]["reason"] == "auth-rejected"
    assert PN_KEY not in result.stdout + result.stderr


def test_plantnet_quota_cool_down_says_quota_and_points_at_status(tmp_path, sandbox, cli_env):
    sandbox.configure(plantnet_quota=0)
    args = ["--provider", "plantnet", "-f", "ndjson"]
    first = run_plantid(["identify", green_photo(tmp_path / "a.jpg"), *args], cli_env)
    later = run_plantid(["identify", green_photo(tmp_path / "b.jpg", seed=1), *args], cli_env)
    assert first.returncode == later.returncode == 4
    assert sandbox.stats()["plantnet_identify"] == 1  # the second run is refused locally
    for result in (first, later):
        [record] = records_of(result)
        assert record["error"]["code"] == "credits"
        # `plantid usage` shows Plant.id's credits only; the quota is in `plantid status`
        assert record["error"]["message"].startswith("plantnet: daily quota used up")
        assert "see plantid status" in record["error"]["message"]


def test_both_asks_each_once_and_a_later_single_run_reuses_its_part(tmp_path, sandbox, cli_env):
    photo = green_photo(tmp_path / "a.jpg")
    result = run_plantid(["identify", photo, "--provider", "both", "-f", "ndjson"], cli_env)
    assert result.returncode == 0, result.stderr
    [record] = records_of(result)
    plantid, plantnet = record["providers"]["plantid"], record["providers"]["plantnet"]
    assert plantid["status"] == plantnet["status"] == "ok"
    names = plantid["best"]["scientific_name"], plantnet["best"]["scientific_name"]
    genera = plantid["best"]["genus"], plantnet["best"]["genus"]
    expected = (
        "species" if names[0] == names[1] else "genus" if genera[0] == genera[1] else "differ"
    )
    assert record["agreement"] == expected
    chosen = max((plantid, plantnet), key=lambda p: p["best"]["probability"])
    assert record["best"]["scientific_name"] == chosen["best"]["scientific_name"]
    assert "2 credits used" in result.stderr
    for provider in ("plantid", "plantnet"):
        again = run_plantid(["identify", photo, "--provider", provider, "-f", "ndjson"], cli_env)
        [cached] = records_of(again)
        assert cached["cached"] is True and cached["provider"] == provider
    stats = sandbox.stats()
    assert (stats["plantid_identify"], stats["plantnet_identify"]) == (1, 1)


def test_darwin_core_csv_has_every_column_with_the_exif_position(tmp_path, sandbox, cli_env):
    photo = green_photo(
        tmp_path / "field.jpg", gps=(-33.8688, 151.2093), taken="2024:06:01 10:20:30"
    )
    result = run_plantid(
        ["identify", photo, "--provider", "plantnet", "--organ", "leaf", "--format", "csv",
         "--confidence-threshold", "1.0"],
        cli_env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    reader = csv.DictReader(io.StringIO(result.stdout))
    assert reader.fieldnames[: len(DWC)] == DWC
    assert reader.fieldnames[len(DWC) :][:4] == ["index", "status", "probability", "provider"]
    [row] = list(reader)
    species = next(s for s in SPECIES if row["scientificName"].startswith(s.name + " "))
    assert row["scientificName"] == f"{species.name} {species.authorship}"
    assert row["scientificNameAuthorship"] == species.authorship
    assert (row["family"], row["genus"]) == (species.family, species.genus)
    assert row["vernacularName"] == "; ".join(species.common_names["en"])
    assert row["taxonID"] == f"https://www.gbif.org/species/{species.gbif_id}"
    assert row["identificationQualifier"] == "cf."  # every score is below 1.0
    assert row["identifiedBy"] == "Pl@ntNet 2026-03-20 (7.5)"
    assert row["dateIdentified"].startswith("20") and "T" in row["dateIdentified"]
    probability = float(row["probability"])
    assert row["identificationRemarks"] == (
        f"probability {probability:.3f}; provider Pl@ntNet; organs leaf"
    )
    assert row["eventDate"] == "2024-06-01T10:20:30"
    assert abs(float(row["decimalLatitude"]) - -33.8688) < 1e-4
    assert abs(float(row["decimalLongitude"]) - 151.2093) < 1e-4
    assert row["geodeticDatum"] == "EPSG:4326"
    assert row["associatedMedia"] == str(photo)
    assert row["basisOfRecord"] == "MachineObservation"
    assert (row["provider"], row["degraded"], row["status"]) == ("plantnet", "false", "ok")

    # high confidence threshold off: no qualifier
    plain = run_plantid(
        ["identify", photo, "--provider", "plantnet", "--organ", "leaf", "--format", "csv",
         "--confidence-threshold", "0"],
        cli_env,
    )  # fmt: skip
    [row] = list(csv.DictReader(io.StringIO(plain.stdout)))
    assert row["identificationQualifier"] == "" and row["cached"] == "true"


def test_pinned_lat_lon_of_a_cached_plantnet_answer_does_not_leak(tmp_path, sandbox, cli_env):
    photo = green_photo(tmp_path / "a.jpg", gps=(10.5, 20.25))
    args = ["identify", photo, "--provider", "plantnet", "-f", "ndjson"]
    [pinned] = records_of(run_plantid([*args, "--lat", "1", "--lon", "2"], cli_env))
    assert pinned["location"] == {"latitude": 1.0, "longitude": 2.0, "source": "option"}
    [again] = records_of(run_plantid(args, cli_env))
    assert again["cached"] is True
    assert again["location"] == {"latitude": 10.5, "longitude": 20.25, "source": "exif"}
    [hidden] = records_of(run_plantid([*args, "--no-location"], cli_env))
    assert hidden["location"] is None
    assert sandbox.stats()["plantnet_identify"] == 1
