"""A half-open breaker in a run of many photos: the run's own trial call holds back its other
photos, it does not refuse them.

DEFECT (red-team pass of session 16, older than the wire): at `-j 8`, once the circuit was due,
one photo took the probe lease and every other photo of the same run was refused at once
with "circuit half-open, another process is sending the trial call" - it was this process.
With the default success threshold of 2, closing the circuit then took a run per success,
and each run reported most of its photos as `circuit-open` though the service had recovered.
Correct: a photo that finds its own run's trial call out waits for its outcome (without a
slot on the wire: a request it is not sending), then goes the way the circuit went: closed,
the next trial, or open again.

Ordering, not clocks: the sandbox's call log says which call arrived after which one ended.
"""

from __future__ import annotations

import json
import re
import signal
import time

from conftest import run_plantid, spawn, wait_for
from photos import green_photo

OPEN_FAST = {
    "PLANTID_BREAKER_FAIL_MAX": "1",
    "PLANTID_BREAKER_RESET_TIMEOUT": "1",
    "PLANTID_RETRIES": "0",
}


def _open_then_recover(sandbox, env, tmp_path) -> None:
    sandbox.configure(mode="error500")
    opener = run_plantid(["identify", green_photo(tmp_path / "opener.jpg", (160, 120))], env)
    assert "closed -> open" in opener.stderr, opener.stderr
    sandbox.configure(mode=None, latency_ms=300)  # each trial call is out long enough
    time.sleep(1.2)  # past the reset timeout: the next call is the trial (a lower bound only)


def _identifications(sandbox) -> list[dict]:
    calls = [c for c in sandbox.stats()["calls"] if c.get("kind") == "plantid_identify"]
    return sorted(calls, key=lambda c: c["t_arrival"])


def test_the_runs_own_trial_call_holds_back_its_other_photos(cli_env, sandbox, tmp_path):
    env = {**cli_env, **OPEN_FAST}
    _open_then_recover(sandbox, env, tmp_path)
    before = len(_identifications(sandbox))
    photos = [green_photo(tmp_path / f"p{i}.jpg", (160, 120), seed=20 + i) for i in range(8)]
    result = run_plantid(["identify", *photos, "-j", "4", "-f", "ndjson"], env, timeout=120)
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["status"] for r in records] == ["ok"] * 8, result.stderr
    assert result.returncode == 0, result.stderr
    calls = _identifications(sandbox)[before:]
    assert len(calls) == 8
    # two trial calls (the default success threshold), one after the other, then the rest
    assert calls[1]["t_arrival"] >= calls[0]["t_end"]
    assert calls[2]["t_arrival"] >= calls[1]["t_end"]
    assert "half-open -> closed" in result.stderr, result.stderr


def test_a_failed_trial_refuses_the_photos_that_waited_for_it(cli_env, sandbox, tmp_path):
    env = {**cli_env, **OPEN_FAST}
    _open_then_recover(sandbox, env, tmp_path)
    sandbox.configure(mode="error500")  # still down: the trial fails
    before = len(_identifications(sandbox))
    photos = [green_photo(tmp_path / f"q{i}.jpg", (160, 120), seed=40 + i) for i in range(6)]
    result = run_plantid(["identify", *photos, "-j", "4", "-f", "ndjson"], env, timeout=120)
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 4, result.stderr
    assert len(_identifications(sandbox)[before:]) == 1  # the trial call only
    reasons = sorted(r["error"]["reason"] for r in records)
    assert reasons == ["circuit-open"] * 5 + ["http-500"], records
    said = " ".join(r["error"]["message"] for r in records)
    assert "another process" not in said and "half-open" not in said, said


def test_another_processs_trial_call_holds_back_a_run_started_meanwhile(cli_env, sandbox, tmp_path):
    # DEFECT (same class, across processes): a run that started while another process's trial
    # call was out reported every photo `circuit-open` at once (a 100,000-photo batch in a
    # second), though the trial was about to close the circuit
    env = {**cli_env, **OPEN_FAST}
    _open_then_recover(sandbox, env, tmp_path)
    sandbox.configure(latency_ms=0, hold_after=sandbox.stats()["plantid_identify"])  # the trial
    before = len(_identifications(sandbox))
    first = [green_photo(tmp_path / f"a{i}.jpg", (160, 120), seed=60 + i) for i in range(4)]
    second = [green_photo(tmp_path / f"b{i}.jpg", (160, 120), seed=70 + i) for i in range(4)]
    args = ["-j", "4", "-f", "ndjson"]
    prober = spawn(["identify", *first, *args], env)
    wait_for(lambda: any(c.get("held") for c in _identifications(sandbox)))
    asked = sandbox.stats()["plantid_usage"]
    late = spawn(["identify", *second, *args], env)
    wait_for(lambda: sandbox.stats()["plantid_usage"] > asked)  # the late run has started
    time.sleep(1.0)  # for it to reach its photos' checks (a lower bound only)
    sandbox.configure(hold_after=None)  # the trial is answered
    outputs = [process.communicate(timeout=120) for process in (prober, late)]
    for process, (out, err) in zip((prober, late), outputs, strict=True):
        assert process.returncode == 0, err
        assert [json.loads(line)["status"] for line in out.splitlines()] == ["ok"] * 4, err
    # the late run says, once, why it sits silent; the prober's own trial needs no such line
    waits = [line for line in outputs[1][1].splitlines() if "photos wait for its outcome" in line]
    assert len(waits) == 1, outputs[1][1]
    assert re.fullmatch(
        r"plantid: warning: \[CIRCUIT\] plantid half-open: another process is sending the trial"
        r" call; this run's photos wait for its outcome \(until \d\d:\d\d:\d\d at most\)",
        waits[0],
    ), waits
    assert "photos wait for its outcome" not in outputs[0][1]
    calls = _identifications(sandbox)[before:]
    assert len(calls) == 8
    trial = calls[0]
    assert all(call["t_arrival"] >= trial["t_end"] for call in calls[1:])
    assert calls[2]["t_arrival"] >= calls[1]["t_end"]  # the second trial, then the rest


def test_a_stop_while_photos_wait_for_the_trial_ends_them_unsent(cli_env, sandbox, tmp_path):
    # DEFECT (red team, session 17): after SIGTERM or Ctrl-C the photos waiting for their run's
    # trial call looped without a pause (more than a core, reading the breaker's row) until the
    # trial ended, and were then reported `circuit-open` when it failed. Correct: a stop ends
    # them as photos not begun: no record, nothing sent, the next run asks for them.
    env = {**cli_env, **OPEN_FAST}
    _open_then_recover(sandbox, env, tmp_path)
    sandbox.configure(latency_ms=0, hold_after=sandbox.stats()["plantid_identify"])  # the trial
    before = len(_identifications(sandbox))
    photos = [green_photo(tmp_path / f"s{i}.jpg", (160, 120), seed=90 + i) for i in range(6)]
    run = spawn(["identify", *photos, "-j", "4", "-f", "ndjson"], env)
    wait_for(lambda: any(c.get("held") for c in _identifications(sandbox)))
    time.sleep(1.0)  # for the others to reach their checks (a lower bound only)
    run.send_signal(signal.SIGTERM)
    time.sleep(1.0)  # for them to see the stop while the trial is still out (a lower bound)
    sandbox.configure(mode="error500", hold_after=None)  # the trial fails
    out, err = run.communicate(timeout=120)
    assert run.returncode == 143, err
    assert "Traceback" not in err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["error"]["reason"] for r in records] == ["http-500"], records
    assert len(_identifications(sandbox)) - before == 1
