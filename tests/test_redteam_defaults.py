"""Red team: the merged main cannot identify anything with its default settings.

DEFECT (fails on the merge e258c32): `lock_timeout` now defaults to None ("wait for the
holder", branch flight) while config._problems (branch envhard) compares every wait setting
with `> MAX_WAIT_SECONDS`; `None > float` raises TypeError, so every command that loads
settings ends `plantid: error: internal error: TypeError ...`, exit 1, before any photo.
Correct: with no setting at all, `plantid identify` identifies the photo (exit 0, one call),
and `plantid status` / `config show` work; an unset lock_timeout is not compared with a limit.
"""

from __future__ import annotations

import json

from conftest import run_plantid
from photos import green_photo


def test_identify_with_default_settings_identifies(cli_env, sandbox, tmp_path):
    photo = green_photo(tmp_path / "leaf.jpg", (320, 240))
    result = run_plantid(["identify", photo, "--format", "json"], cli_env)
    assert "internal error" not in result.stderr
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    assert [record["status"] for record in records] == ["ok"]
    assert sandbox.stats()["plantid_identify"] == 1


def test_status_and_config_show_with_default_settings(cli_env, sandbox):
    for args in (["status"], ["config", "show"]):
        result = run_plantid(args, cli_env)
        assert "internal error" not in result.stderr, (args, result.stderr)
        assert result.returncode == 0, (args, result.stderr)
