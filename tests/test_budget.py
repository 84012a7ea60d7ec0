"""Before a run (issue 15): --dry-run sends nothing; a run that would spend more Plant.id credits
than usage_info says are left is refused with both numbers, however small it is."""

from __future__ import annotations

import json

from conftest import run_plantid
from photos import green_photo


def _photos(folder, count: int):
    for n in range(count):
        green_photo(folder / f"p{n}.jpg", seed=n)
    return folder


def plan(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_dry_run_hashes_and_looks_up_but_sends_nothing(tmp_path, sandbox, cli_env):
    folder = _photos(tmp_path / "p", 3)
    (folder / "broken.jpg").write_bytes(b"")  # empty: cannot be sent
    sandbox.configure(credits=100)
    first = run_plantid(["identify", folder / "p0.jpg", "-f", "ndjson"], cli_env)
    assert first.returncode == 0, first.stderr
    assert sandbox.stats()["plantid_identify"] == 1
    dry = run_plantid(["identify", folder, "--dry-run", "-f", "ndjson"], cli_env)
    assert sandbox.stats()["plantid_identify"] == 1  # nothing more was sent
    rows = {row["path"].rsplit("/", 1)[-1]: row for row in plan(dry.stdout)}
    assert {name: row["action"] for name, row in rows.items()} == {
        "broken.jpg": "skip",
        "p0.jpg": "cached",
        "p1.jpg": "send",
        "p2.jpg": "send",
    }
    assert "empty file" in rows["broken.jpg"]["reason"]
    assert sum(row["cost"] for row in rows.values()) == 2
    assert "2 credits" in dry.stderr and "nothing was sent" in dry.stderr
    assert "has 99 left (enough)" in dry.stderr  # the free usage_info call, 100 - 1
    assert dry.returncode == 1  # a file that cannot be sent, as a real run would say
    assert sandbox.stats()["credits"]["used"] == 1


def test_dry_run_says_when_the_credits_would_not_do(tmp_path, sandbox, cli_env):
    folder = _photos(tmp_path / "p", 3)
    sandbox.configure(credits=2)
    dry = run_plantid(["identify", folder, "--dry-run", "-f", "ndjson"], cli_env)
    assert dry.returncode == 0, dry.stderr
    assert "3 credits" in dry.stderr and "has 2 left (NOT enough" in dry.stderr
    assert sandbox.stats()["plantid_identify"] == 0


def test_a_small_run_over_the_credits_left_is_refused_with_both_numbers(tmp_path, sandbox, cli_env):
    """Below confirm_above (100) the earlier attempt never checked: 3 photos, 2 credits left
    ran into a 429 on the third. Now nothing is sent and both numbers are said."""
    folder = _photos(tmp_path / "p", 3)
    sandbox.configure(credits=2)
    result = run_plantid(["identify", folder, "-f", "ndjson"], cli_env)
    assert result.returncode == 2, result.stderr
    assert "needs 3 credits" in result.stderr and "has 2 left" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    stats = sandbox.stats()
    assert stats["plantid_identify"] == 0
    assert stats["plantid_usage"] == 1  # asked once, for free


def test_cached_units_cost_nothing_in_the_check(tmp_path, sandbox, cli_env):
    folder = _photos(tmp_path / "p", 3)
    assert run_plantid(["identify", folder / "p0.jpg", folder / "p1.jpg"], cli_env).returncode == 0
    sandbox.configure(credits=3)  # 2 used: 1 left, and only p2 is not in the cache
    result = run_plantid(["identify", folder, "-f", "ndjson"], cli_env)
    assert result.returncode == 0, result.stderr
    assert sandbox.stats()["plantid_identify"] == 3


def test_yes_runs_on_until_the_credits_run_out(tmp_path, sandbox, cli_env):
    folder = _photos(tmp_path / "p", 3)
    sandbox.configure(credits=2)
    result = run_plantid(["identify", folder, "-f", "ndjson", "-j", "1", "--yes"], cli_env)
    assert result.returncode == 4
    statuses = sorted(r["status"] for r in plan(result.stdout))
    assert statuses == ["error", "ok", "ok"]
    assert sandbox.stats()["plantid_usage"] == 0  # --yes: not asked


def test_pl_at_ntnet_only_runs_do_not_ask_plant_id(tmp_path, sandbox, cli_env):
    folder = _photos(tmp_path / "p", 2)
    sandbox.configure(credits=0)
    result = run_plantid(["identify", folder, "--provider", "plantnet", "-f", "ndjson"], cli_env)
    assert result.returncode == 0, result.stderr
    assert sandbox.stats()["plantid_usage"] == 0
    assert sandbox.stats()["plantnet_identify"] == 2


def test_a_usage_info_that_does_not_answer_does_not_stop_the_run(tmp_path, sandbox, cli_env):
    """The check is free help, never a new way to fail: a wrong key is the run's to report
    (exit 3, a record per photo), as before."""
    folder = _photos(tmp_path / "p", 1)
    env = {**cli_env, "PLANTID_API_KEY": "wrong-key-123456"}
    sandbox.configure(key=cli_env["PLANTID_API_KEY"])  # any other key: 401
    result = run_plantid(["identify", folder, "-f", "ndjson"], env)
    assert result.returncode == 3, result.stderr
    [record] = plan(result.stdout)
    assert record["error"]["code"] == "auth"


def test_the_credit_check_and_the_first_upload_share_one_connection(tmp_path, sandbox, cli_env):
    """Issue 17: usage_info was asked on a client of its own, so the run's first upload opened
    a second connection (against the service, a second TLS handshake in front of it). Now
    the check uses the run's client: one connection for both."""
    folder = _photos(tmp_path / "p", 1)
    result = run_plantid(["identify", folder, "-f", "ndjson", "-j", "1"], cli_env)
    assert result.returncode == 0, result.stderr
    stats = sandbox.stats()
    assert (stats["plantid_usage"], stats["plantid_identify"]) == (1, 1)
    assert stats["connections"] == 1


def test_a_stop_gives_up_the_free_credit_check_at_once(sandbox):
    """Found by a red-team pass (session 10): Ctrl-C or SIGTERM during the credit check
    waited out a usage_info that does not answer (its 10 s bound) before the run could end.
    The run's stop now gives the free call up at once; here its own bound is 600 s."""
    import threading

    import httpx
    import pytest

    from plantid_cli.providers.exchange import exchange

    sandbox.configure(usage_hang=True, hang_seconds=600)
    stop, outcome = threading.Event(), {}
    url = f"{sandbox.plantid_url}/usage_info"
    kwargs = {"headers": {"Api-Key": "k"}, "timeout": 600}

    def check() -> None:
        with httpx.Client() as client:
            try:
                exchange(client, "GET", url, kwargs, 1 << 20, stop=stop)
            except httpx.ReadTimeout as exc:
                outcome["error"] = str(exc)

    thread = threading.Thread(target=check, daemon=True)
    thread.start()
    while sandbox.stats()["plantid_usage"] == 0 and thread.is_alive():
        thread.join(0.02)
    stop.set()
    thread.join(60)  # the test's own bound, a tenth of the call's; before: the whole 600 s
    assert not thread.is_alive()
    assert outcome == {"error": "given up: the run was stopped"}
    with httpx.Client() as client, pytest.raises(ValueError):  # a paid call never is
        exchange(client, "POST", url, kwargs, 1 << 20, charged_by="plantid", stop=stop)
    assert sandbox.stats()["plantid_identify"] == 0


def test_sigterm_during_a_hung_credit_check_sends_nothing_and_exits_143(tmp_path, sandbox, cli_env):
    """The command line's side of the test above: the stop reaches the credit check, the run
    sends no photo, and the exit is SIGTERM's 143 with no traceback."""
    import signal
    import time

    from conftest import spawn

    sandbox.configure(usage_hang=True, hang_seconds=600)
    photo = green_photo(tmp_path / "p.jpg", seed=970)
    proc = spawn(["identify", photo, "-f", "ndjson"], cli_env)
    while sandbox.stats()["plantid_usage"] == 0 and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "Traceback" not in err and out == ""
    assert sandbox.stats()["plantid_identify"] == 0
