"""Red team: an outage declared by one process, retried into by another.

DEFECT (a storm the breaker does not stop): the breaker counts one failure per guarded call,
*after* that call's retries, and the retry loop never looked at it again. A photo admitted
while the circuit was closed went on retrying into the outage after any process (or this one,
`-j 8`: `[RETRY] attempt 3` lines after `closed -> open`) had opened the circuit; with N
processes each of their photos in flight keeps its whole retry budget. Correct: a retry
attempt starts only while the circuit is not open (an open breaker is an outage already
declared); the photo keeps its last error (`http-503`). Retries themselves still work while
the circuit is closed (pinned).

Ordering, not clocks: the sandbox holds every call's arrival and end; the test asserts on
what arrived after the breaker opened.
"""

from __future__ import annotations

import json

from conftest import run_plantid, spawn, wait_for
from photos import green_photo


def _calls_for(sandbox, digest: str) -> list[dict]:
    return [c for c in sandbox.stats()["calls"] if digest in c["image_sha256"]]


def test_an_open_breaker_stops_the_retries_another_process_has_in_flight(
    cli_env, sandbox, tmp_path
):
    # every call a 503 asking for 8 s: the retrying process sits in its wait while another
    # process's failures open the shared breaker
    sandbox.configure(mode="error503", retry_after=8)
    waiting = green_photo(tmp_path / "waiting.jpg", (160, 120), seed=1)
    retrier = spawn(["identify", waiting, "-f", "ndjson"], {**cli_env, "PLANTID_RETRIES": "2"})
    [call] = wait_for(lambda: sandbox.stats()["calls"])  # its first attempt; it waits 8 s now
    digest = call["image_sha256"][0]  # of the upload (resized), not of the file
    others = [green_photo(tmp_path / f"o{i}.jpg", (160, 120), seed=10 + i) for i in range(3)]
    opener = run_plantid(["identify", *others, "-j", "3"], cli_env)
    assert "closed -> open" in opener.stderr, opener.stderr
    opened_at = max(c["t_end"] for c in sandbox.stats()["calls"] if digest not in c["image_sha256"])
    stdout, stderr = retrier.communicate(timeout=300)
    [record] = [json.loads(line) for line in stdout.splitlines()]
    assert record["status"] == "error" and "503" in record["error"]["message"], stderr
    first = _calls_for(sandbox, digest)[0]
    assert first["t_arrival"] < opened_at  # the order this test is about (else no test)
    late = [c for c in _calls_for(sandbox, digest) if c["t_arrival"] > opened_at]
    assert late == [], f"{len(late)} retries arrived after the breaker opened"


def test_retries_still_happen_while_the_breaker_is_closed(cli_env, sandbox, tmp_path):
    sandbox.configure(mode="error503", retry_after=0.2)
    photo = green_photo(tmp_path / "leaf.jpg", (160, 120))
    result = run_plantid(["identify", photo], {**cli_env, "PLANTID_RETRIES": "2"})
    assert result.returncode == 4, result.stderr
    assert sandbox.stats()["plantid_identify"] == 3
