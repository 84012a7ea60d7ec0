"""`--project` is a path segment of Pl@ntNet's URL: only a flora id may reach it.

DEFECT (red team, session 14): the project was put into `{api_url}/identify/{project}`
unescaped. `--project 'k?x=1'` asked flora `k` (the rest became a query) while the answer was
cached under `k?x=1`; `a/b` or `../x` changed the path; an empty project asked
`/identify/`. Correct: anything but a flora id is refused before any photo is read or sent:
exit 2 for the flag, 3 for the setting in the environment.
"""

from __future__ import annotations

import json

import pytest
from conftest import run_plantid
from photos import green_photo

BAD = ["k?x=1", "", "a/b", "../x", "all#x", "we urope", "-all"]


@pytest.mark.parametrize("project", BAD)
def test_a_project_that_is_not_a_flora_id_is_refused_before_anything_is_sent(
    project, cli_env, sandbox, tmp_path
):
    photo = green_photo(tmp_path / "p.jpg", (200, 150), seed=77)
    env = {**cli_env, "PLANTNET_API_KEY": "pn-test-key-123456"}
    done = run_plantid(["identify", photo, "--provider", "plantnet", "--project", project], env)
    assert done.returncode == 2, done.stderr
    assert "--project must be a flora id such as all, k-world-flora or k-western-" in done.stderr
    assert f"not {project!r}" in done.stderr
    assert done.stdout == ""
    assert sandbox.stats()["calls"] == []


def test_a_project_setting_that_is_not_a_flora_id_is_a_configuration_error(cli_env, sandbox):
    done = run_plantid(["usage"], {**cli_env, "PLANTID_PROJECT": "k?x=1"})
    assert done.returncode == 3, done.stderr
    assert "invalid configuration: project must be a flora id" in done.stderr


@pytest.mark.parametrize("project", ["all", "weurope", "k-world-flora"])
def test_a_flora_id_is_the_path_segment_sent(project, cli_env, sandbox, tmp_path):
    photo = green_photo(tmp_path / "p.jpg", (200, 150), seed=78)
    env = {**cli_env, "PLANTNET_API_KEY": "pn-test-key-123456"}
    done = run_plantid(["identify", photo, "--provider", "plantnet", "--project", project,
                        "-f", "ndjson"], env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    paths = [call["path"] for call in sandbox.stats()["calls"]]
    assert len(paths) == 1
    assert paths[0].split("?")[0] == f"/v2/identify/{project}"


def test_a_flora_the_service_does_not_have_is_named_and_asked_for_once(cli_env, sandbox, tmp_path):
    # DEFECT: a 404 for an unknown flora said "check the API URL setting", and every photo of
    # the batch was sent to get the same 404
    photos = [green_photo(tmp_path / f"p{i}.jpg", (200, 150), seed=80 + i) for i in range(5)]
    env = {**cli_env, "PLANTNET_API_KEY": "pn-test-key-123456"}
    done = run_plantid(["identify", *photos, "--provider", "plantnet", "--project",
                        "no-such-flora", "-f", "ndjson", "-j", "1"], env)  # fmt: skip
    assert done.returncode == 3, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(records) == 5
    assert {r["error"]["code"] for r in records} == {"config"}
    for record in records:
        assert "flora 'no-such-flora'" in record["error"]["message"]
        assert "plantid projects" in record["error"]["message"]
    assert sandbox.stats()["plantnet_identify"] == 1
