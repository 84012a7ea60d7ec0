"""`plantid tag` and `plantid report` trust content, not paths; names that are not plain UTF-8
reopen; a results file cut short still reads; CSV cells never run as formulas (issue 12).
Real CLI subprocesses against the sandbox, real files, real sidecars."""

from __future__ import annotations

import base64
import csv
import io
import json
import logging
import os
import re
from pathlib import Path

import pytest
from conftest import run_plantid
from photos import green_photo, magenta_photo
from runs import needs_exempi

from plantid_cli.outputs.readback import read_records

MISMATCH = "skipped: content changed or not the same file"


def identify_into(folder: Path, names: list[str], env) -> Path:
    """`plantid identify NAMES` run inside `folder` (relative paths), results saved there."""
    result = run_plantid(["identify", *names, "--format", "ndjson"], env, cwd=folder)
    assert result.returncode == 0, result.stderr
    results = folder / "results.ndjson"
    results.write_text(result.stdout, encoding="utf-8")
    return results


def thumbnail_colours(html: str) -> list[tuple[int, int, int]]:
    """The mean colour of each embedded thumbnail (which photo the page really shows)."""
    from PIL import Image, ImageStat

    colours = []
    for data in re.findall(r"data:image/jpeg;base64,([A-Za-z0-9+/=]+)", html):
        image = Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")
        colours.append(tuple(int(c) for c in ImageStat.Stat(image).mean))
    return colours


def is_green(colour: tuple[int, int, int]) -> bool:
    red, green, blue = colour
    return green > red and green > blue


# -- item 4: content, not paths ------------------------------------------------------------------


@needs_exempi
def test_tag_from_another_folder_tags_the_identified_photo_not_a_namesake(
    tmp_path, sandbox, cli_env
):
    shoot, other = tmp_path / "shoot", tmp_path / "other"
    green_photo(shoot / "photo.jpg")
    other.mkdir()
    magenta_photo(other / "photo.jpg")  # same name, another photo
    results = identify_into(shoot, ["photo.jpg"], cli_env)

    tagged = run_plantid(["tag", results], cli_env, cwd=other)
    assert tagged.returncode == 0, tagged.stderr
    assert not (other / "photo.xmp").exists()  # the namesake is never written
    name = json.loads(results.read_text())["best"]["scientific_name"]
    assert name in (shoot / "photo.xmp").read_text(encoding="utf-8")


@needs_exempi
def test_tag_refuses_a_photo_whose_content_changed(tmp_path, sandbox, cli_env):
    shoot = tmp_path / "shoot"
    green_photo(shoot / "a.jpg", seed=1)
    green_photo(shoot / "b.jpg", seed=2)
    results = identify_into(shoot, ["a.jpg", "b.jpg"], cli_env)
    magenta_photo(shoot / "a.jpg")  # replaced after the run

    tagged = run_plantid(["tag", results], cli_env, cwd=shoot)
    assert tagged.returncode == 1, tagged.stderr
    assert f"1 {MISMATCH}" in tagged.stderr
    assert "1 sidecar written" in tagged.stderr  # issue 16: not "1 sidecars"
    assert not (shoot / "a.xmp").exists()
    assert (shoot / "b.xmp").exists()


def test_report_shows_the_identified_photo_and_never_a_changed_one(tmp_path, sandbox, cli_env):
    shoot, other = tmp_path / "shoot", tmp_path / "other"
    green_photo(shoot / "photo.jpg")
    other.mkdir()
    magenta_photo(other / "photo.jpg")
    results = identify_into(shoot, ["photo.jpg"], cli_env)

    page = other / "page.html"
    shown = run_plantid(["report", results, "-o", page], cli_env, cwd=other)
    assert shown.returncode == 0, shown.stderr
    colours = thumbnail_colours(page.read_text(encoding="utf-8"))
    assert len(colours) == 1 and is_green(colours[0])  # shoot/photo.jpg, not other/photo.jpg

    magenta_photo(shoot / "photo.jpg")  # now neither file is the one identified
    again = run_plantid(["report", results, "-o", page], cli_env, cwd=other)
    assert again.returncode == 0, again.stderr
    assert f"1 {MISMATCH}" in again.stderr
    assert thumbnail_colours(page.read_text(encoding="utf-8")) == []


# -- item 5: names that are not plain UTF-8 ------------------------------------------------------

ODD_NAMES = [b"caf\xe9.jpg", b"tab\there.jpg", b"new\nline.jpg"]


@needs_exempi
def test_odd_names_are_identified_tagged_and_shown(tmp_path, sandbox, cli_env):
    folder = tmp_path / "odd"
    folder.mkdir()
    for seed, raw in enumerate(ODD_NAMES):
        green_photo(Path(os.fsdecode(os.fsencode(folder) + b"/" + raw)), seed=seed)
    results = identify_into(tmp_path, ["odd"], cli_env)
    records = read_records(results)
    assert sorted(r["status"] for r in records) == ["ok"] * 3
    exact = sorted(base64.b64decode(r["path_b64"]) for r in records)
    assert exact == sorted(b"odd/" + raw for raw in ODD_NAMES)
    assert all("\n" not in r["path"] and "\t" not in r["path"] for r in records)

    tagged = run_plantid(["tag", results], cli_env, cwd=tmp_path)
    assert tagged.returncode == 0, tagged.stderr
    assert "3 sidecars written" in tagged.stderr
    sidecars = sorted(os.listdir(os.fsencode(folder)))
    assert [s for s in sidecars if s.endswith(b".xmp")] == sorted(
        raw.replace(b".jpg", b".xmp") for raw in ODD_NAMES
    )

    page = tmp_path / "page.html"
    shown = run_plantid(["report", results, "-o", page], cli_env, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert len(thumbnail_colours(page.read_text(encoding="utf-8"))) == 3


# -- item 6: a results file cut short ------------------------------------------------------------


def test_report_reads_a_results_file_cut_in_its_last_record(tmp_path, sandbox, cli_env):
    for seed in range(3):
        green_photo(tmp_path / f"p{seed}.jpg", seed=seed)
    results = identify_into(tmp_path, ["p0.jpg", "p1.jpg", "p2.jpg"], cli_env)
    text = results.read_text(encoding="utf-8")
    results.write_text(text[: len(text) - 40], encoding="utf-8")  # the run was killed

    page = tmp_path / "page.html"
    shown = run_plantid(["report", results, "-o", page], cli_env, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert f"line 3 of {results} is not a complete record; skipped" in shown.stderr
    assert "(2 cards" in shown.stderr


def test_json_array_cut_short_keeps_its_whole_items(tmp_path, caplog):
    record = {"schema_version": 1, "status": "ok", "path": "a.jpg"}
    cut = tmp_path / "cut.json"
    cut.write_text("[\n" + ",\n".join([json.dumps(record)] * 3)[:-9], encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="plantid"):
        assert len(read_records(cut)) == 2
    assert [r.getMessage() for r in caplog.records] == [
        f"line 4 of {cut} is not a complete record; skipped"
    ]


# -- item 7: CSV injection -----------------------------------------------------------------------

FORMULAS = ["=HYPERLINK(1).jpg", "+SUM(1).jpg", "-2+3.jpg", "@cmd.jpg"]


def test_csv_cells_that_would_run_as_formulas_are_quoted(tmp_path, sandbox, cli_env):
    for seed, name in enumerate(FORMULAS):
        green_photo(tmp_path / name, seed=seed, gps=(-12.5, -45.25))
    args = ["identify", "--format", "csv", "--", *FORMULAS]
    result = run_plantid(args, cli_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert sorted(row["associatedMedia"] for row in rows) == sorted("'" + n for n in FORMULAS)
    for row in rows:  # numbers stay numbers, negative or not
        assert float(row["decimalLatitude"]) == pytest.approx(-12.5, abs=1e-4)
        assert row["decimalLatitude"].startswith("-")


@needs_exempi
def test_specimen_is_tagged_only_while_all_its_photos_are_the_ones_identified(
    tmp_path, sandbox, cli_env
):
    plant = tmp_path / "herbarium" / "plant-1"
    for seed in range(2):
        green_photo(plant / f"view{seed}.jpg", seed=seed)
    results = identify_into(tmp_path, ["herbarium", "--group-by", "folder"], cli_env)
    [record] = read_records(results)
    assert record["paths"] and record["status"] == "ok"

    magenta_photo(plant / "view1.jpg")  # one photo of the specimen replaced
    refused = run_plantid(["tag", results], cli_env, cwd=tmp_path)
    assert refused.returncode == 1, refused.stderr
    assert f"1 {MISMATCH}" in refused.stderr
    assert not list(plant.glob("*.xmp"))

    green_photo(plant / "view1.jpg", seed=1)  # the same bytes again
    tagged = run_plantid(["tag", results], cli_env, cwd=tmp_path)
    assert tagged.returncode == 0, tagged.stderr
    assert sorted(p.name for p in plant.glob("*.xmp")) == ["view0.xmp", "view1.xmp"]


def test_a_file_whose_only_line_is_not_a_record_is_refused(tmp_path, cli_env):
    """DEFECT (README walk-through, session 19): `plantid refetch notes.txt` (a one-line
    text file) said "0 records" and exited 0: its only line was taken for a record cut short
    by a killed run. Correct: a file with not one record in it is no results file: exit 2,
    naming the line; a cut last line after whole records is still only skipped (above)."""
    notes = tmp_path / "notes.txt"
    notes.write_text("photos to look at again\n")
    for command in (["refetch", notes], ["checklist", notes], ["report", notes]):
        done = run_plantid(command, cli_env, cwd=tmp_path)
        assert done.returncode == 2, (command, done.stderr)
        assert f"{notes} line 1: not a JSON record" in done.stderr
