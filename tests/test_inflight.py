"""`-j N`: at most N calls between their send and their stored answer, and whatever a failed
answer teaches (the breaker opened) is known before another photo is sent.

Pinned for any change to how stage B's threads take their calls (issue 17, session 5: a
run with twice as many threads as places, the answer's place given back before it was
stored, failed the second and third tests and `test_keygate`; docs/benchmarks.md). Counts are
exact; the sandbox's hold gate orders events without a clock.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import run_plantid, spawn, wait_for
from runs import make_photos, peak_overlap, records


def test_dash_j_bounds_the_requests_in_flight_not_the_threads(sandbox, cli_env, tmp_path):
    """With every call held by the sandbox, exactly 3 of 12 arrive at -j 3; once released,
    the peak of calls open at once is 3."""
    photos = make_photos(tmp_path / "p", 12)
    sandbox.configure(hold_after=0)  # every identification waits until released
    proc = spawn(["identify", photos, "-j", "3", "-f", "ndjson", "-q"], cli_env)
    wait_for(lambda: sandbox.stats()["plantid_identify"] == 3)
    time.sleep(1.0)  # a fourth call had this long to arrive (it must not)
    held = sandbox.stats()["plantid_identify"]
    sandbox.configure(hold_after=None)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert held == 3
    assert sorted(r["status"] for r in records(out)) == ["ok"] * 12
    calls = sandbox.stats()["calls"]
    assert len(calls) == 12
    assert peak_overlap(calls) == 3


def test_a_breaker_opened_by_the_calls_a_photo_waited_for_stops_it_unsent(
    sandbox, cli_env, tmp_path
):
    """Both calls in flight fail and the first failure opens the breaker (fail_max 1): the
    photos behind them are refused, never sent. The sandbox holds both calls until both have
    arrived, then answers them (500) together: no clock. (This used fail_max 2 and 300 ms of
    latency, which is a race, not a guarantee: when the second failure lands a few ms after
    the first, the first's thread may rightly send a third photo to a breaker that is still
    closed; a loaded machine made it 3 calls.)"""
    photos = make_photos(tmp_path / "p", 8)
    sandbox.configure(mode="error500", hold_after=0)
    env = {
        **cli_env,
        "PLANTID_RETRIES": "0",
        "PLANTID_BREAKER_FAIL_MAX": "1",
        "PLANTID_BREAKER_RESET_TIMEOUT": "600",
    }
    proc = spawn(["identify", photos, "-j", "2", "-f", "ndjson", "-q"], env)
    wait_for(lambda: sandbox.stats()["plantid_identify"] == 2)
    sandbox.configure(hold_after=None)
    out, err = proc.communicate(timeout=120)
    assert sandbox.stats()["plantid_identify"] == 2, err
    statuses = [r["status"] for r in records(out)]
    assert len(statuses) == 8 and "ok" not in statuses


def test_a_kill_9_pays_again_at_most_the_places_not_the_callers(sandbox, cli_env, tmp_path):
    """A new call starts only once an earlier answer is stored: killed at -j 2 while two
    calls are held, the rerun pays again for those two only."""
    photos = make_photos(tmp_path / "p", 10)
    sandbox.configure(hold_after=2)
    proc = spawn(["identify", photos, "-j", "2", "-f", "ndjson", "-q"], cli_env)
    wait_for(lambda: sandbox.stats()["plantid_identify"] == 4)  # 2 answered, 2 held
    proc.kill()
    proc.communicate(timeout=30)
    sandbox.configure(hold_after=None)
    rerun = run_plantid(["identify", photos, "-j", "2", "-f", "ndjson", "-q"], cli_env)
    assert rerun.returncode == 0, rerun.stderr
    again = [json.loads(line) for line in rerun.stdout.splitlines()]
    assert sum(r["cached"] for r in again) == 2
    assert sandbox.stats()["plantid_identify"] == 4 + 8


def _flocked_by(pid: int, folder) -> int:
    """How many files in `folder` process `pid` holds a lock on (read from /proc/locks)."""
    inodes = {path.stat().st_ino for path in folder.glob("*.lock")} if folder.exists() else set()
    held = 0
    for line in open("/proc/locks", encoding="ascii").read().splitlines():
        fields = line.split()
        if "->" in fields:  # a waiter's entry, not a held lock
            continue
        if int(fields[4]) == pid and int(fields[5].split(":")[2]) in inodes:
            held += 1
    return held


def test_the_next_photo_gets_ready_while_the_slot_is_out(sandbox, cli_env, tmp_path):
    """At -j 1, while the one call is held by the sandbox, the next photo has already taken
    its single-flight lock and waits only for the slot (its lock, look-up and checks are not
    between the answer and its request any more); still one request out at a time."""
    photos = make_photos(tmp_path / "p", 2)
    sandbox.configure(hold_after=0)
    proc = spawn(["identify", photos, "-j", "1", "-f", "ndjson", "-q"], cli_env)
    locks = Path(cli_env["PLANTID_CACHE_DIR"]) / "locks"
    wait_for(lambda: sandbox.stats()["plantid_identify"] == 1)
    wait_for(lambda: _flocked_by(proc.pid, locks) == 2)
    held = sandbox.stats()["plantid_identify"]
    sandbox.configure(hold_after=None)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert held == 1
    assert [r["status"] for r in records(out)] == ["ok"] * 2
    assert peak_overlap(sandbox.stats()["calls"]) == 1


def test_a_photo_waiting_to_retry_keeps_its_slot(sandbox, cli_env, tmp_path):
    """At -j 1, a photo waiting out a Retry-After still holds the one slot: the next photo is
    not sent into the outage meanwhile (A, A's retry, B, B's retry). A red-team pass found the
    slot given back for the wait: new photos went out while earlier ones retried, 22 calls
    before the breaker opened where 12 had gone."""
    photos = make_photos(tmp_path / "p", 2)
    sandbox.configure(mode="error503", retry_after=1, hold_after=0)
    env = {**cli_env, "PLANTID_RETRIES": "1", "PLANTID_BREAKER_FAIL_MAX": "10"}
    proc = spawn(["identify", photos, "-j", "1", "-f", "ndjson", "-q"], env)
    wait_for(lambda: sandbox.stats()["plantid_identify"] == 1)
    locks = Path(cli_env["PLANTID_CACHE_DIR"]) / "locks"
    wait_for(lambda: _flocked_by(proc.pid, locks) == 2)  # B is ready, waiting for the slot
    sandbox.configure(hold_after=None)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 4, err
    calls = sandbox.stats()["calls"]
    order = [c["image_sha256"][0] for c in sorted(calls, key=lambda c: c["seq"])]
    assert len(order) == 4 and order[0] != order[2]
    assert order == [order[0], order[0], order[2], order[2]]
    assert [r["error"]["code"] for r in records(out)] == ["unavailable"] * 2


@pytest.mark.parametrize(("fault", "code"), [("auth", "auth"), ("credits", "credits")])
def test_what_another_answer_taught_stops_a_retry_waiting_its_turn(
    sandbox, cli_env, tmp_path, fault, code
):
    """At -j 2: A gets a 503 and waits 2 s to retry; meanwhile B is answered 401 (the key is
    rejected) or 429 (the credits are gone). A's retry is not sent: 2 calls in all. (Found by
    a red-team pass: only an open breaker stopped a retry; the key and the credits did not.)"""
    photos = make_photos(tmp_path / "p", 2)
    sandbox.configure(mode="error503", retry_after=2, hold_after=1)  # A answered, B held
    env = {**cli_env, "PLANTID_RETRIES": "1", "PLANTID_BREAKER_FAIL_MAX": "10"}
    proc = spawn(["identify", photos, "-j", "2", "-f", "ndjson", "-q", "--yes"], env)
    wait_for(lambda: sandbox.stats()["plantid_identify"] == 2)
    sandbox.configure(mode=fault, hold_after=None)  # B's answer: the key, or the credits
    out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0, err
    assert sandbox.stats()["plantid_identify"] == 2, err
    found = sorted(r["error"]["code"] for r in records(out))
    assert found == sorted([code, "unavailable"])
