"""`plantid search` and `plantid about`: Plant.id's knowledge base through the account's guards,
against the sandbox over loopback; calls and credits are read from the sandbox."""

from __future__ import annotations

import csv
import io
import json

import httpx
from conftest import TEST_KEY, run_plantid


def kb_calls(sandbox, kind: str) -> int:
    return sandbox.stats()[f"plantid_kb_{kind}"]


def service_search(sandbox, q: str, **params) -> dict:
    """What the service itself answers (read after the CLI's calls were counted)."""
    response = httpx.get(
        f"{sandbox.plantid_url}/kb/plants/name_search",
        params={"q": q, **params},
        headers={"Api-Key": TEST_KEY},
        trust_env=False,
    )
    response.raise_for_status()
    return response.json()


def test_search_lists_the_services_names_and_tokens_for_free(sandbox, cli_env):
    result = run_plantid(["search", "quercus", "--limit", "5", "-f", "json"], cli_env)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    [call] = sandbox.stats()["calls"]
    assert (call["kind"], call["method"]) == ("plantid_kb_search", "GET")
    assert "q=quercus" in call["path"] and "limit=5" in call["path"]
    assert sandbox.stats()["credits"]["used"] == 0
    assert "0 credits used" in result.stderr
    assert printed == service_search(sandbox, "quercus", limit=5)["entities"]
    assert {e["matched_in"] for e in printed} == {"Quercus robur", "Quercus petraea"}


def test_search_formats_language_and_no_match(sandbox, cli_env):
    ndjson = run_plantid(["search", "Weizen", "--language", "de", "-f", "ndjson"], cli_env)
    assert ndjson.returncode == 0, ndjson.stderr
    lines = [json.loads(line) for line in ndjson.stdout.splitlines()]
    assert lines and {e["matched_in_type"] for e in lines} == {"common_name"}
    assert "language=de" in sandbox.stats()["calls"][-1]["path"]

    as_csv = run_plantid(["search", "aloe", "-f", "csv"], cli_env)
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert list(rows[0]) == [
        "matched_in", "matched_in_type", "access_token", "match_position", "match_length"
    ]  # fmt: skip
    assert [r["matched_in"] for r in rows] == ["Aloe vera", "Aloe arborescens"]

    trimmed = run_plantid(["search", "a", "--limit", "2", "-f", "ndjson"], cli_env)
    assert len(trimmed.stdout.splitlines()) == 2 and "more match" in trimmed.stderr

    nothing = run_plantid(["search", "zzzz", "-f", "ndjson"], cli_env)
    assert (nothing.returncode, nothing.stdout) == (1, "")
    bad = run_plantid(["search", "aloe", "--limit", "21"], cli_env)
    assert bad.returncode == 2
    assert kb_calls(sandbox, "search") == 4  # the bad --limit sent nothing


def test_about_by_name_costs_half_a_credit_once_then_comes_from_the_cache(sandbox, cli_env):
    first = run_plantid(["about", "Aloe vera", "-f", "json"], cli_env)
    assert first.returncode == 0, first.stderr
    entry = json.loads(first.stdout)
    assert (kb_calls(sandbox, "search"), kb_calls(sandbox, "detail")) == (1, 1)
    assert sandbox.stats()["credits"]["used"] == 0.5
    assert "0.5 credits used" in first.stderr
    token = service_search(sandbox, "Aloe vera")["entities"][0]["access_token"]
    raw = httpx.get(
        f"{sandbox.plantid_url}/kb/plants/{token}",
        params={"details": "common_names,taxonomy,url,synonyms,description"},
        headers={"Api-Key": TEST_KEY},
        trust_env=False,
    ).json()
    assert entry["access_token"] == token and entry["cached"] is False
    assert entry["name"] == raw["name"]
    assert entry["common_names"] == raw["common_names"]
    assert entry["family"] == raw["taxonomy"]["family"]
    assert entry["kingdom"] == raw["taxonomy"]["kingdom"]
    assert entry["synonyms"] == raw["synonyms"]
    assert entry["url"] == raw["url"]
    assert entry["description"] == raw["description"]["value"]
    detail_calls = kb_calls(sandbox, "detail")  # 2: the CLI's and this test's

    again = run_plantid(["about", "Aloe vera", "-f", "json"], cli_env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {**entry, "cached": True}
    assert "cached, 0 credits used" in again.stderr
    by_token = run_plantid(["about", token, "-f", "json"], cli_env)
    assert json.loads(by_token.stdout)["cached"] is True
    assert kb_calls(sandbox, "detail") == detail_calls  # neither bought it again
    assert kb_calls(sandbox, "search") == 3  # the test's, and the name's look-up; a token: none

    refreshed = run_plantid(["about", token, "--refresh", "-f", "json"], cli_env)
    assert json.loads(refreshed.stdout)["cached"] is False
    assert kb_calls(sandbox, "detail") == detail_calls + 1


def test_about_other_details_are_another_entry_and_land_in_details(sandbox, cli_env):
    result = run_plantid(
        ["about", "Quercus robur", "--details", "common_names,image,edible_parts", "-f", "json"],
        cli_env,
    )
    assert result.returncode == 0, result.stderr
    entry = json.loads(result.stdout)
    [detail] = [c for c in sandbox.stats()["calls"] if c["kind"] == "plantid_kb_detail"]
    assert detail["details"] == ["common_names", "image", "edible_parts"]
    assert entry["details"]["image"]["value"].startswith(sandbox.url)
    assert entry["details"]["edible_parts"] is None  # asked, unknown: null, as sent
    assert entry["family"] is None  # taxonomy not asked
    default = run_plantid(["about", "Quercus robur", "-f", "json"], cli_env)
    assert json.loads(default.stdout)["cached"] is False
    assert kb_calls(sandbox, "detail") == 2


def test_about_csv_is_one_row_of_the_entry(sandbox, cli_env):
    as_json = run_plantid(["about", "Urtica dioica", "-f", "json", "-q"], cli_env)
    entry = json.loads(as_json.stdout)
    as_csv = run_plantid(["about", "Urtica dioica", "-f", "csv", "-q"], cli_env)
    [row] = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert list(row) == list(entry)
    assert row["name"] == entry["name"] and row["family"] == entry["family"]
    assert row["common_names"] == "; ".join(entry["common_names"])
    assert (row["cached"], row["details"]) == ("true", "{}")
    assert kb_calls(sandbox, "detail") == 1


def test_about_max_credits_zero_refuses_to_buy(sandbox, cli_env):
    refused = run_plantid(["about", "Bellis perennis", "--max-credits", "0"], cli_env)
    assert refused.returncode == 2
    assert "0.5 credits" in refused.stderr
    assert kb_calls(sandbox, "detail") == 0
    bought = run_plantid(["about", "Bellis perennis", "-f", "json", "-q"], cli_env)
    assert bought.returncode == 0 and bought.stderr == ""
    cached = run_plantid(["about", "Bellis perennis", "--max-credits", "0", "-f", "json"], cli_env)
    assert cached.returncode == 0  # cached: costs nothing
    assert kb_calls(sandbox, "detail") == 1


def test_about_unknown_name_or_token_is_exit_1(sandbox, cli_env):
    name = run_plantid(["about", "Nonexistentia"], cli_env)
    assert name.returncode == 1 and "no plant named" in name.stderr
    token = run_plantid(["about", "A" * 30 + "-"], cli_env)
    assert token.returncode == 1 and "no knowledge-base entry" in token.stderr
    assert sandbox.stats()["credits"]["used"] == 0


def test_kb_calls_go_through_the_accounts_breaker(sandbox, cli_env):
    env = {**cli_env, "PLANTID_BREAKER_FAIL_MAX": "1"}
    sandbox.configure(mode_plantid="error503")
    failed = run_plantid(["search", "aloe"], env)
    assert failed.returncode == 4
    refused = run_plantid(["search", "aloe"], env)
    assert refused.returncode == 4 and "circuit" in refused.stderr.lower()
    about = run_plantid(["about", "a2I6ZjI0NTg4Zjk5MjRkYzVkMDow-"], env)
    assert about.returncode == 4
    assert kb_calls(sandbox, "search") == 1 and kb_calls(sandbox, "detail") == 0


def test_search_is_free_so_credits_gone_refuse_only_about(sandbox, cli_env):
    sandbox.configure(credits=0)
    token = service_search(sandbox, "Aloe vera")["entities"][0]["access_token"]
    first = run_plantid(["about", token], cli_env)
    assert first.returncode == 4 and "credits" in first.stderr
    assert kb_calls(sandbox, "detail") == 1
    again = run_plantid(["about", token], cli_env)  # the cool-down: no call
    assert again.returncode == 4
    assert kb_calls(sandbox, "detail") == 1
    search = run_plantid(["search", "aloe", "-f", "ndjson"], cli_env)
    assert search.returncode == 0, search.stderr
    assert kb_calls(sandbox, "search") == 2


def test_kb_with_a_rejected_or_missing_key_is_exit_3(sandbox, cli_env):
    sandbox.configure(key="another-key")
    assert run_plantid(["search", "aloe"], cli_env).returncode == 3
    no_key = {k: v for k, v in cli_env.items() if k != "PLANTID_API_KEY"}
    missing = run_plantid(["about", "Aloe vera"], no_key)
    assert missing.returncode == 3 and "plantid keys set plantid" in missing.stderr
    assert kb_calls(sandbox, "search") == 1


def test_kb_calls_take_rate_limit_slots(sandbox, cli_env, isolated_env):
    import sqlite3

    env = {**cli_env, "PLANTID_RATE_LIMIT": "50/minute"}
    assert run_plantid(["search", "aloe", "-q"], env).returncode == 0
    assert run_plantid(["about", "Aloe vera", "-q"], env).returncode == 0  # search + detail
    # counted in the limiter's own log (a status window of the clock could drop a slot)
    with sqlite3.connect(isolated_env / "cache" / "state.sqlite3") as con:
        slots = [ts for (ts,) in con.execute("SELECT ts FROM ratelog")]
    assert len(slots) == 3


def test_a_paid_unusable_entry_is_stored_and_not_bought_again(sandbox, cli_env):
    token = service_search(sandbox, "Aloe vera")["entities"][0]["access_token"]
    sandbox.configure(mode_plantid="badjson", fault_reread=True)
    first = run_plantid(["about", token], cli_env)
    assert first.returncode == 4
    assert "0.5 credits used" not in first.stdout
    assert kb_calls(sandbox, "detail") == 1 and sandbox.stats()["credits"]["used"] == 0.5
    sandbox.configure(mode_plantid=None)
    second = run_plantid(["about", token], cli_env)
    assert second.returncode == 4  # the stored answer's error, without a call
    assert kb_calls(sandbox, "detail") == 1
    fixed = run_plantid(["about", token, "--refresh", "-f", "json"], cli_env)
    assert fixed.returncode == 0, fixed.stderr
    assert kb_calls(sandbox, "detail") == 2


def test_kb_help_has_examples(cli_env):
    for command in ("search", "about"):
        result = run_plantid([command, "--help"], {**cli_env, "COLUMNS": "200"})
        assert result.returncode == 0
        assert f"plantid {command} " in result.stdout and "credit" in result.stdout


def test_about_max_credits_nan_is_a_usage_error(sandbox, cli_env):
    """Before: nan passed the `< 0` check and every `cost > nan` is false: the entry was
    bought (0.5 credits) under a limit that allowed nothing."""
    refused = run_plantid(["about", "Bellis perennis", "--max-credits", "nan"], cli_env)
    assert refused.returncode == 2, refused.stderr
    assert "--max-credits must be a number, 0 or more" in refused.stderr
    assert sandbox.stats()["plantid_kb_detail"] == 0
