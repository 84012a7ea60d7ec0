"""A rejected key stops the service: one call, every photo an `auth` record, one message, exit 3.

Real `plantid` subprocesses against the test's sandbox, which accepts one key only; exact call
counts from the sandbox's log. At `-j 4` the sandbox holds the first four calls until all four
are in flight, so "the calls in flight when the first 401 came, and none after" is exactly 4.
"""

from __future__ import annotations

import json

import pytest
from conftest import TEST_KEY, run_plantid, spawn, wait_for
from photos import green_photo

POST = {"plantid": "plantid_identify", "plantnet": "plantnet_identify"}


@pytest.fixture
def photos(tmp_path):
    return [green_photo(tmp_path / f"p{n:02}.jpg", (160, 120), seed=n) for n in range(20)]


def run(photos, env, *args):
    result = run_plantid(["identify", *args, *photos], env, timeout=180)
    assert "Traceback" not in result.stderr, result.stderr
    assert "internal error" not in result.stdout
    return result, [json.loads(line) for line in result.stdout.splitlines()]


def check_rejected(result_code, out, err, provider):
    records = [json.loads(line) for line in out.splitlines()]
    assert "Traceback" not in err and "internal error" not in out
    assert result_code == 3
    assert len(records) == 20
    assert {(r["status"], r["error"]["code"]) for r in records} == {("error", "auth")}
    hints = [line for line in err.splitlines() if "plantid keys set" in line]
    assert len(hints) == 1, err
    assert f"plantid keys set {provider}" in hints[0]
    # the key came from the environment, which wins over the keys file: the hint names it
    # too (session 19: `plantid keys set` alone changed nothing for such a key)
    env = "PLANTID_API_KEY" if provider == "plantid" else "PLANTNET_API_KEY"
    assert f"{env} (it wins over the keys file)" in hints[0]
    assert TEST_KEY not in err + out


@pytest.mark.parametrize("provider", ["plantid", "plantnet"])
def test_a_rejected_key_is_tried_once(sandbox, cli_env, photos, provider):
    sandbox.configure(key="the-right-key", latency_ms=50)  # both services refuse the env's keys
    result = run_plantid(
        ["identify", "--provider", provider, "--concurrency", "1", *photos], cli_env, timeout=180
    )
    assert sandbox.stats()[POST[provider]] == 1
    check_rejected(result.returncode, result.stdout, result.stderr, provider)


@pytest.mark.parametrize("provider", ["plantid", "plantnet"])
def test_no_call_starts_after_the_first_rejection(sandbox, cli_env, photos, provider):
    """Four calls in flight together, all refused: those four, and not one more."""
    sandbox.configure(key="the-right-key", hold_after=0)  # every POST waits for the release
    proc = spawn(["identify", "--provider", provider, "-j", "4", "-f", "ndjson", *photos], cli_env)
    wait_for(lambda: sandbox.stats()[POST[provider]] == 4)
    sandbox.configure(hold_after=None)
    out, err = proc.communicate(timeout=180)
    assert sandbox.stats()[POST[provider]] == 4
    check_rejected(proc.returncode, out, err, provider)


def test_auto_goes_on_with_the_other_service(sandbox, cli_env, photos):
    sandbox.configure(key=TEST_KEY + "-pn")  # Pl@ntNet's key is right, Plant.id's is not
    result, records = run(photos, cli_env, "--provider", "auto", "--concurrency", "1")
    assert sandbox.stats()["plantid_identify"] == 1
    assert sandbox.stats()["plantnet_identify"] == 20
    assert {(r["status"], r["provider"], r["degraded"]) for r in records} == {
        ("ok", "plantnet", True)
    }
    assert {r["providers"]["plantid"]["status"] for r in records} == {"auth"}
    hints = [line for line in result.stderr.splitlines() if "plantid keys set" in line]
    assert hints == [hints[0]] and "plantid keys set plantid" in hints[0]


def test_a_run_starts_its_calls_together(sandbox, cli_env, photos):
    """No call waits for the first one's answer: four are in flight before any is answered."""
    sandbox.configure(hold_after=0)
    proc = spawn(["identify", "-j", "4", "-f", "ndjson", *photos[:8]], cli_env)
    wait_for(lambda: sandbox.stats()["plantid_identify"] == 4)
    assert all(c["t_end"] is None for c in sandbox.stats()["calls"])
    sandbox.configure(hold_after=None)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    assert [json.loads(line)["status"] for line in out.splitlines()] == ["ok"] * 8
    assert sandbox.stats()["plantid_identify"] == 8


def test_a_wrong_api_url_stops_the_service_after_its_first_404(photos, cli_env, sandbox):
    # every call to a path the service does not have gets the same 404: one is enough
    env = {**cli_env, "PLANTID_API_URL": sandbox.url + "/api/v9"}
    result, records = run(photos, env, "-f", "ndjson", "-j", "1")
    assert result.returncode == 3, result.stderr
    assert len(records) == 20
    assert {r["error"]["code"] for r in records} == {"config"}
    assert all("check the API URL setting" in r["error"]["message"] for r in records)
    assert sandbox.stats()["unrouted"] == 2  # the free usage_info check, one identification
