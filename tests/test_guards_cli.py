"""The shared guards seen from outside: separate processes, calls counted at the sandbox."""

from __future__ import annotations

import json
import sqlite3
import time

from conftest import assert_each_call_had_a_slot, busiest_window, run_plantid, spawn, wait_for
from photos import green_photo


def finish_all(processes, timeout=60):
    results = []
    for process in processes:
        out, err = process.communicate(timeout=timeout)
        results.append((process.returncode, out, err))
    return results


def breaker_state(env, provider="plantid"):
    result = run_plantid(["status", "--format", "json"], env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["providers"][provider]["breaker"]["state"]


def test_twelve_processes_on_one_photo_make_exactly_one_call(tmp_path, sandbox, cli_env):
    sandbox.configure(latency_ms=1500)
    photo = green_photo(tmp_path / "one.jpg")
    processes = [spawn(["identify", photo], cli_env) for _ in range(12)]
    results = finish_all(processes)
    assert [code for code, _, _ in results] == [0] * 12, [err for _, _, err in results]
    records = [json.loads(out) for _, out, _ in results]
    assert sandbox.stats()["plantid_identify"] == 1
    assert sum(1 for r in records if r["cached"]) == 11
    assert len({r["best"]["scientific_name"] for r in records}) == 1


def test_breaker_opened_by_three_processes_stops_a_fourth_then_one_probe_the_rest_wait_for(
    tmp_path, sandbox, cli_env
):
    env = dict(cli_env, PLANTID_BREAKER_RESET_TIMEOUT="4", PLANTID_TIMEOUT="60")
    # the reset timeout is each process's own: with this one no stall makes the breaker due
    patient = dict(env, PLANTID_BREAKER_RESET_TIMEOUT="600")
    sandbox.configure(mode="error503")
    photos = [green_photo(tmp_path / f"p{i}.jpg", seed=i) for i in range(12)]

    opening = finish_all([spawn(["identify", p], env) for p in photos[:3]])
    opened = time.monotonic()
    for code, _, err in opening:
        assert code == 4, err
    assert sandbox.stats()["plantid_identify"] == 3
    assert breaker_state(patient) == "open"

    fourth = run_plantid(["identify", photos[3]], patient)
    assert fourth.returncode == 4
    assert json.loads(fourth.stdout)["error"]["reason"] == "circuit-open"
    assert "retry_at" in json.loads(fourth.stdout)["error"]
    assert sandbox.stats()["plantid_identify"] == 3  # no network attempt while open

    # After the reset timeout: six racing processes, exactly one trial call while it is out.
    # It is held at the sandbox; the five others wait for its outcome (they used to be
    # refused: a batch started during a trial lost every photo to it), sending nothing.
    time.sleep(max(0.0, opened + 4.2 - time.monotonic()))
    asked = sandbox.stats()["plantid_usage"]
    sandbox.configure(mode=None, hold_after=3)
    racers = [spawn(["identify", p], env) for p in photos[4:10]]
    wait_for(lambda: sandbox.stats()["plantid_usage"] - asked == 6)  # all six have started
    wait_for(lambda: any(c.get("held") for c in sandbox.stats()["calls"]))  # the trial is out
    time.sleep(1.0)  # for the five to reach their photo's check (a lower bound only)
    assert sandbox.stats()["plantid_identify"] == 4  # the probe, still held
    assert all(r.poll() is None for r in racers)  # none refused: they wait
    sandbox.configure(hold_after=None)
    results = finish_all(racers)
    assert [code for code, _, _ in results] == [0] * 6, [err for _, _, err in results]
    assert sandbox.stats()["plantid_identify"] == 9
    # success_threshold 2: the first trial's outcome, then a second trial alone, then the rest
    calls = sorted(sandbox.stats()["calls"], key=lambda c: c["t_arrival"])[3:]
    assert all(call["t_arrival"] >= calls[0]["t_end"] for call in calls[1:])
    assert all(call["t_arrival"] >= calls[1]["t_end"] for call in calls[2:])
    assert breaker_state(env) == "closed"
    assert run_plantid(["identify", photos[10]], env).returncode == 0
    assert sandbox.stats()["plantid_identify"] == 10


def test_credits_exhausted_is_not_an_outage(tmp_path, sandbox, cli_env):
    sandbox.configure(mode="credits")
    photos = [green_photo(tmp_path / f"c{i}.jpg", seed=i) for i in range(4)]
    result = run_plantid(["identify", photos[0]], cli_env)
    assert result.returncode == 4
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "credits"
    assert "credits exhausted — see plantid usage" in error["message"]
    assert breaker_state(cli_env) == "closed"
    # The cool-down is shared: later processes do not send what cannot succeed.
    for photo in photos[1:]:
        later = run_plantid(["identify", photo], cli_env)
        assert later.returncode == 4
        assert json.loads(later.stdout)["error"]["code"] == "credits"
    assert sandbox.stats()["plantid_identify"] == 1
    assert breaker_state(cli_env) == "closed"


def test_plantid_usage_showing_credits_ends_the_cool_down(tmp_path, sandbox, cli_env):
    """The credits message says "see plantid usage": after a top-up, that is all it takes."""
    sandbox.configure(credits=0)
    photo = green_photo(tmp_path / "topup.jpg")
    # --yes: past the credit check (usage_info says 0 left), to meet the 429 itself
    assert run_plantid(["identify", photo, "--yes"], cli_env).returncode == 4
    sandbox.configure(credits=50)  # the user buys credits
    usage = run_plantid(["usage", "--format", "json"], cli_env)
    assert usage.returncode == 0, usage.stderr
    assert json.loads(usage.stdout)["remaining"]["total"] > 0
    assert "cool-down is over" in usage.stderr
    result = run_plantid(["identify", photo], cli_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["status"] == "ok"
    assert sandbox.stats()["plantid_identify"] == 2


def test_answers_from_another_endpoint_are_not_served_from_the_cache(tmp_path, sandbox, cli_env):
    """README's rehearsal (PLANTID_API_URL=sandbox) must not leave sandbox answers in the cache
    for the real service: the cache key holds a non-default endpoint."""
    from plantid_cli.sandbox.server import SandboxServer

    photo = green_photo(tmp_path / "rehearsed.jpg")
    assert run_plantid(["identify", photo], cli_env).returncode == 0
    other = SandboxServer("127.0.0.1", 0).start()
    try:
        env = dict(cli_env, PLANTID_API_URL=other.plantid_url)
        result = run_plantid(["identify", photo], env)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["cached"] is False
        assert other.stats()["plantid_identify"] == 1
    finally:
        other.stop()
    again = run_plantid(["identify", photo], cli_env)  # the first endpoint's answer is kept
    assert json.loads(again.stdout)["cached"] is True
    assert sandbox.stats()["plantid_identify"] == 1


def test_hung_upstream_is_cut_at_the_timeout(tmp_path, sandbox, cli_env):
    sandbox.configure(mode="hang")  # for 300 s
    env = dict(cli_env, PLANTID_TIMEOUT="1")
    result = run_plantid(["identify", green_photo(tmp_path / "h.jpg")], env)
    assert result.returncode == 4
    assert json.loads(result.stdout)["error"]["reason"] == "timeout"
    # the client cut it: the process is done while the sandbox still holds every call it sent
    calls = sandbox.stats()["calls"]
    assert len(calls) == 1 and calls[0]["t_end"] is None, calls


def test_four_per_second_over_three_processes_is_never_exceeded(
    tmp_path, sandbox, cli_env, isolated_env
):
    # the hourly limit only keeps every slot of the run in the limiter's log for the test
    env = dict(cli_env, PLANTID_RATE_LIMIT="4/second,1000/hour")
    folders = []
    for worker in range(3):
        folder = tmp_path / f"w{worker}"
        for i in range(6):
            green_photo(folder / f"{i}.jpg", seed=worker * 100 + i)
        folders.append(folder)
    results = finish_all([spawn(["identify", f, "-j", "4"], env) for f in folders])
    assert [code for code, _, _ in results] == [0, 0, 0], [err for _, _, err in results]
    starts = [call["t_start"] for call in sandbox.stats()["calls"]]
    assert len(starts) == 18
    # The guarantee is on the slots the three processes took from their shared log (a call
    # reaches the server a moment after its slot, by however long a loaded machine takes):
    # never more than 4 in a second, and every call the sandbox saw came after its slot.
    with sqlite3.connect(isolated_env / "cache" / "state.sqlite3") as con:
        slots = [ts for (ts,) in con.execute("SELECT ts FROM ratelog")]
    assert busiest_window(slots, 1.0) <= 4
    assert_each_call_had_a_slot(starts, slots)


def test_cache_commands_and_refresh(tmp_path, sandbox, cli_env):
    photo = green_photo(tmp_path / "r.jpg")
    assert run_plantid(["identify", photo], cli_env).returncode == 0
    again = run_plantid(["identify", photo], cli_env)
    assert json.loads(again.stdout)["cached"] is True
    assert sandbox.stats()["plantid_identify"] == 1
    refreshed = run_plantid(["identify", photo, "--refresh"], cli_env)
    assert json.loads(refreshed.stdout)["cached"] is False
    no_cache = run_plantid(["identify", photo, "--no-cache"], cli_env)
    assert json.loads(no_cache.stdout)["cached"] is False
    assert sandbox.stats()["plantid_identify"] == 3
    stats = json.loads(run_plantid(["cache", "stats", "--json"], cli_env).stdout)
    assert stats["entries"] == 1
    cleared = run_plantid(["cache", "clear", "--yes"], cli_env)
    assert "removed 1" in cleared.stderr
    assert json.loads(run_plantid(["identify", photo], cli_env).stdout)["cached"] is False


def test_verbose_logs_guard_decisions_without_the_key(tmp_path, sandbox, cli_env):
    photo = green_photo(tmp_path / "v.jpg")
    first = run_plantid(["identify", photo, "-v"], cli_env)
    second = run_plantid(["identify", photo, "-v"], cli_env)
    assert "[CACHE] miss" in first.stderr
    assert "[CACHE] hit" in second.stderr
    sandbox.configure(mode="error503")
    env = dict(cli_env, PLANTID_BREAKER_FAIL_MAX="1")
    failing = run_plantid(["identify", green_photo(tmp_path / "w.jpg", seed=9), "-v"], env)
    assert "[CIRCUIT] plantid closed -> open (1 failures)" in failing.stderr
    for output in (first, second, failing):
        assert cli_env["PLANTID_API_KEY"] not in output.stderr + output.stdout


def test_breaker_reset_command_closes_it(tmp_path, sandbox, cli_env):
    sandbox.configure(mode="error500")
    env = dict(cli_env, PLANTID_BREAKER_FAIL_MAX="1")
    assert run_plantid(["identify", green_photo(tmp_path / "x.jpg")], env).returncode == 4
    assert breaker_state(env) == "open"
    assert run_plantid(["breaker", "reset", "plantid", "--yes"], env).returncode == 0
    assert breaker_state(env) == "closed"
