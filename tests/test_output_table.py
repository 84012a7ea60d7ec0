"""The table people read at a terminal: short photo names, words for statuses, notes on demand."""

from __future__ import annotations

import io

import pytest

from plantid_cli.outputs.writers import TableWriter
from plantid_cli.records import base_record


def record(index, path, status="ok", **extra):
    rec = base_record(index, path, "0" * 64, "plantid")
    rec["status"] = status
    if status == "ok":
        rec["best"] = {
            "scientific_name": f"Species {index}",
            "probability": 0.875,
            "common_names": [f"Common {index}", "other"],
            "family": "Rosaceae",
        }
    rec.update(extra)
    return rec


def render(records):
    out = io.StringIO()
    writer = TableWriter(out)
    for rec in reversed(records):  # arrive in completion order; the table keeps input order
        writer.write(rec)
    writer.close()
    return out.getvalue()


def test_photos_are_shown_relative_to_their_common_folder_in_input_order():
    text = render(
        [record(0, "/data/card/a.jpg"), record(1, "/data/card/sub/b.jpg", status="not_plant")]
    )
    assert "in /data/card" in text
    assert "sub/b.jpg" in text and "/data/card/a.jpg" not in text
    assert text.index("Species 0") < text.index("sub/b.jpg")
    assert "identified" in text and "not a plant" in text and "88%" in text
    assert "Common 0" in text and "other" not in text
    assert "cached" not in text  # no notes column when nothing is cached or degraded


def test_notes_say_cached_and_degraded(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # a wide terminal: no cell wraps
    text = render([record(0, "x/a.jpg", cached=True), record(1, "x/b.jpg", degraded=True)])
    assert "cached" in text and "degraded: Plant.id" in text


def test_no_photos_and_mixed_absolute_relative_paths_do_not_crash(tmp_path, cli_env):
    """`-f table` on an empty folder, or with /abs/a.jpg and rel/b.jpg, was an internal error
    (IndexError / "Can't mix absolute and relative paths") and lost the paid answers."""
    from conftest import run_plantid
    from photos import green_photo

    (tmp_path / "empty").mkdir()
    empty = run_plantid(["identify", tmp_path / "empty", "-f", "table"], cli_env)
    assert empty.returncode == 1 and "internal error" not in empty.stderr, empty.stderr
    assert "no images found" in empty.stderr and empty.stdout == ""
    absolute = green_photo(tmp_path / "a.jpg", seed=1)
    green_photo(tmp_path / "rel" / "b.jpg", seed=2)
    wide = {**cli_env, "COLUMNS": "400"}
    mixed = run_plantid(["identify", absolute, "rel/b.jpg", "-f", "table"], wide, cwd=tmp_path)
    assert mixed.returncode == 0 and "internal error" not in mixed.stderr, mixed.stderr
    assert str(absolute) in mixed.stdout and "rel/b.jpg" in mixed.stdout
    assert render([]) == ""


NAMES = [  # (scientific name, family, common name): long ones, as real runs give
    ("Aloe arborescens", "Asphodelaceae", "Krantz aloe"),
    ("Taraxacum officinale", "Asteraceae", "Common dandelion"),
    ("Chamaecyparis lawsoniana", "Cupressaceae", "Lawson cypress"),
]


def _named(index, path, name, family, common, **extra):
    rec = record(index, path, **extra)
    rec["best"] = {
        "scientific_name": name,
        "probability": 0.5,
        "common_names": [common],
        "family": family,
    }
    return rec


@pytest.mark.parametrize("width", [80, 100, 60])
def test_names_are_never_split_other_columns_give_way(monkeypatch, width):
    """At 80 columns names broke mid-word ("Aloe arboresc/ens", "Asphodel/aceae")."""
    monkeypatch.setenv("COLUMNS", str(width))
    rows = [
        _named(i, f"card/DSC_{i:05d}-a-rather-long-photo-name.jpg", *names, cached=bool(i % 2))
        for i, names in enumerate(NAMES)
    ]
    rows.append(record(3, "card/broken.jpg", status="error"))
    rows[-1]["error"] = {"code": "image", "message": "cannot read the image: truncated file"}
    lines = render(rows).splitlines()
    assert all(len(line) <= width for line in lines), "\n".join(lines)
    body = "\n".join(lines)
    for name, family, _ in NAMES:
        assert any(name in line for line in lines), body  # whole, on one line
        # a family is shown whole or not at all (its column dropped)
        assert family in body or family[:6] not in body, body
    header = next(line for line in lines if line.startswith("┃"))
    cells = [cell.strip() for cell in header.strip("┃").split("┃")]
    assert all(cells) and cells[-1] == "note", header


def test_columns_are_dropped_family_first(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    text = render([_named(0, "a.jpg", *NAMES[2]), _named(1, "b.jpg", *NAMES[0])])
    assert "Chamaecyparis lawsoniana" in text and "family" not in text
    monkeypatch.setenv("COLUMNS", "160")
    wide = render([_named(0, "a.jpg", *NAMES[2]), _named(1, "b.jpg", *NAMES[0])])
    assert "family" in wide and "Cupressaceae" in wide and "common name" in wide


def test_both_records_get_an_agreement_column(monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    rows = [record(0, "x/a.jpg", agreement="species"), record(1, "x/b.jpg", agreement="differ")]
    rows[1]["cached"] = True
    text = render(rows)
    header = next(line for line in text.splitlines() if line.startswith("┃"))
    assert "agreement" in header and "note" in header
    assert "species" in text and "differ" in text and "cached" in text
    assert "agreement" not in render([record(0, "x/a.jpg")])  # one service: no such column


HOSTILE = {  # what a service (or a results file) may carry into a table's cells
    "scientific_name": "Aloe \x1b[2Jvera",  # clears the screen
    "family": "Aspho\x1b]8;;http://evil.example\x07delaceae",  # an OSC 8 hyperlink
    "common_names": ["\u202eeolA", "bell\x07 \x9b31m"],  # shown backwards; BEL; a C1 CSI
}


def test_no_control_character_from_a_record_reaches_the_terminal():
    """DEFECT (red team, session 19): the tables escaped Rich markup and paths, not what the
    service sends: a species name with ESC [2J cleared the screen, an OSC 8 sequence made a
    link, U+202E showed a name backwards. Correct: every one shown as \\xNN / \\uXXXX."""
    rec = record(0, "a.jpg")
    rec["best"] = {**rec["best"], **HOSTILE}
    text = render([rec])
    assert not any(c in text for c in "\x1b\x07\x9b\u202e"), repr(text)
    assert "\\x1b[2J" in text


def test_the_checklist_table_shows_control_characters_as_text(tmp_path, cli_env):
    """The same for `plantid checklist -f table` (its own table), from a results file."""
    import json

    from conftest import run_plantid

    rec = record(0, "a.jpg")
    rec["best"] = {**rec["best"], **HOSTILE}
    results = tmp_path / "results.ndjson"
    results.write_text(json.dumps(rec) + "\n")
    done = run_plantid(["checklist", results, "-f", "table"], {**cli_env, "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    assert not any(c in done.stdout for c in "\x1b\x07\x9b\u202e"), repr(done.stdout)
    assert "\\x1b" in done.stdout
