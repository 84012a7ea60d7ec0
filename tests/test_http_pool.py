"""The run's HTTP pool never closes a connection under a request, and holds every request the
run may have out.

DEFECT (session 18, found at -j 400): httpcore's pool (1.0.9, encode/httpcore#1110) hands an
idle connection to a waiting request under its lock; the request's thread starts on it later,
and another thread's pass over the pool in between could still close it - past its keep-alive
expiry (5 s), or over the keep-alive count. Closed under a request already sent, the
service's 201 was charged and read `ReadError: [Errno 9] Bad file descriptor`, and the retry
bought the photo again: 1-8 photos in 400 at -j 400, in most runs. Correct: the pool keeps
every connection it may open and never expires one itself (providers/http.py).

DEFECT (same class): the run's pool was sized for one service's requests (-j + 2), so
`--provider both -j 4` had 6 connections for its 8 slots: two of them always waited for a
connection, and a pool that is full closes an idle connection of one service to open one
for the other - the same close under a request.

Counts, not clocks: the sandbox counts the TCP connections it accepted, and its call log says
how many requests were out at once.
"""

from __future__ import annotations

from conftest import run_plantid
from photos import green_photo
from runs import peak_overlap


def test_a_connection_idle_for_seconds_is_used_again_not_closed(cli_env, sandbox, tmp_path):
    photos = [green_photo(tmp_path / f"p{i}.jpg", (160, 120), seed=i) for i in range(2)]
    env = {**cli_env, "PLANTID_RATE_LIMIT": "1/6s"}  # 6 s between the two calls: past 5 s
    before = sandbox.stats()["connections"]
    result = run_plantid(["identify", *photos, "-j", "1", "-f", "ndjson"], env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert sandbox.stats()["plantid_identify"] == 2
    assert sandbox.stats()["connections"] - before == 1  # was 2: closed idle, opened again


def test_both_services_get_their_concurrency_each(cli_env, sandbox, tmp_path):
    sandbox.configure(latency_ms=200)  # every request out long enough to overlap
    photos = [green_photo(tmp_path / f"b{i}.jpg", (160, 120), seed=100 + i) for i in range(24)]
    before = sandbox.stats()["connections"]
    result = run_plantid(
        ["identify", *photos, "-j", "4", "--provider", "both", "-f", "ndjson"], cli_env,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    stats = sandbox.stats()
    assert (stats["plantid_identify"], stats["plantnet_identify"]) == (24, 24)
    kinds = ("plantid_identify", "plantnet_identify")
    calls = [c for c in stats["calls"] if c.get("kind") in kinds]
    assert peak_overlap(calls) == 8  # 4 to each service (was 6: the pool's size)
    assert stats["connections"] - before == 8
