"""Every error, note and warning is one line, whatever the names the user gave hold.

DEFECT (red team, session 15): photo names were escaped, but paths named in messages were
printed raw: `-o`, `plantid report FILE`, PLANTID_CONFIG, PLANTID_CACHE_DIR. A newline split
the error over lines and could forge one (`plantid: 0 errors, all good`); ESC reached the
terminal. Correct: control characters escaped as in a record's `path` (`\\x0a`, `\\x1b`), one
line per message, the exit code unchanged.
"""

from __future__ import annotations

import pytest
from conftest import run_plantid
from photos import green_photo

FORGED = "plantid: 0 errors, all good"


def _one_line_each(stderr: str, expected_lines: int = 1) -> None:
    assert "\x1b" not in stderr
    assert not any(line.startswith(FORGED) for line in stderr.splitlines()), stderr
    assert len(stderr.splitlines()) == expected_lines, stderr


def test_an_output_path_with_a_newline(cli_env, sandbox, tmp_path):
    photo = green_photo(tmp_path / "p.jpg", (200, 150), seed=5)
    done = run_plantid(["identify", photo, "-o", f"{tmp_path}/nod\n{FORGED}/out.ndjson"], cli_env)
    assert done.returncode == 2
    _one_line_each(done.stderr)
    assert f"nod\\x0a{FORGED}/out.ndjson" in done.stderr
    assert sandbox.stats()["calls"] == []


def test_a_results_file_name_with_a_newline(cli_env, tmp_path):
    done = run_plantid(["report", f"{tmp_path}/nofile\n{FORGED}.ndjson"], cli_env)
    assert done.returncode == 2
    _one_line_each(done.stderr)


def test_a_config_path_with_a_newline(cli_env, tmp_path):
    done = run_plantid(["status"], {**cli_env, "PLANTID_CONFIG": f"{tmp_path}/no\n{FORGED}"})
    assert done.returncode == 3
    _one_line_each(done.stderr)


@pytest.mark.parametrize("command", [["status"], ["identify", "{photo}", "-f", "ndjson"]])
def test_a_cache_path_with_an_escape_sequence(command, cli_env, tmp_path):
    photo = green_photo(tmp_path / "p.jpg", (200, 150), seed=6)
    blocker = tmp_path / "f\x1b[31mRED"
    blocker.write_text("a file, not a folder")
    argv = [str(photo) if part == "{photo}" else part for part in command]
    done = run_plantid(argv, {**cli_env, "PLANTID_CACHE_DIR": str(blocker)})
    assert done.returncode == 3
    _one_line_each(done.stderr)
    assert "f\\x1b[31mRED" in done.stderr


def test_a_warning_naming_such_a_file(cli_env, tmp_path):
    """A warning (the logging path, not print_error) naming a results file whose last line
    was cut short."""
    results = tmp_path / f"cut\n{FORGED}.ndjson"
    # a record as a run writes it, then one cut short (a run killed while writing it)
    demo = run_plantid(["demo", "-f", "ndjson", green_photo(tmp_path / "a.jpg")], cli_env)
    line = demo.stdout.splitlines()[0]
    results.write_text(line + "\n" + line[: len(line) // 2])
    done = run_plantid(["checklist", "-f", "json", results], cli_env)
    assert "is not a complete record; skipped" in done.stderr
    assert "\x1b" not in done.stderr
    assert not any(line.startswith(FORGED) for line in done.stderr.splitlines()), done.stderr
