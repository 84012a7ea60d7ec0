"""Specimen identity (issue 15): `specimen` and `catalog_number` in records, `catalogNumber`,
`occurrenceID` and `associatedMedia` in the CSV, specimen titles and counts in the report."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re

from conftest import run_plantid
from photos import green_photo
from scans import green_tiff


def records(stdout: str) -> dict[str, dict]:
    found = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    return {r["path"]: r for r in found}


def _herbarium(root):
    """box-1/LE01234567 (two photos), K000123456 (one), batch-2 (files named by barcode)."""
    green_tiff(root / "box-1" / "LE01234567" / "front.tif", seed=1)
    green_tiff(root / "box-1" / "LE01234567" / "label.tif", seed=2)
    green_tiff(root / "K000123456" / "sheet.tif", seed=3)
    green_tiff(root / "batch-2" / "P00987654_sheet.tif", seed=4)
    return root


def test_group_by_folder_records_name_the_specimen_and_its_number(tmp_path, sandbox, cli_env):
    root = _herbarium(tmp_path / "herbarium")
    result = run_plantid(["identify", root, "--group-by", "folder", "-f", "ndjson"], cli_env)
    assert result.returncode == 0, result.stderr
    found = {r["specimen"]: r for r in records(result.stdout).values()}
    assert set(found) == {"box-1/LE01234567", "K000123456", "batch-2"}
    assert found["box-1/LE01234567"]["catalog_number"] == "LE01234567"  # the folder's name
    assert found["batch-2"]["catalog_number"] == "batch-2"
    assert len(found["box-1/LE01234567"]["paths"]) == 2


def test_catalog_number_regex_from_folder_then_file_names(tmp_path, sandbox, cli_env):
    root = _herbarium(tmp_path / "herbarium")
    green_tiff(root / "unnumbered" / "sheet.tif", seed=5)
    result = run_plantid(
        ["identify", root, "--group-by", "folder", "--catalog-number", r"[A-Z]{1,4}\d{6,9}",
         "-f", "csv"],
        cli_env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = {row["specimen"]: row for row in csv.DictReader(io.StringIO(result.stdout))}
    assert rows["box-1/LE01234567"]["catalogNumber"] == "LE01234567"
    assert rows["batch-2"]["catalogNumber"] == "P00987654"  # from the file name
    assert rows["unnumbered"]["catalogNumber"] == ""  # no match: none
    # occurrenceID: stable, from the number, else from the specimen's sha256
    assert rows["K000123456"]["occurrenceID"] == "urn:catalog:plantid:K000123456"
    assert (
        rows["unnumbered"]["occurrenceID"] == "urn:plantid:sha256:" + rows["unnumbered"]["sha256"]
    )
    media = rows["box-1/LE01234567"]["associatedMedia"].split(" | ")
    assert [m.rsplit("/", 1)[-1] for m in media] == ["front.tif", "label.tif"]
    # the same folder run again (cached): the same IDs
    again = run_plantid(
        ["identify", root, "--group-by", "folder", "--catalog-number", r"[A-Z]{1,4}\d{6,9}",
         "-f", "csv"],
        cli_env,
    )  # fmt: skip
    again_rows = {row["specimen"]: row for row in csv.DictReader(io.StringIO(again.stdout))}
    assert {k: r["occurrenceID"] for k, r in again_rows.items()} == {
        k: r["occurrenceID"] for k, r in rows.items()
    }
    assert sandbox.stats()["plantid_identify"] == 4


def test_a_group_in_the_regex_is_the_number(tmp_path, sandbox, cli_env):
    green_photo(tmp_path / "barcode-000123.jpg")
    green_photo(tmp_path / "other.jpg", seed=2)
    result = run_plantid(
        ["identify", tmp_path, "--catalog-number", r"barcode-(\d+)", "-f", "ndjson"], cli_env
    )
    assert result.returncode == 0, result.stderr
    found = {r["path"].rsplit("/", 1)[-1]: r for r in records(result.stdout).values()}
    # without grouping: per photo, and no `specimen`
    assert found["barcode-000123.jpg"]["catalog_number"] == "000123"
    assert found["other.jpg"]["catalog_number"] is None
    assert "specimen" not in found["other.jpg"]


def test_without_the_option_a_photo_record_has_no_identity_fields(tmp_path, sandbox, cli_env):
    green_photo(tmp_path / "LE01234567.jpg")
    result = run_plantid(["identify", tmp_path, "-f", "ndjson"], cli_env)
    [record] = records(result.stdout).values()
    assert "catalog_number" not in record and "specimen" not in record
    digest = hashlib.sha256((tmp_path / "LE01234567.jpg").read_bytes()).hexdigest()
    row = next(csv.DictReader(io.StringIO(run_plantid(
        ["identify", tmp_path, "-f", "csv"], cli_env).stdout)))  # fmt: skip
    assert row["occurrenceID"] == f"urn:plantid:sha256:{digest}"
    assert row["associatedMedia"].endswith("LE01234567.jpg")


def test_a_bad_regex_is_a_usage_error_before_anything_is_sent(tmp_path, sandbox, cli_env):
    green_photo(tmp_path / "a.jpg")
    for pattern, says in (("[A-Z", "not a regular expression"), ("(a)(b)", "at most one group")):
        result = run_plantid(["identify", tmp_path, "--catalog-number", pattern], cli_env)
        assert result.returncode == 2, result.stderr
        assert says in result.stderr and "Traceback" not in result.stderr
    assert sandbox.stats()["plantid_identify"] == 0


def test_report_titles_cards_by_specimen_and_counts_specimens_and_photos(
    tmp_path, sandbox, cli_env
):
    root = _herbarium(tmp_path / "herbarium")
    report = tmp_path / "report.html"
    result = run_plantid(
        ["identify", root, "--group-by", "folder", "--report", report, "-f", "ndjson"], cli_env
    )
    assert result.returncode == 0, result.stderr
    page = report.read_text()
    assert "3 specimens · 4 photos" in page
    numbers = re.findall(r'<b class="catno">([^<]+)</b>', page)
    assert sorted(numbers) == ["K000123456", "LE01234567", "batch-2"]
    assert "+1 more" not in page  # was "front.tif +1 more": now the folder and both names
    assert "front.tif, label.tif" in page
