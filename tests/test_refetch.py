"""`plantid refetch`: identifications re-read by access token, free, records rewritten.

Real subprocesses against the sandbox; the sandbox's call log and credit counter are the
witnesses (a refetch sends GETs only and the service's `used` count does not move).
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3

from conftest import assert_each_call_had_a_slot, busiest_window, run_plantid
from photos import green_photo

from plantid_cli.sandbox import data
from plantid_cli.sandbox.server import SandboxServer

NAMES = {sp.name: sp for sp in data.SPECIES}


def records_of(result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def identified(tmp_path, cli_env, count: int = 3, *args: str):
    photos = [green_photo(tmp_path / f"p{n}.jpg", seed=n) for n in range(count)]
    result = run_plantid(["identify", *photos, "-f", "ndjson", *args], cli_env)
    assert result.returncode == 0, result.stderr
    results = tmp_path / "results.ndjson"
    results.write_text(result.stdout)
    # in completion order; refetch writes them in input order (index), as report and tag read
    return results, sorted(records_of(result), key=lambda r: r["index"])


def test_refetch_in_german_sends_gets_only_and_spends_nothing(tmp_path, sandbox, cli_env):
    results, before = identified(tmp_path, cli_env)
    used = sandbox.stats()["credits"]["used"]
    result = run_plantid(["refetch", results, "--language", "de", "--details", "toxicity"], cli_env)
    assert result.returncode == 0, result.stderr
    assert "3 re-read" in result.stderr and "0 credits used" in result.stderr
    after = records_of(result)
    gets = [c for c in sandbox.stats()["calls"] if c["kind"] == "plantid_get"]
    assert [c["method"] for c in gets] == ["GET"] * 3
    assert [c["language"] for c in gets] == ["de"] * 3 and "toxicity" in gets[0]["details"]
    assert sandbox.stats()["plantid_identify"] == 3  # the identify run's, none more
    assert sandbox.stats()["credits"]["used"] == used
    assert len(after) == len(before) == 3
    for old, new in zip(before, after, strict=True):
        for key in ("index", "path", "sha256", "location", "taken_at", "identified_at",
                    "access_token", "status"):  # fmt: skip
            assert new[key] == old[key]
        assert new["refetched_at"] and "refetched_at" not in old
        assert new["best"]["scientific_name"] == old["best"]["scientific_name"]
        german = NAMES[new["best"]["scientific_name"]].common_names.get("de", [])
        assert new["best"]["common_names"] == german != old["best"]["common_names"]
        assert "toxicity" in new["best"]["details"]
        assert len(new["suggestions"]) == len(old["suggestions"])


def test_refetch_works_with_the_account_out_of_credits(tmp_path, cli_env):
    """A re-read is free: a credits cool-down (the account's last call was a 429) must not stop
    it, and no credit is counted."""
    with SandboxServer(credits=2) as server:
        env = {**cli_env, "PLANTID_API_URL": server.plantid_url}
        results, _ = identified(tmp_path, env, 2)
        third = run_plantid(["identify", green_photo(tmp_path / "x.jpg", seed=40), "--yes"], env)
        assert third.returncode == 4  # 429: the credits cool-down is now set
        result = run_plantid(["refetch", results, "--language", "de"], env)
        assert result.returncode == 0, result.stderr
        assert len(records_of(result)) == 2 and "2 re-read" in result.stderr
        assert server.stats()["plantid_get"] == 2 and server.stats()["credits"]["used"] == 2


def test_refetch_goes_through_the_breaker(tmp_path, sandbox, cli_env):
    """The service fails: the breaker opens after the first failure and the other records are
    refused without a call; every record is still written, unchanged, exit 4."""
    results, before = identified(tmp_path, cli_env)
    sandbox.configure(mode="error503")
    env = {**cli_env, "PLANTID_BREAKER_FAIL_MAX": "1"}
    result = run_plantid(["refetch", results, "--language", "de"], env)
    assert result.returncode == 4, result.stderr
    assert records_of(result) == before
    assert sandbox.stats()["plantid_get"] == 1  # then the breaker refused the other two
    assert "3 failed" in result.stderr and "Traceback" not in result.stderr


def test_refetch_takes_a_rate_limit_slot_for_every_call(tmp_path, sandbox, cli_env, isolated_env):
    results, _ = identified(tmp_path, cli_env, 4)  # rate limit off: no slots taken so far
    env = {**cli_env, "PLANTID_RATE_LIMIT": "2/second,1000/hour"}  # the hour keeps the log
    result = run_plantid(["refetch", results, "--language", "de"], env)
    assert result.returncode == 0, result.stderr
    arrivals = [c["t_start"] for c in sandbox.stats()["calls"] if c["kind"] == "plantid_get"]
    with sqlite3.connect(isolated_env / "cache" / "state.sqlite3") as con:
        slots = [ts for (ts,) in con.execute("SELECT ts FROM ratelog")]
    assert len(slots) == len(arrivals) == 4
    assert busiest_window(slots, 1.0) <= 2
    assert_each_call_had_a_slot(arrivals, slots)


def test_records_with_nothing_to_re_read_are_written_unchanged(tmp_path, sandbox, cli_env):
    results, before = identified(tmp_path, cli_env, 1)
    plantnet = run_plantid(
        ["identify", green_photo(tmp_path / "pn.jpg", seed=7), "--provider", "plantnet"], cli_env
    )
    error = {**before[0], "index": 2, "status": "error", "best": None, "suggestions": [],
             "error": {"code": "not_image", "reason": "not_image", "message": "x"}}  # fmt: skip
    old = {k: v for k, v in before[0].items() if k != "access_token"}  # before tokens existed
    old["index"] = 3
    [pn] = records_of(plantnet)
    pn["index"] = 1
    results.write_text("".join(json.dumps(r) + "\n" for r in [before[0], pn, error, old]))
    result = run_plantid(["refetch", results], cli_env)
    assert result.returncode == 0, result.stderr
    out = records_of(result)
    assert out[1:] == [pn, error, old]
    assert out[0]["refetched_at"] and sandbox.stats()["plantid_get"] == 1
    assert "3 kept as they were" in result.stderr


def test_an_unknown_token_keeps_the_record_and_says_why(tmp_path, sandbox, cli_env):
    results, before = identified(tmp_path, cli_env, 1)
    gone = {**before[0], "access_token": "NoSuchToken123"}
    results.write_text(json.dumps(gone) + "\n")
    result = run_plantid(["refetch", results], cli_env)
    assert result.returncode == 1
    assert records_of(result) == [gone]
    assert "kept for 6 months" in result.stderr and "Traceback" not in result.stderr


def test_refetch_writes_the_same_formats(tmp_path, sandbox, cli_env):
    results, before = identified(tmp_path, cli_env, 2)
    result = run_plantid(["refetch", results, "-f", "csv", "--language", "de"], cli_env)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["scientificName"].split(" ")[:2] for row in rows] == [
        r["best"]["scientific_name"].split(" ")[:2] for r in before
    ]
    as_json = run_plantid(["refetch", results, "-f", "json"], cli_env)
    assert [r["index"] for r in json.loads(as_json.stdout)] == [0, 1]


def test_refetch_of_a_missing_file_is_a_usage_error(tmp_path, sandbox, cli_env):
    result = run_plantid(["refetch", tmp_path / "nope.ndjson"], cli_env)
    assert result.returncode == 2 and "no such file" in result.stderr
    assert sandbox.stats()["plantid_get"] == 0
