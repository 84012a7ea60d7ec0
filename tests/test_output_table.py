"""The table people read at a terminal: short photo names, words for statuses, notes on demand."""

from __future__ import annotations

import io

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
