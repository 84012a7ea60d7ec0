"""(e) the Redis twin of test_accounts.py: a fleet's breaker, credits and rate-limit keys are
per account (service, API URL, key digest), and no key or URL is ever part of a Redis key."""

from __future__ import annotations

import json

from conftest import TEST_KEY, run_plantid
from photos import green_photo
from test_accounts import FAIL_FAST, KEY_B, identify_calls, record_of, sandbox_b, status
from test_redis_fleet import redis_server

__all__ = ["redis_server", "sandbox_b"]  # fixtures used below


def fleet_env(cli_env: dict, tmp_path, name: str, redis_url: str, **more: str) -> dict:
    """One machine of the fleet: its own cache folder, the shared Redis."""
    return dict(
        cli_env,
        PLANTID_CACHE_DIR=str(tmp_path / name / "cache"),
        PLANTID_REDIS_URL=redis_url,
        **FAIL_FAST,
        **more,
    )


def redis_keys(server) -> list[str]:
    return sorted(key.decode() for key in server.client().keys("plantid:v1:*"))


def test_fleet_breaker_and_credits_are_per_account(
    tmp_path, sandbox, sandbox_b, cli_env, redis_server
):
    m1 = fleet_env(cli_env, tmp_path, "m1", redis_server.url, PLANTID_RATE_LIMIT="10/minute")
    m2_url_b = dict(
        fleet_env(cli_env, tmp_path, "m2", redis_server.url, PLANTID_RATE_LIMIT="10/minute"),
        PLANTID_API_URL=sandbox_b.plantid_url,
    )
    m2_key_b = dict(m2_url_b, PLANTID_API_URL=sandbox.plantid_url, PLANTID_API_KEY=KEY_B)

    # machine 1 opens account A's breaker (URL A, key A)
    sandbox.configure(mode_plantid="error500")
    failed = run_plantid(["identify", green_photo(tmp_path / "a.jpg"), "-q"], m1)
    assert record_of(failed)["error"]["reason"] != "circuit-open"
    assert identify_calls(sandbox) == 1
    # machine 2 at URL B: its call is made
    ok = run_plantid(["identify", green_photo(tmp_path / "b.jpg", seed=2), "-q"], m2_url_b)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert identify_calls(sandbox_b) == 1
    # machine 2 with key B at URL A: another account, its breaker is closed, its call is made;
    # the 429 it gets starts key B's cool-down only
    sandbox.configure(mode_plantid="credits")
    credits = run_plantid(["identify", green_photo(tmp_path / "c.jpg", seed=3), "-q"], m2_key_b)
    assert record_of(credits)["error"]["code"] == "credits"
    assert identify_calls(sandbox) == 2
    # account A is still refused by the fleet's breaker, without a call (and not for credits)
    refused = run_plantid(["identify", green_photo(tmp_path / "d.jpg", seed=4), "-q"], m1)
    assert record_of(refused)["error"]["reason"] == "circuit-open"
    assert identify_calls(sandbox) == 2

    a, url_b, key_b = (status(env) for env in (m1, m2_url_b, m2_key_b))
    assert (a["breaker"]["state"], a["credits"]["exhausted"]) == ("open", False)
    assert (url_b["breaker"]["state"], url_b["credits"]["exhausted"]) == ("closed", False)
    assert (key_b["breaker"]["state"], key_b["credits"]["exhausted"]) == ("closed", True)
    assert [row["used"] for row in url_b["rate_limit"]] == [1]
    assert len({s["account"]["id"] for s in (a, url_b, key_b)}) == 3

    keys = redis_keys(redis_server)
    for kind in ("breaker", "credits", "rate"):
        ids = {s["account"]["id"] for s in (a, url_b, key_b)}
        held = {k.removeprefix(f"plantid:v1:{kind}:") for k in keys if f":{kind}:" in k}
        assert held <= ids and held, (kind, keys)
    assert "plantid:v1:breaker:plantid" not in keys  # the old provider-wide key
    for key in keys:
        for secret in (TEST_KEY, KEY_B, "127.0.0.1"):
            assert secret not in key
    # the rows are in Redis, not on either machine's disk: status without Redis shows closed
    local = dict(m1)
    del local["PLANTID_REDIS_URL"]
    shown = json.loads(run_plantid(["status", "--format", "json"], local).stdout)
    assert shown["providers"]["plantid"]["breaker"]["state"] == "closed"
