"""Red team: `--log-format json` outside identify.

DEFECT (a contract broken): `plantid --log-format json status` (also `breaker reset`, `usage`)
on a damaged shared-state file printed the recovery warning as a bare text line on stderr
(`shared state ... was damaged ...; moved it aside ...`): only identify and report set up
logging, so these commands' warnings went through Python's last-resort handler (no JSON, and
in text mode no `plantid: warning:` prefix either). Correct: every stderr line of every
command is one JSON object under `--log-format json`, and a warning in text reads
`plantid: warning: ...`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import run_plantid


def _damage_state(env) -> Path:
    cache = Path(env["PLANTID_CACHE_DIR"])
    cache.mkdir(parents=True, exist_ok=True)
    state = cache / "state.sqlite3"
    state.write_bytes(os.urandom(64) + b"not a database" * 20)
    return state


@pytest.mark.parametrize("args", [["status"], ["breaker", "reset", "--yes"], ["usage"]])
def test_a_damaged_state_warning_is_json_under_json_logs(cli_env, sandbox, args):
    _damage_state(cli_env)
    result = run_plantid(["--log-format", "json", *args], cli_env)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    warnings = [json.loads(line) for line in lines]  # each line one JSON object
    assert any("was damaged" in w["message"] and w["level"] == "warning" for w in warnings)


def test_a_damaged_state_warning_in_text_says_it_is_a_warning(cli_env, sandbox):
    _damage_state(cli_env)
    result = run_plantid(["status"], cli_env)
    [line] = [line for line in result.stderr.splitlines() if "was damaged" in line]
    assert line.startswith("plantid: warning: shared state ")


@pytest.mark.parametrize(
    "args",
    [
        ["identify", "PHOTO", "-f", "json", "-q", "--log-format", "json"],  # the fast path
        ["--log-format", "json", "identify", "PHOTO", "-f", "ndjson"],
        ["identify", "PHOTO", "-f", "table", "--log-format", "json"],  # Typer's path
    ],
)
def test_a_damaged_state_warning_is_json_in_every_identify_path(cli_env, sandbox, tmp_path, args):
    """Red team (session 4): the scripted identify answered without Typer opened the state
    file before it set up logging, so its recovery warning was a bare line under
    `--log-format json` (and without `plantid: warning:` in text)."""
    from photos import green_photo

    photo = green_photo(tmp_path / "p.jpg", (160, 120), seed=11)
    _damage_state(cli_env)
    result = run_plantid([photo if a == "PHOTO" else a for a in args], cli_env)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert [w["level"] for w in lines if "was damaged" in w["message"]] == ["warning"]


def test_a_damaged_state_warning_of_a_scripted_identify_says_it_is_a_warning(
    cli_env, sandbox, tmp_path
):
    from photos import green_photo

    photo = green_photo(tmp_path / "p.jpg", (160, 120), seed=12)
    _damage_state(cli_env)
    result = run_plantid(["identify", photo, "-f", "json", "-q"], cli_env)
    assert result.returncode == 0, result.stderr
    [line] = [line for line in result.stderr.splitlines() if "was damaged" in line]
    assert line.startswith("plantid: warning: shared state ")
