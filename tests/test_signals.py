"""SIGTERM and Ctrl-C: the first stops (no new request, answers in flight stored, output closed
validly, exit 128 + signal), waits are interruptible, the second signal aborts at once.

Real `plantid` processes against the test's sandbox; every assertion is on exit codes, output
and the sandbox's call log. Subprocess timeouts are hang protection only.
"""

from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
import time

import pytest
from conftest import run_plantid, spawn
from runs import make_photos, records


def wait_until(predicate, what, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def calls(sandbox):
    return sandbox.stats()["calls"]


def read_until(stream, text):
    """Lines of `stream` up to the first holding `text` (hang protection: the caller's timeout)."""
    lines = []
    for line in iter(stream.readline, ""):
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"{text!r} never appeared in {lines}")


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_sigterm_stores_answers_in_flight_closes_the_output_and_exits_143(
    sandbox, cli_env, tmp_path, fmt
):
    photos = make_photos(tmp_path / "p", 8)
    sandbox.configure(latency_ms=2500)
    proc = spawn(["identify", photos, "-j", "4", "-f", fmt], cli_env)
    wait_until(lambda: len(calls(sandbox)) == 4, "four calls in flight")
    assert all(call["status"] is None for call in calls(sandbox))  # none answered yet
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "Traceback" not in err and "(interrupted)" in err  # the summary line
    if fmt == "json":
        found = json.loads(out)  # a complete array
    else:
        found = list(csv.DictReader(io.StringIO(out)))
        assert out.endswith("\n")
    assert len(found) == 4 and all(r["status"] == "ok" for r in found)
    assert len(calls(sandbox)) == 4  # nothing new started after the signal

    sandbox.reset()
    sandbox.configure(latency_ms=0)
    rerun = run_plantid(["identify", photos, "-f", "ndjson", "-q"], cli_env)
    assert rerun.returncode == 0, rerun.stderr
    again = records(rerun.stdout)
    assert len(again) == 8 and sum(r["cached"] for r in again) == 4
    assert len(calls(sandbox)) == 4  # the answers that were in flight were not paid again


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_during_a_retry_after_wait_sends_nothing_more(sandbox, cli_env, tmp_path, signum):
    photos = make_photos(tmp_path / "p", 1)
    sandbox.configure(mode="error503", retry_after=50)
    env = {**cli_env, "PLANTID_RETRIES": "2"}
    proc = spawn(["identify", photos, "-f", "ndjson"], env)
    wait_until(lambda: [c["status"] for c in calls(sandbox)] == [503], "the first 503")
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err
    assert len(calls(sandbox)) == 1  # no retry after the signal
    assert [r["error"]["code"] for r in records(out)] == ["unavailable"]


def test_retry_after_beyond_what_the_photo_may_wait_fails_that_photo_now(
    sandbox, cli_env, tmp_path
):
    photos = make_photos(tmp_path / "p", 1)
    sandbox.configure(mode="error503", retry_after=600)
    env = {**cli_env, "PLANTID_RETRIES": "2"}
    result = run_plantid(["identify", photos, "-f", "ndjson", "-q"], env, timeout=30)
    assert result.returncode == 4, result.stderr
    assert [r["error"]["code"] for r in records(result.stdout)] == ["unavailable"]
    assert len(calls(sandbox)) == 1  # not retried 600 s later, nor early against its wish


@pytest.mark.parametrize("second", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_second_signal_aborts_a_hung_request_at_once(sandbox, cli_env, tmp_path, second):
    photos = make_photos(tmp_path / "p", 3)
    sandbox.configure(mode="hang", hang_seconds=300)
    env = {**cli_env, "PLANTID_TIMEOUT": "250"}
    proc = spawn(["identify", photos, "-j", "2", "-f", "json"], env)
    wait_until(lambda: len(calls(sandbox)) == 2, "two hung calls")
    proc.send_signal(signal.SIGINT)
    read_until(proc.stderr, "stopping")
    proc.send_signal(second)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + second, err
    assert "Traceback" not in err and "aborted" in err
    assert json.loads(out) == []  # closed validly, with the nothing that was answered
    assert len(calls(sandbox)) == 2  # the third photo was never sent


def test_rate_limit_wait_is_interrupted_by_the_first_signal(sandbox, cli_env, tmp_path):
    photos = make_photos(tmp_path / "p", 3)
    env = {**cli_env, "PLANTID_RATE_LIMIT": "1/minute"}
    proc = spawn(["identify", photos, "-j", "2", "-f", "ndjson", "-v"], env)
    wait_until(lambda: [c["status"] for c in calls(sandbox)] == [201], "the first answer")
    read_until(proc.stderr, "[RATE]")  # the second photo waits about a minute for its slot
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert len(calls(sandbox)) == 1
    assert [r["status"] for r in records(out)] == ["ok"]  # the stopped ones have no record


def test_sandbox_server_stops_cleanly_on_sigterm(cli_env):
    import re
    import socket

    proc = spawn(["sandbox", "--port", "0", "--mode", "hang"], cli_env)
    line = read_until(proc.stderr, "listening on")[-1]
    port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))
    with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
        client.sendall(
            b"POST /api/v3/identification HTTP/1.1\r\nHost: x\r\nApi-Key: k\r\n"
            b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        )
        time.sleep(0.3)  # let the request reach its hang (no assertion rests on this)
        proc.send_signal(signal.SIGTERM)
        assert client.recv(1024) == b""  # the hanging call was woken and dropped
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_sigterm_ends_a_run_reading_paths_from_a_stdin_that_stays_open(sandbox, cli_env, tmp_path):
    """`tail -f list | plantid identify -`: the stop must not wait for the next line."""
    photos = sorted(make_photos(tmp_path / "p", 2).iterdir())
    proc = spawn(["identify", "-", "-f", "ndjson"], cli_env, stdin=subprocess.PIPE)
    proc.stdin.write("".join(f"{path}\n" for path in photos))
    proc.stdin.flush()  # and left open: more paths might come
    wait_until(lambda: [c["status"] for c in calls(sandbox)] == [201, 201], "two answers")
    read_until(proc.stdout, '"index": 1')  # both records written
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=30)
    finally:
        proc.stdin.close()
    err = proc.stderr.read()
    assert code == 143, err
    assert "Traceback" not in err and "Fatal" not in err and "(interrupted)" in err
    assert len(calls(sandbox)) == 2
