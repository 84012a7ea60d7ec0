"""`plantid health` and `plantid identify --health` end to end: real subprocesses against the
sandbox over loopback; what was sent and paid is read from the sandbox's call log and credits."""

from __future__ import annotations

import csv
import io
import json

import httpx
import pytest
from conftest import TEST_KEY, run_plantid
from photos import green_photo


def records_of(result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def reread(sandbox, token: str, details: str) -> dict:
    """The stored answer re-read from the service itself (free), not rebuilt by the test."""
    response = httpx.get(
        f"{sandbox.plantid_url}/identification/{token}",
        params={"details": details},
        headers={"Api-Key": TEST_KEY},
        trust_env=False,
    )
    response.raise_for_status()
    return response.json()


def paid_calls(sandbox) -> list[dict]:
    return [c for c in sandbox.stats()["calls"] if c["method"] == "POST"]


def test_health_sends_a_health_assessment_and_records_what_it_answered(tmp_path, sandbox, cli_env):
    photo = green_photo(tmp_path / "leaf.jpg", (300, 200))
    result = run_plantid(
        ["health", photo, "-f", "ndjson", "--details", "treatment,description", "--top", "2"],
        cli_env,
    )
    assert result.returncode == 0, result.stderr
    [record] = records_of(result)

    [call] = sandbox.stats()["calls"]
    assert (call["kind"], call["method"]) == ("plantid_health", "POST")
    assert call["path"].startswith("/api/v3/health_assessment?")
    # --details adds to the names every disease carries (session 19: it had replaced them)
    assert call["details"] == ["local_name", "common_names", "treatment", "description"]
    assert sandbox.stats()["credits"]["used"] == 1

    [token] = list(sandbox._identifications)
    answered = reread(sandbox, token, "local_name,common_names,treatment,description")["result"]
    assert record["status"] == "ok" and record["best"] is None and record["suggestions"] == []
    assert record["is_healthy"] == {
        "probability": answered["is_healthy"]["probability"],
        "binary": answered["is_healthy"]["binary"],
    }
    expected = answered["disease"]["suggestions"][:2]
    assert [d["name"] for d in record["diseases"]] == [d["name"] for d in expected]
    assert [d["probability"] for d in record["diseases"]] == [d["probability"] for d in expected]
    top = record["diseases"][0]
    assert top["details"] == {
        "treatment": expected[0]["details"]["treatment"],
        "description": expected[0]["details"]["description"],
    }
    assert top["local_name"] == expected[0]["details"]["local_name"]
    assert top["common_names"] == expected[0]["details"]["common_names"]
    assert "1 credit used" in result.stderr


def test_health_default_details_are_names(tmp_path, sandbox, cli_env):
    photo = green_photo(tmp_path / "leaf.jpg", (300, 200), seed=3)
    result = run_plantid(["health", photo, "-f", "ndjson"], cli_env)
    assert result.returncode == 0, result.stderr
    [call] = sandbox.stats()["calls"]
    assert call["details"] == ["local_name", "common_names"]
    [record] = records_of(result)
    [token] = list(sandbox._identifications)
    answered = reread(sandbox, token, "local_name,common_names")["result"]
    first = answered["disease"]["suggestions"][0]["details"]
    assert record["diseases"][0]["local_name"] == first["local_name"]
    assert record["diseases"][0]["common_names"] == first["common_names"]
    assert record["diseases"][0]["details"] == {}


def test_identification_health_and_identify_health_never_share_a_cache_entry(
    tmp_path, sandbox, cli_env
):
    photo = green_photo(tmp_path / "plant.jpg", (300, 200), seed=5)
    commands = (
        ["identify", photo, "-f", "ndjson"],
        ["health", photo, "-f", "ndjson"],
        ["identify", photo, "--health", "-f", "ndjson"],
    )
    first = []
    for args in commands:
        result = run_plantid(args, cli_env)
        assert result.returncode == 0, result.stderr
        [record] = records_of(result)
        assert record["cached"] is False, args  # never served from another kind's entry
        first.append(record)
    kinds = [c["kind"] for c in paid_calls(sandbox)]
    assert kinds == ["plantid_identify", "plantid_health", "plantid_identify"]
    stored = list(sandbox._identifications.values())
    assert [entry["health"] for entry in stored] == [None, "only", "all"]
    assert "health" not in first[0] and "is_healthy" not in first[0]
    assert "is_healthy" in first[1] and "health" not in first[1]
    assert set(first[2]["health"]) == {"is_healthy", "diseases"}
    assert first[2]["best"]["scientific_name"] == first[0]["best"]["scientific_name"]
    assert sandbox.stats()["credits"]["used"] == 1 + 1 + 2

    for args, before in zip(commands, first, strict=True):  # each one again: from its entry
        result = run_plantid(args, cli_env)
        [record] = records_of(result)
        assert record["cached"] is True, args
        assert {**record, "cached": False} == before
    assert len(paid_calls(sandbox)) == 3
    assert sandbox.stats()["credits"]["used"] == 4

    # other disease details are another answer: asked again, once
    result = run_plantid(["health", photo, "-f", "ndjson", "--details", "cause"], cli_env)
    assert records_of(result)[0]["cached"] is False
    assert [c["kind"] for c in paid_calls(sandbox)][-1] == "plantid_health"
    assert len(paid_calls(sandbox)) == 4


def test_identify_health_sends_health_all_and_merges_the_details(tmp_path, sandbox, cli_env):
    photo = green_photo(tmp_path / "plant.jpg", (300, 200), seed=6)
    result = run_plantid(
        ["identify", photo, "--health", "--disease-details", "treatment", "-f", "ndjson"], cli_env
    )
    assert result.returncode == 0, result.stderr
    [call] = sandbox.stats()["calls"]
    assert call["kind"] == "plantid_identify"
    assert call["details"][-1] == "treatment" and "taxonomy" in call["details"]
    [token] = list(sandbox._identifications)
    answered = reread(sandbox, token, ",".join(call["details"]))
    assert answered["input"]["health"] == "all"
    [record] = records_of(result)
    disease = answered["result"]["disease"]["suggestions"][0]
    assert record["health"]["diseases"][0]["name"] == disease["name"]
    # the plant details come back null on diseases: only the disease details asked are kept
    assert record["health"]["diseases"][0]["details"] == {
        "treatment": disease["details"]["treatment"]
    }
    assert "2 credits used" in result.stderr


@pytest.mark.parametrize(
    ("args", "price"),
    [(["identify", "--health"], 2), (["health"], 1), (["identify"], 1)],
)
def test_max_credits_counts_what_the_service_bills(tmp_path, sandbox, cli_env, args, price):
    photos = [green_photo(tmp_path / f"p{n}.jpg", (200, 150), seed=10 + n) for n in range(3)]
    limit = 3 * price - 1
    refused = run_plantid([*args, *photos, "-f", "ndjson", "--max-credits", limit], cli_env)
    assert refused.returncode == 2
    assert f"would spend {3 * price} credits" in refused.stderr
    assert sandbox.stats()["calls"] == []

    allowed = run_plantid([*args, *photos, "-f", "ndjson", "--max-credits", 3 * price], cli_env)
    assert allowed.returncode == 0, allowed.stderr
    assert sandbox.stats()["credits"]["used"] == 3 * price
    assert f"{3 * price} credits used" in allowed.stderr
    # all cached now: a budget of 0 is enough
    again = run_plantid([*args, *photos, "-f", "ndjson", "--max-credits", 0], cli_env)
    assert again.returncode == 0, again.stderr
    assert len(paid_calls(sandbox)) == 3


def test_identify_health_short_of_credits_is_a_credits_record(tmp_path, sandbox, cli_env):
    sandbox.configure(credits=1)  # enough for an identification, not one with health
    photo = green_photo(tmp_path / "plant.jpg", (200, 150), seed=20)
    # the free usage_info check before the run counts the health price: refused, nothing sent
    checked = run_plantid(["identify", photo, "--health", "-f", "ndjson"], cli_env)
    assert checked.returncode == 2
    assert "needs 2 credits" in checked.stderr and "has 1 left" in checked.stderr
    assert sandbox.stats()["plantid_identify"] == 0
    # past that check (--yes), the service's own 429 is a credits record
    result = run_plantid(["identify", photo, "--health", "-f", "ndjson", "--yes"], cli_env)
    assert result.returncode == 4
    [record] = records_of(result)
    assert record["error"]["code"] == "credits"
    assert sandbox.stats()["credits"]["used"] == 0


def test_a_paid_unusable_health_assessment_is_never_bought_again(tmp_path, sandbox, cli_env):
    sandbox.configure(mode_plantid="badtypes", fault_reread=True)
    photo = green_photo(tmp_path / "plant.jpg", (200, 150), seed=21)
    first = run_plantid(["health", photo, "-f", "ndjson"], cli_env)
    assert first.returncode == 4
    assert records_of(first)[0]["error"]["code"] == "bad_response"
    assert len(paid_calls(sandbox)) == 1
    sandbox.configure(mode_plantid=None)
    second = run_plantid(["health", photo, "-f", "ndjson"], cli_env)
    [record] = records_of(second)
    assert (record["error"]["code"], record["cached"]) == ("bad_response", True)
    assert len(paid_calls(sandbox)) == 1
    refreshed = run_plantid(["health", photo, "-f", "ndjson", "--refresh"], cli_env)
    assert refreshed.returncode == 0, refreshed.stderr
    assert len(paid_calls(sandbox)) == 2


def test_health_goes_through_the_shared_breaker(tmp_path, sandbox, cli_env):
    env = {**cli_env, "PLANTID_BREAKER_FAIL_MAX": "1"}
    sandbox.configure(mode_plantid="error503")
    photos = [green_photo(tmp_path / f"p{n}.jpg", (200, 150), seed=30 + n) for n in range(2)]
    first = run_plantid(["health", photos[0], "-f", "ndjson"], env)
    assert first.returncode == 4
    second = run_plantid(["health", photos[1], "-f", "ndjson"], env)
    assert second.returncode == 4
    assert records_of(second)[0]["error"]["reason"] == "circuit-open"
    assert len(paid_calls(sandbox)) == 1  # the open breaker sent nothing
    # and it is the identification's breaker too: the same account
    third = run_plantid(["identify", photos[1], "-f", "ndjson"], env)
    assert records_of(third)[0]["error"]["reason"] == "circuit-open"
    assert len(paid_calls(sandbox)) == 1


def test_health_with_a_rejected_key_is_exit_3(tmp_path, sandbox, cli_env):
    sandbox.configure(key="another-key")
    photo = green_photo(tmp_path / "plant.jpg", (200, 150), seed=40)
    result = run_plantid(["health", photo, "-f", "ndjson"], cli_env)
    assert result.returncode == 3
    assert records_of(result)[0]["error"]["code"] == "auth"


def test_health_csv_and_table(tmp_path, sandbox, cli_env):
    photos = [green_photo(tmp_path / f"p{n}.jpg", (200, 150), seed=50 + n) for n in range(2)]
    ndjson = run_plantid(["health", *photos, "-f", "ndjson", "-q"], cli_env)
    by_index = {r["index"]: r for r in records_of(ndjson)}
    result = run_plantid(["health", *photos, "-f", "csv", "-q"], cli_env)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == [
        "index", "path", "status", "is_healthy", "healthy_probability", "disease",
        "disease_probability", "disease_common_name", "other_diseases", "provider", "cached",
        "sha256", "error_code", "error_message",
    ]  # fmt: skip
    for row in rows:
        record = by_index[int(row["index"])]
        assert row["is_healthy"] == str(record["is_healthy"]["binary"]).lower()
        assert float(row["healthy_probability"]) == record["is_healthy"]["probability"]
        assert row["disease"] == record["diseases"][0]["name"]
        assert row["other_diseases"] == "; ".join(d["name"] for d in record["diseases"][1:])
        assert row["cached"] == "true"
    table = run_plantid(["health", *photos, "-f", "table", "-q"], {**cli_env, "COLUMNS": "200"})
    assert table.returncode == 0, table.stderr
    assert "most likely problem" in table.stdout
    assert by_index[0]["diseases"][0]["name"] in table.stdout
    assert len(paid_calls(sandbox)) == 2


def test_health_refuses_identify_only_combinations(tmp_path, sandbox, cli_env):
    photo = green_photo(tmp_path / "plant.jpg", (200, 150), seed=60)
    plantnet = run_plantid(["identify", photo, "--health", "--provider", "plantnet"], cli_env)
    assert plantnet.returncode == 2
    assert "--health" in plantnet.stderr and "Traceback" not in plantnet.stderr
    orphan = run_plantid(["identify", photo, "--disease-details", "treatment"], cli_env)
    assert orphan.returncode == 2
    assert "--disease-details goes with --health" in orphan.stderr
    assert sandbox.stats()["calls"] == []


def test_health_help_has_examples(cli_env):
    result = run_plantid(["health", "--help"], {**cli_env, "COLUMNS": "200"})
    assert result.returncode == 0
    assert "plantid health tomato-leaf.jpg" in result.stdout
    assert "Diseases per record" in result.stdout
    assert "local_name,common_names)" in result.stdout  # the default disease details


def test_the_confirmation_prompt_names_what_the_service_would_bill(tmp_path, sandbox, cli_env):
    import sys

    import pexpect

    photos = [green_photo(tmp_path / f"p{n}.jpg", (200, 150), seed=70 + n) for n in range(3)]
    env = {**cli_env, "PLANTID_CONFIRM_ABOVE": "2"}
    args = ["-m", "plantid_cli", "identify", "--health", *map(str, photos), "-f", "ndjson"]
    child = pexpect.spawn(sys.executable, args, env=env, encoding="utf-8", timeout=60)
    child.expect(r"3 images: this run may spend up to 6 credits\. Go on\?")
    child.sendline("n")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 2
    assert sandbox.stats()["calls"] == []


def test_the_python_api_takes_health(tmp_path, sandbox, monkeypatch):
    import plantid_cli

    monkeypatch.setenv("PLANTID_API_URL", sandbox.plantid_url)
    monkeypatch.setenv("PLANTID_API_KEY", TEST_KEY)
    monkeypatch.setenv("PLANTID_RATE_LIMIT", "off")
    photo = green_photo(tmp_path / "plant.jpg", (200, 150), seed=80)
    [record] = list(plantid_cli.identify([photo], health=True, top=1))
    assert set(record["health"]) == {"is_healthy", "diseases"}
    assert len(record["health"]["diseases"]) == 1
    assert sandbox.stats()["credits"]["used"] == 2


def test_identify_health_table_says_the_verdict(tmp_path, sandbox, cli_env):
    photos = [green_photo(tmp_path / f"p{n}.jpg", (200, 150), seed=93 + n) for n in range(4)]
    ndjson = run_plantid(["identify", "--health", *photos, "-f", "ndjson", "-q"], cli_env)
    records = records_of(ndjson)
    assert {r["health"]["is_healthy"]["binary"] for r in records} == {True, False}  # both kinds
    table = run_plantid(
        ["identify", "--health", *photos, "-f", "table", "-q"], {**cli_env, "COLUMNS": "250"}
    )
    assert table.returncode == 0, table.stderr
    rows = [line for line in table.stdout.splitlines() if "│" in line]
    for record in records:
        [row] = [r for r in rows if r.split("│")[1].strip() == str(record["index"] + 1)]
        verdict = record["health"]["is_healthy"]
        if verdict["binary"]:
            assert "healthy (" in row and "not healthy" not in row
        else:
            assert "not healthy" in row and record["health"]["diseases"][0]["name"] in row


def test_identify_health_with_both_keeps_plant_ids_assessment(tmp_path, sandbox, cli_env):
    photos = [green_photo(tmp_path / f"p{n}.jpg", (200, 150), seed=126 + n) for n in range(8)]
    result = run_plantid(
        ["identify", "--health", "--provider", "both", *photos, "-f", "ndjson"], cli_env
    )
    assert result.returncode == 0, result.stderr
    records = records_of(result)
    assert {r["provider"] for r in records} == {"plantid", "plantnet"}  # both bests chosen
    assert all(set(r["health"]) == {"is_healthy", "diseases"} for r in records)
    assert sandbox.stats()["plantid_identify"] == 8 and sandbox.stats()["plantnet_identify"] == 8
