"""Shared guard state belongs to an account (service, API URL, key), not to a service's name.

Real `plantid` processes against two sandboxes (two ports: two API URLs) or two keys on one;
calls counted in each sandbox's own call log. Issue 12, "state that belongs to another account".
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from conftest import TEST_KEY, run_plantid
from photos import green_photo

from plantid_cli.sandbox.server import SandboxServer

KEY_B = "other-key-7d3e1b9a55"
FAIL_FAST = {"PLANTID_BREAKER_FAIL_MAX": "1", "PLANTID_BREAKER_RESET_TIMEOUT": "600"}


@pytest.fixture
def sandbox_b():
    """A second sandbox on another port: another API URL."""
    server = SandboxServer("127.0.0.1", 0).start()
    try:
        yield server
    finally:
        server.stop()


def identify_calls(server: SandboxServer) -> int:
    return sum(1 for call in server.stats()["calls"] if call["kind"] == "plantid_identify")


def status(env: dict, provider: str = "plantid") -> dict:
    result = run_plantid(["status", "--format", "json"], env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["providers"][provider]


def record_of(result) -> dict:
    (record,) = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return record


def state_keys(cache_dir: Path) -> list[str]:
    """Every key the disk state holds: breaker rows, kv keys, rate-limit buckets."""
    con = sqlite3.connect(cache_dir / "state.sqlite3")
    try:
        rows = con.execute(
            "SELECT provider FROM breaker UNION SELECT key FROM kv"
            " UNION SELECT DISTINCT bucket FROM ratelog"
        ).fetchall()
    finally:
        con.close()
    return [row[0] for row in rows]


def test_breaker_opened_against_one_url_does_not_refuse_another(
    tmp_path, sandbox, sandbox_b, cli_env
):
    """(a) a rehearsal against a sandbox must not open the breaker of the real service."""
    sandbox.configure(mode="error500")
    env_a = dict(cli_env, **FAIL_FAST)
    env_b = dict(env_a, PLANTID_API_URL=sandbox_b.plantid_url)
    failed = run_plantid(["identify", green_photo(tmp_path / "a.jpg"), "-q"], env_a)
    assert failed.returncode == 4, failed.stderr
    assert status(env_a)["breaker"]["state"] == "open"

    result = run_plantid(["identify", green_photo(tmp_path / "b.jpg", seed=2), "-q"], env_b)
    assert result.returncode == 0, result.stdout + result.stderr
    assert record_of(result)["status"] == "ok"
    assert identify_calls(sandbox_b) == 1  # B's service got the call
    # A's breaker is still open for A: its next photo is refused without a call
    again = run_plantid(["identify", green_photo(tmp_path / "c.jpg", seed=3), "-q"], env_a)
    assert record_of(again)["error"]["reason"] == "circuit-open"
    assert identify_calls(sandbox) == 1


def test_credits_429_of_one_key_does_not_refuse_another_key(tmp_path, sandbox, cli_env):
    """(b) key A's 429 starts A's cool-down only; key B on the same URL still calls."""
    sandbox.configure(mode_plantid="credits")
    env_b = dict(cli_env, PLANTID_API_KEY=KEY_B)
    first = run_plantid(["identify", green_photo(tmp_path / "a.jpg"), "-q"], cli_env)
    assert record_of(first)["error"]["code"] == "credits"
    assert identify_calls(sandbox) == 1
    sandbox.configure(mode_plantid=None)  # key B's account has credits

    result = run_plantid(["identify", green_photo(tmp_path / "b.jpg", seed=2), "-q"], env_b)
    assert result.returncode == 0, result.stdout + result.stderr
    assert record_of(result)["status"] == "ok"
    assert identify_calls(sandbox) == 2  # B's call was made
    # A is still cooling down: refused without a call
    again = run_plantid(["identify", green_photo(tmp_path / "c.jpg", seed=3), "-q"], cli_env)
    assert record_of(again)["error"]["code"] == "credits"
    assert identify_calls(sandbox) == 2
    assert status(cli_env)["credits"]["exhausted"] is True
    assert status(env_b)["credits"]["exhausted"] is False


@pytest.mark.parametrize("other", ["url", "key"])
def test_rate_limit_buckets_are_per_account(tmp_path, sandbox, sandbox_b, cli_env, other):
    """(c) at 1/minute, account A's call takes A's slot only: B's call does not wait."""
    env_a = dict(cli_env, PLANTID_RATE_LIMIT="1/minute")
    if other == "url":
        env_b, server_b = dict(env_a, PLANTID_API_URL=sandbox_b.plantid_url), sandbox_b
    else:
        env_b, server_b = dict(env_a, PLANTID_API_KEY=KEY_B), sandbox
    first = run_plantid(["identify", green_photo(tmp_path / "a.jpg"), "-v"], env_a)
    assert first.returncode == 0, first.stderr
    assert "[RATE] wait" not in first.stderr

    second = run_plantid(["identify", green_photo(tmp_path / "b.jpg", seed=2), "-v"], env_b)
    assert second.returncode == 0, second.stderr
    assert "[RATE] wait" not in second.stderr
    assert identify_calls(server_b) == (1 if other == "url" else 2)
    usage_a, usage_b = status(env_a)["rate_limit"], status(env_b)["rate_limit"]
    assert [row["used"] for row in usage_a] == [1]
    assert [row["used"] for row in usage_b] == [1]


def test_status_describes_the_configured_account_only(tmp_path, sandbox, sandbox_b, cli_env):
    """(d) `status` for URL B (unreachable) shows B's account, not A's breaker or credits."""
    env_a = dict(cli_env, **FAIL_FAST)
    env_b = dict(
        env_a, PLANTID_API_URL=sandbox_b.plantid_url, PLANTNET_API_URL=sandbox_b.plantnet_url
    )
    photo = green_photo(tmp_path / "a.jpg")
    ok = run_plantid(["identify", photo, "-q"], dict(env_a, PLANTID_PROVIDER="plantnet"))
    assert ok.returncode == 0, ok.stderr  # A's Pl@ntNet quota left is now known (499)
    sandbox.configure(mode_plantid="error500")
    run_plantid(["identify", green_photo(tmp_path / "b.jpg", seed=2), "-q"], env_a)
    sandbox_b.stop()  # status reads state only: B's service need not answer

    a, b = status(env_a), status(env_b)
    assert a["breaker"]["state"] == "open" and b["breaker"]["state"] == "closed"
    assert b["breaker"]["failures"] == 0
    a_pn, b_pn = (status(env, "plantnet") for env in (env_a, env_b))
    assert a_pn["credits"]["remaining"] == 499 and b_pn["credits"]["remaining"] is None
    assert b_pn["account"]["api_url"] == sandbox_b.plantnet_url
    assert a["account"]["api_url"] == sandbox.plantid_url
    assert b["account"]["api_url"] == sandbox_b.plantid_url
    assert a["account"]["service"] == b["account"]["service"] == "plantid"
    assert a["account"]["key"] == "****" + TEST_KEY[-2:]
    assert a["account"]["id"] != b["account"]["id"]

    table = run_plantid(["status", "-f", "table"], env_b)
    b_id, a_id = b["account"]["id"], a["account"]["id"]
    assert "plantid: breaker closed (0 failures)" in table.stdout
    assert f"  account {b_id}: {sandbox_b.plantid_url}, key ****{TEST_KEY[-2:]}" in table.stdout
    prom = run_plantid(["status", "--format", "prometheus"], env_b).stdout
    assert 'plantid_breaker_state{provider="plantid"} 0' in prom
    assert (
        f'plantid_account_info{{provider="plantid",account="{b_id}",'
        f'api_url="{sandbox_b.plantid_url}"}} 1'
    ) in prom
    assert a_id not in prom and a_id not in table.stdout
    for output in (table.stdout, table.stderr, prom):
        assert TEST_KEY not in output


def test_breaker_reset_closes_the_configured_accounts_breaker_only(
    tmp_path, sandbox, sandbox_b, cli_env
):
    for server in (sandbox, sandbox_b):
        server.configure(mode="error500")
    env_a = dict(cli_env, **FAIL_FAST)
    env_b = dict(env_a, PLANTID_API_URL=sandbox_b.plantid_url)
    run_plantid(["identify", green_photo(tmp_path / "a.jpg"), "-q"], env_a)
    run_plantid(["identify", green_photo(tmp_path / "b.jpg", seed=2), "-q"], env_b)
    assert status(env_a)["breaker"]["state"] == status(env_b)["breaker"]["state"] == "open"

    assert run_plantid(["breaker", "reset", "plantid", "--yes"], env_b).returncode == 0
    assert status(env_b)["breaker"]["state"] == "closed"
    assert status(env_a)["breaker"]["state"] == "open"


def test_no_key_in_any_state_key(tmp_path, sandbox, cli_env):
    """The id holds digests only: neither key (Pl@ntNet's travels in its URL) is ever a state
    key, nor is either URL in one (a key or password may be pasted into a URL)."""
    sandbox.configure(mode="credits")
    env = dict(cli_env, PLANTID_PROVIDER="both", PLANTID_RATE_LIMIT="10/minute", **FAIL_FAST)
    run_plantid(["identify", green_photo(tmp_path / "a.jpg"), "-q"], env)
    sandbox.configure(mode="error500")
    run_plantid(["identify", green_photo(tmp_path / "b.jpg", seed=2), "-q"], env)
    keys = state_keys(Path(env["PLANTID_CACHE_DIR"]))
    assert any(k.startswith("credits:plantnet:") for k in keys), keys
    assert any(k.startswith("plantid:") for k in keys), keys
    for key in keys:
        for secret in (TEST_KEY, cli_env["PLANTNET_API_KEY"], "127.0.0.1"):
            assert secret not in key


def test_usage_ends_the_cool_down_of_its_own_account_only(tmp_path, sandbox, cli_env):
    """`plantid usage` with key B says B can use credits: that must not end key A's cool-down."""
    sandbox.configure(mode_plantid="credits")
    env_b = dict(cli_env, PLANTID_API_KEY=KEY_B)
    first = run_plantid(["identify", green_photo(tmp_path / "a.jpg"), "-q"], cli_env)
    assert record_of(first)["error"]["code"] == "credits"
    sandbox.configure(mode_plantid=None)

    usage_b = run_plantid(["usage", "--format", "json"], env_b)
    assert usage_b.returncode == 0, usage_b.stderr
    assert "cool-down is over" not in usage_b.stderr
    refused = run_plantid(["identify", green_photo(tmp_path / "b.jpg", seed=2), "-q"], cli_env)
    assert record_of(refused)["error"]["code"] == "credits"
    assert identify_calls(sandbox) == 1

    usage_a = run_plantid(["usage", "--format", "json"], cli_env)
    assert "cool-down is over" in usage_a.stderr
    again = run_plantid(["identify", green_photo(tmp_path / "c.jpg", seed=3), "-q"], cli_env)
    assert record_of(again)["status"] == "ok"
    assert identify_calls(sandbox) == 2


def test_account_id_is_one_per_endpoint_and_key_and_holds_no_secret():
    from plantid_cli.guards.account import account_of

    key = "secret-key-0123456789"
    # hosts of the reserved .invalid domain (RFC 2606): the ids are computed, nothing is reached
    base = account_of("plantid", "https://plantid.invalid/api/v3", key)
    # one endpoint, spelt two ways: one account
    assert account_of("plantid", " HTTPS://PlantID.INVALID/api/v3/ ", key).id == base.id
    others = [
        account_of("plantid", "https://plantid.invalid/API/v3", key),  # paths are case-sensitive
        account_of("plantid", "http://127.0.0.1:8765/api/v3", key),
        account_of("plantid", "https://plantid.invalid/api/v3", key + "x"),
        account_of("plantnet", "https://plantid.invalid/api/v3", key),
        account_of("plantid", "https://plantid.invalid/api/v3", None),
    ]
    assert len({base.id, *(a.id for a in others)}) == 6
    shown = account_of("plantid", "https://u:pw-1234@example.org/v3?api-key=" + key, key)
    assert key not in shown.id and "pw-1234" not in shown.id and "example" not in shown.id
    described = json.dumps(shown.describe())
    assert key not in described and "pw-1234" not in described
    assert shown.describe()["key"] == "****89"
