"""`plantid identify` end to end: real subprocesses against the sandbox over loopback."""

from __future__ import annotations

import csv
import io
import json
import shutil

import httpx
import pytest
from conftest import TEST_KEY, run_plantid
from photos import green_photo, magenta_photo


def records_of(result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def identification(sandbox, token: str) -> dict:
    response = httpx.get(
        f"{sandbox.plantid_url}/identification/{token}",
        params={"details": "common_names,taxonomy,gbif_id"},
        headers={"Api-Key": TEST_KEY},
    )
    response.raise_for_status()
    return response.json()


def test_big_southern_western_photo_is_shrunk_located_and_named(tmp_path, sandbox, cli_env):
    photo = green_photo(
        tmp_path / "field.jpg",
        (4000, 3000),
        gps=(-33.8688, -70.6693),
        taken="2024:06:01 10:20:30",
    )
    result = run_plantid(["identify", photo, "--format", "ndjson"], cli_env)
    assert result.returncode == 0, result.stderr
    [record] = records_of(result)

    [call] = sandbox.stats()["calls"]
    assert call["image_sizes"] == [[1500, 1125]]
    assert call["latitude"] == pytest.approx(-33.8688, abs=1e-4)
    assert call["longitude"] == pytest.approx(-70.6693, abs=1e-4)
    assert call["datetime"] == "2024-06-01T10:20:30"

    # The record names exactly what the service answered (re-read from the service itself).
    token = sandbox._identifications and next(iter(sandbox._identifications))
    answered = identification(sandbox, token)["result"]["classification"]["suggestions"][0]
    best = record["best"]
    assert record["status"] == "ok"
    assert best["scientific_name"] == answered["name"]
    assert best["family"] == answered["details"]["taxonomy"]["family"]
    assert best["common_names"] == answered["details"]["common_names"]
    assert best["gbif_id"] == answered["details"]["gbif_id"]
    assert record["location"] == {
        "latitude": pytest.approx(-33.8688, abs=1e-4),
        "longitude": pytest.approx(-70.6693, abs=1e-4),
        "source": "exif",
    }
    assert record["sha256"] and record["cached"] is False and record["schema_version"] == 1


def test_lat_lon_override_and_no_location(tmp_path, sandbox, cli_env):
    photo = green_photo(tmp_path / "p.jpg", gps=(10.0, 20.0))
    result = run_plantid(["identify", photo, "--lat", "-1.5", "--lon", "2.25"], cli_env)
    assert result.returncode == 0, result.stderr
    assert records_of(result)[0]["location"]["source"] == "option"
    result = run_plantid(["identify", photo, "--no-location"], cli_env)
    assert result.returncode == 0, result.stderr
    assert records_of(result)[0]["location"] is None
    calls = sandbox.stats()["calls"]
    assert [(c["latitude"], c["longitude"]) for c in calls] == [(-1.5, 2.25), (None, None)]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--lat", "10"], "--lat and --lon go together"),
        (["--lat", "91", "--lon", "0"], "--lat must be between -90 and 90"),
        (["--lat", "1", "--lon", "2", "--no-location"], "--no-location sends no position"),
    ],
)
def test_inconsistent_location_flags_are_usage_errors(tmp_path, sandbox, cli_env, args, message):
    """Before: --no-location silently won over --lat/--lon."""
    result = run_plantid(["identify", green_photo(tmp_path / "p.jpg"), *args], cli_env)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and result.stdout == ""
    assert sandbox.stats()["plantid_identify"] == 0


def test_folder_with_readme_and_subfolder_gives_one_record_per_image(tmp_path, sandbox, cli_env):
    folder = tmp_path / "card"
    green_photo(folder / "a.jpg", seed=1)
    green_photo(folder / "sub" / "b.JPEG", seed=2)
    magenta_photo(folder / "sub" / "c.jpg")
    (folder / "README.txt").write_text("notes")
    result = run_plantid(["identify", folder, "--format", "json"], cli_env)
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    assert [r["path"].rsplit("/", 1)[-1] for r in records] == ["a.jpg", "b.JPEG", "c.jpg"]
    assert [r["status"] for r in records] == ["ok", "ok", "not_plant"]
    assert sandbox.stats()["plantid_identify"] == 3


def test_broken_file_among_good_ones_is_reported_not_uploaded_exit_1(tmp_path, sandbox, cli_env):
    folder = tmp_path / "mixed"
    green_photo(folder / "good1.jpg", seed=3)
    green_photo(folder / "good2.jpg", seed=4)
    (folder / "broken.jpg").write_bytes(b"<html>not a photo</html>")
    result = run_plantid(["identify", folder], cli_env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    by_name = {r["path"].rsplit("/", 1)[-1]: r for r in records_of(result)}
    assert by_name["broken.jpg"]["status"] == "error"
    assert by_name["broken.jpg"]["error"]["code"] == "not_image"
    assert by_name["good1.jpg"]["status"] == by_name["good2.jpg"]["status"] == "ok"
    assert sandbox.stats()["plantid_identify"] == 2


def test_paths_from_stdin(tmp_path, sandbox, cli_env):
    first = green_photo(tmp_path / "one.jpg", seed=5)
    second = green_photo(tmp_path / "two.jpg", seed=6)
    result = run_plantid(["identify", "-"], cli_env, input=f"{first}\n\n{second}\n")
    assert result.returncode == 0, result.stderr
    assert sorted(r["path"] for r in records_of(result)) == sorted([str(first), str(second)])


def test_csv_parses_with_darwin_core_header(tmp_path, sandbox, cli_env):
    photo = green_photo(tmp_path / "p.jpg", gps=(-12.5, -45.25), taken="2023:05:04 03:02:01")
    result = run_plantid(["identify", photo, "--format", "csv"], cli_env)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 1
    row = rows[0]
    assert row["basisOfRecord"] == "MachineObservation"
    assert float(row["decimalLatitude"]) == pytest.approx(-12.5, abs=1e-4)
    assert float(row["decimalLongitude"]) == pytest.approx(-45.25, abs=1e-4)
    assert row["eventDate"] == "2023-05-04T03:02:01"
    assert row["geodeticDatum"] == "EPSG:4326"
    assert row["taxonID"].startswith("https://www.gbif.org/species/")
    assert row["status"] == "ok" and row["scientificName"]


def test_top_limits_suggestions(tmp_path, sandbox, cli_env):
    photo = green_photo(tmp_path / "p.jpg")
    result = run_plantid(["identify", photo, "--top", "1"], cli_env)
    [record] = records_of(result)
    assert len(record["suggestions"]) == 1
    assert record["suggestions"][0] == record["best"]


def test_no_key_exits_3_and_names_the_fix(tmp_path, sandbox, cli_env):
    env = dict(cli_env)
    del env["PLANTID_API_KEY"]
    result = run_plantid(["identify", green_photo(tmp_path / "p.jpg")], env)
    assert result.returncode == 3
    assert "PLANTID_API_KEY" in result.stderr
    assert "plantid keys set plantid" in result.stderr
    assert "Traceback" not in result.stderr
    assert sandbox.stats()["plantid_identify"] == 0


def test_wrong_key_exits_3_without_traceback(tmp_path, sandbox, cli_env):
    sandbox.configure(key="the-right-key-123")
    result = run_plantid(["identify", green_photo(tmp_path / "p.jpg")], cli_env)
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    [record] = records_of(result)
    assert record["error"]["code"] == "auth"
    assert TEST_KEY not in result.stderr + result.stdout


def test_missing_path_is_named(tmp_path, sandbox, cli_env):
    missing = tmp_path / "nowhere" / "photo.jpg"
    result = run_plantid(["identify", missing], cli_env)
    assert result.returncode == 1
    [record] = records_of(result)
    assert record["error"]["code"] == "not_found"
    assert str(missing) in record["error"]["message"]
    assert "Traceback" not in result.stderr


def test_heic_and_orientation_samples_are_uploaded_upright_as_jpeg(
    tmp_path, samples, sandbox, cli_env
):
    for name in ("iphone-13.heic", "exif-orientation-6.jpg"):
        shutil.copy(samples / name, tmp_path / name)
    result = run_plantid(["identify", tmp_path, "--format", "json"], cli_env)
    assert result.returncode == 0, result.stderr
    sizes = sorted(tuple(c["image_sizes"][0]) for c in sandbox.stats()["calls"])
    # HEIC 3024x4032 portrait -> 1125x1500; orientation-6 600x450 stored -> 450x600 upright
    assert sizes == [(450, 600), (1125, 1500)]


def test_usage_command_reads_credits(sandbox, cli_env):
    result = run_plantid(["usage", "--format", "json"], cli_env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["remaining"]["total"] == sandbox.remaining_credits()


def test_version_and_help(cli_env):
    from plantid_cli import __version__

    result = run_plantid(["--version"], cli_env)
    assert result.stdout.strip() == f"plantid {__version__}"
    for command in ("identify", "status", "cache", "keys", "config", "usage", "sandbox"):
        result = run_plantid([command, "--help"], cli_env)
        assert result.returncode == 0 and "Usage" in result.stdout, command


def test_demo_needs_no_key_and_leaves_the_users_state_alone(isolated_env):
    """`plantid demo` (what `make demo` runs): private sandbox, private cache, no fleet."""
    import os

    env = dict(os.environ, PLANTID_REDIS_URL="redis://127.0.0.1:1/0")
    result = run_plantid(["demo", "examples/wheat.jpg", "--format", "ndjson"], env)
    assert result.returncode == 0, result.stderr
    (record,) = records_of(result)
    assert record["status"] == "ok" and record["best"]["scientific_name"]
    assert "[REDIS]" not in result.stderr  # was: the demo used the user's Redis
    assert not (isolated_env / "cache").exists()
