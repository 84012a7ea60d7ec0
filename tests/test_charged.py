"""A charged answer is never bought twice: an unusable 2xx is stored and served as `bad_response`.

Every test runs the real `plantid` in subprocesses against the test's sandbox with retries ON
(PLANTID_RETRIES=2: a retried bad answer would show as 3 POSTs) and counts calls in the
sandbox's log.
"""

from __future__ import annotations

import json

import pytest
from conftest import run_plantid
from photos import green_photo
from runs import identify_one

KINDS = ["badjson", "badshape", "badtypes", "badlist", "badnumber", "hugelist"]
POST = {"plantid": "plantid_identify", "plantnet": "plantnet_identify"}


@pytest.fixture
def env(cli_env):
    return {**cli_env, "PLANTID_RETRIES": "2", "PLANTID_TIMEOUT": "20"}


@pytest.fixture
def photo(tmp_path):
    return green_photo(tmp_path / "leaf.jpg", (320, 240))


identify = identify_one


def posts(sandbox, provider):
    return sandbox.stats()[POST[provider]]


def rereads(sandbox):
    return sandbox.stats()["plantid_get"]


def without_cached(record):
    return {k: v for k, v in record.items() if k != "cached"}


@pytest.mark.parametrize("provider", ["plantid", "plantnet"])
@pytest.mark.parametrize("kind", KINDS)
def test_an_unusable_charged_answer_is_bought_once(sandbox, env, photo, provider, kind):
    # Plant.id: the free re-read by access_token is tried once and is spoiled too
    sandbox.configure(**{f"mode_{provider}": kind}, fault_reread=True)
    args = ["--provider", provider]
    code, record, stderr = identify(photo, env, *args)
    assert code == 4
    assert record["status"] == "error" and record["cached"] is False
    assert (record["error"]["code"], record["error"]["reason"]) == ("bad_response", "bad-response")
    assert posts(sandbox, provider) == 1  # not retried although PLANTID_RETRIES=2
    assert rereads(sandbox) == (1 if provider == "plantid" else 0)
    assert sandbox.stats()["statuses"].get("500") is None
    assert "1 credit used" in stderr
    # the paid answer was stored: the rerun serves the same record without a call
    code, again, stderr = identify(photo, env, *args)
    assert code == 4
    assert again["cached"] is True
    assert without_cached(again) == without_cached(record)
    assert (posts(sandbox, provider), rereads(sandbox)) == (1, 1 if provider == "plantid" else 0)
    assert "0 credits used" in stderr
    # only the user's --refresh buys it again
    code, fresh, stderr = identify(photo, env, *args, "--refresh")
    assert (code, fresh["error"]["code"], fresh["cached"]) == (4, "bad_response", False)
    assert posts(sandbox, provider) == 2
    assert "1 credit used" in stderr


@pytest.mark.parametrize("kind", KINDS)
def test_a_usable_reread_by_access_token_saves_the_paid_answer(sandbox, env, photo, kind):
    sandbox.configure(mode=kind)  # the POST is spoiled, GET /identification/{token} is not
    code, record, stderr = identify(photo, env)
    assert (code, record["status"], record["cached"]) == (0, "ok", False)
    assert record["best"]["scientific_name"]
    assert (posts(sandbox, "plantid"), rereads(sandbox)) == (1, 1)
    assert "1 credit used" in stderr
    [get] = [c for c in sandbox.stats()["calls"] if c["kind"] == "plantid_get"]
    assert get["status"] == 200
    code, again, _ = identify(photo, env)
    assert (code, again["status"], again["cached"]) == (0, "ok", True)
    assert again["best"] == record["best"]
    assert (posts(sandbox, "plantid"), rereads(sandbox)) == (1, 1)


def test_an_unusable_answer_is_one_breaker_failure_not_more_posts(sandbox, env, tmp_path):
    """Documented choice (errors.UnusableAnswer): a service that charges for junk counts toward
    the breaker, so a run of them stops the spending; each photo is still POSTed once only."""
    env = {**env, "PLANTID_BREAKER_FAIL_MAX": "3"}
    sandbox.configure(mode="badshape", fault_reread=True)
    photos = [green_photo(tmp_path / f"p{n}.jpg", (200, 150), seed=n) for n in range(5)]
    result = run_plantid(["identify", "--concurrency", "1", *photos], env, timeout=120)
    records = [json.loads(line) for line in result.stdout.splitlines()]
    codes = sorted(r["error"]["code"] for r in records)
    assert codes == ["bad_response"] * 3 + ["unavailable"] * 2  # then the circuit is open
    assert posts(sandbox, "plantid") == 3
    assert "3 credits used" in result.stderr


def test_both_mode_stores_the_side_lanes_unusable_answer(sandbox, env, photo):
    """`both`: Pl@ntNet (the side lane) charges for junk; Plant.id's answer is the record and
    a rerun asks neither service."""
    sandbox.configure(mode_plantnet="badtypes")
    code, record, stderr = identify(photo, env, "--provider", "both")
    assert record["status"] == "ok" and record["provider"] == "plantid"
    assert record["providers"]["plantnet"]["status"] == "bad_response"
    assert (posts(sandbox, "plantid"), posts(sandbox, "plantnet")) == (1, 1)
    assert "2 credits used" in stderr
    code, again, stderr = identify(photo, env, "--provider", "both")
    assert again["providers"]["plantnet"]["status"] == "bad_response"
    assert (posts(sandbox, "plantid"), posts(sandbox, "plantnet")) == (1, 1)
    assert "0 credits used" in stderr


def test_auto_falls_back_once_and_the_rerun_asks_nobody(sandbox, env, photo):
    sandbox.configure(mode_plantid="badnumber", fault_reread=True)
    code, record, _ = identify(photo, env, "--provider", "auto")
    assert (record["status"], record["provider"], record["degraded"]) == ("ok", "plantnet", True)
    assert record["providers"]["plantid"]["status"] == "bad_response"
    assert (posts(sandbox, "plantid"), posts(sandbox, "plantnet")) == (1, 1)
    code, again, stderr = identify(photo, env, "--provider", "auto")
    assert (again["status"], again["provider"]) == ("ok", "plantnet")
    assert (posts(sandbox, "plantid"), posts(sandbox, "plantnet")) == (1, 1)
    assert "0 credits used" in stderr


def test_duplicates_in_one_run_share_the_one_unusable_answer(sandbox, env, tmp_path):
    photo = green_photo(tmp_path / "a.jpg", (200, 150))
    twin = tmp_path / "b.jpg"
    twin.write_bytes(photo.read_bytes())
    sandbox.configure(mode="badlist", fault_reread=True)
    result = run_plantid(["identify", "--no-cache", photo, twin], env, timeout=120)
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["error"]["code"] for r in records] == ["bad_response", "bad_response"]
    assert posts(sandbox, "plantid") == 1
    assert "1 credit used" in result.stderr
