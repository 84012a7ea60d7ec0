"""A rejected key stops the service: one call, every photo an `auth` record, one message, exit 3.

Real `plantid` subprocesses against the test's sandbox, which accepts one key only; exact call
counts from the sandbox's log at any concurrency (keygate.py sends the first call alone).
"""

from __future__ import annotations

import json

import pytest
from conftest import TEST_KEY, run_plantid
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


@pytest.mark.parametrize("provider", ["plantid", "plantnet"])
@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_rejected_key_is_tried_once(sandbox, cli_env, photos, provider, concurrency):
    sandbox.configure(key="the-right-key", latency_ms=50)  # both services refuse the env's keys
    result, records = run(
        photos, cli_env, "--provider", provider, "--concurrency", str(concurrency)
    )
    assert result.returncode == 3
    assert sandbox.stats()[POST[provider]] == 1
    assert len(records) == 20
    assert {(r["status"], r["error"]["code"]) for r in records} == {("error", "auth")}
    hints = [line for line in result.stderr.splitlines() if "plantid keys set" in line]
    assert len(hints) == 1, result.stderr
    assert f"plantid keys set {provider}" in hints[0]
    assert TEST_KEY not in result.stderr + result.stdout


def test_auto_goes_on_with_the_other_service(sandbox, cli_env, photos):
    sandbox.configure(key=TEST_KEY + "-pn")  # Pl@ntNet's key is right, Plant.id's is not
    result, records = run(photos, cli_env, "--provider", "auto", "--concurrency", "4")
    assert sandbox.stats()["plantid_identify"] == 1
    assert sandbox.stats()["plantnet_identify"] == 20
    assert {(r["status"], r["provider"], r["degraded"]) for r in records} == {
        ("ok", "plantnet", True)
    }
    assert {r["providers"]["plantid"]["status"] for r in records} == {"auth"}
    hints = [line for line in result.stderr.splitlines() if "plantid keys set" in line]
    assert hints == [hints[0]] and "plantid keys set plantid" in hints[0]


def test_a_working_key_is_not_held_back(sandbox, cli_env, photos):
    """After the first answer the gate is open: the rest go out concurrently."""
    sandbox.configure(latency_ms=1000)
    result, records = run(photos[:9], cli_env, "--concurrency", "4")
    assert result.returncode == 0
    assert {r["status"] for r in records} == {"ok"}
    calls = sorted(sandbox.stats()["calls"], key=lambda c: c["t_start"])
    # the first answer leaves the sandbox at least 1 s after its request arrived
    assert all(c["t_start"] >= calls[0]["t_start"] + 1.0 for c in calls[1:])
    # then several at once: these arrived while the second call was still being answered
    overlapping = [c for c in calls[2:] if c["t_start"] < calls[1]["t_start"] + 1.0]
    assert len(overlapping) >= 1
