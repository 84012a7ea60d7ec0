"""Single flight never gives up before the holder's call does: real processes, one sandbox.

A first process takes the locks of M photos and has its calls in flight; N more processes then
ask for the same photos. Whatever `lock_timeout` says, they wait for the holder's answer (then
serve it from the cache) or for the holder to fail (then the breaker it opened refuses them):
the sandbox sees exactly M calls.
"""

from __future__ import annotations

import json
import signal
import time

import pytest
from conftest import spawn
from test_redis_fleet import machine, redis_server  # noqa: F401 (a fixture)

from plantid_cli.config import Settings
from plantid_cli.constants import SETTLE_SECONDS
from plantid_cli.guards.provider_guards import DEADLINE_SLACK, RETRY_AFTER_CAP, deadlines

PHOTOS = 4
WAITERS = 3


def make_photos(folder, count):
    """`count` distinct green JPEGs, each of its own size (so the call log tells them apart)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.new("RGB", (40 + i, 30), (40 + 10 * i, 170, 60)).save(folder / f"p{i}.jpg")
    return folder


def wait_for_calls(sandbox, count, timeout=60.0):
    """Hang protection only: returns once the sandbox has seen `count` identification calls."""
    deadline = time.monotonic() + timeout
    while len(sandbox.stats()["calls"]) < count:
        assert time.monotonic() < deadline, "the first process never sent its calls"
        time.sleep(0.05)


def run_fleet(sandbox, env, photos, waiter_env=None):
    """The holder first (until its M calls are in flight), then the waiters: their outputs."""
    args = ["identify", photos, "-j", str(PHOTOS), "-f", "ndjson", "-q"]
    holder = spawn(args, env)
    wait_for_calls(sandbox, PHOTOS)
    waiters = [spawn(args, waiter_env or env) for _ in range(WAITERS)]
    results = []
    for proc in [holder, *waiters]:
        out, err = proc.communicate(timeout=120)
        assert "Traceback" not in err and "internal error" not in err, err
        results.append((proc.returncode, [json.loads(line) for line in out.splitlines()], err))
    return results


@pytest.mark.parametrize("lock_timeout", [None, "0.5"], ids=["unset", "shorter-than-call"])
def test_waiters_outlast_a_slow_answer_and_nobody_pays_twice(
    sandbox, cli_env, tmp_path, lock_timeout
):
    photos = make_photos(tmp_path / "p", PHOTOS)
    sandbox.configure(latency_ms=5000)  # far longer than the waiters' lock_timeout
    env = {**cli_env, "PLANTID_TIMEOUT": "20"}
    if lock_timeout is not None:
        env["PLANTID_LOCK_TIMEOUT"] = lock_timeout  # raised to the call budget (20 s + slack)
    results = run_fleet(sandbox, env, photos)
    assert sandbox.stats()["plantid_identify"] == PHOTOS
    sizes = sorted(tuple(call["image_sizes"][0]) for call in sandbox.stats()["calls"])
    assert sizes == [(40 + i, 30) for i in range(PHOTOS)]  # each photo exactly once
    for code, records, err in results:
        assert code == 0, err
        assert len(records) == PHOTOS and all(r["status"] == "ok" for r in records)
    assert sum(r["cached"] for _, records, _ in results for r in records) == WAITERS * PHOTOS


def test_waiters_on_another_machine_outlast_a_slow_answer_through_redis(
    sandbox,
    cli_env,
    tmp_path,
    redis_server,  # noqa: F811 (the imported fixture)
):
    """Two cache folders (two machines): only the Redis lock, renewed by its holder while its
    call is in flight, keeps the second machine from paying again."""
    photos = make_photos(tmp_path / "p", PHOTOS)
    sandbox.configure(latency_ms=5000)
    env = {**cli_env, "PLANTID_TIMEOUT": "20", "PLANTID_LOCK_TIMEOUT": "0.5"}
    holder, waiter = (machine(env, tmp_path, name, redis_server.url) for name in ("m1", "m2"))
    results = run_fleet(sandbox, holder, photos, waiter)
    assert sandbox.stats()["plantid_identify"] == PHOTOS
    for code, records, err in results:
        assert code == 0, err
        assert "[REDIS]" not in err
        assert [r["status"] for r in records] == ["ok"] * PHOTOS
    assert sum(r["cached"] for _, records, _ in results for r in records) == WAITERS * PHOTOS


def test_waiters_during_a_hang_wait_for_the_holder_to_fail_and_send_nothing(
    sandbox, cli_env, tmp_path
):
    photos = make_photos(tmp_path / "p", PHOTOS)
    sandbox.configure(mode="hang", hang_seconds=120)
    env = {
        **cli_env,
        "PLANTID_TIMEOUT": "8",
        "PLANTID_LOCK_TIMEOUT": "0.5",
        "PLANTID_BREAKER_FAIL_MAX": "1",  # the holder's first timeout opens the breaker
    }
    results = run_fleet(sandbox, env, photos)
    assert sandbox.stats()["plantid_identify"] == PHOTOS
    for code, records, err in results:
        assert code == 4, err
        assert len(records) == PHOTOS
        assert {r["error"]["code"] for r in records} == {"unavailable"}
    holder_reasons = {r["error"]["reason"] for r in results[0][1]}
    assert holder_reasons == {"timeout"}
    waiter_reasons = {r["error"]["reason"] for _, records, _ in results[1:] for r in records}
    assert waiter_reasons == {"circuit-open"}


def test_every_wait_bound_is_derived_from_timeout_retries_and_the_caps():
    settings = Settings(timeout=10.0, retries=2)
    bounds = deadlines(settings)
    # three attempts of 10 s (each with its settle bound after the deadline), and two waits
    # between them of at most the Retry-After cap
    assert bounds.call == 3 * (10.0 + SETTLE_SECONDS) + 2 * RETRY_AFTER_CAP
    # a photo's lock is held through its wait for a free slot of the run (one other photo's
    # call at most) and its own call, and through the waits for its run's breaker trials
    # (one per success the circuit needs, then a slot again); the probe lease is taken once
    # it has its slot
    assert settings.breaker_success_threshold == 2
    assert bounds.held == 6 * bounds.call
    assert deadlines(Settings(timeout=10.0, retries=2, breaker_success_threshold=1)).held == (
        4 * bounds.call
    )
    assert bounds.probe_lease == bounds.call + DEADLINE_SLACK
    assert bounds.lock_wait is None  # unset: wait for the holder's answer or death
    assert deadlines(Settings(timeout=10.0, retries=2, lock_timeout=1.0)).lock_wait == (
        bounds.held + DEADLINE_SLACK
    )
    assert deadlines(Settings(timeout=10.0, retries=2, lock_timeout=2000.0)).lock_wait == 2000.0
    assert deadlines(Settings(timeout=10.0, retries=0)).call == 10.0 + SETTLE_SECONDS


def test_sigterm_ends_a_wait_for_another_process_without_a_call(sandbox, cli_env, tmp_path):
    photos = make_photos(tmp_path / "p", PHOTOS)
    sandbox.configure(mode="hang", hang_seconds=300)
    env = {**cli_env, "PLANTID_TIMEOUT": "250"}
    args = ["identify", photos, "-j", str(PHOTOS), "-f", "json", "-q"]
    holder = spawn(args, env)
    try:
        wait_for_calls(sandbox, PHOTOS)
        waiter = spawn([*args, "-vv"], env)
        prepared = 0
        while prepared < PHOTOS:  # every photo prepared: its thread goes on to the lock wait
            line = waiter.stderr.readline()
            assert line, "the waiter ended early"
            prepared += "image.prepared" in line
        time.sleep(0.5)  # into the wait (a thread not there yet stops before it: no call either)
        waiter.send_signal(signal.SIGTERM)
        out, err = waiter.communicate(timeout=30)
        assert waiter.returncode == 143, err
        assert json.loads(out) == []  # nothing answered, nothing begun, output still valid
        assert sandbox.stats()["plantid_identify"] == PHOTOS  # the waiter sent nothing
    finally:
        holder.kill()
        holder.communicate(timeout=30)
