"""SharedBreaker: in-process rules, plus the cross-process scenario with real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from conftest import wait_for  # noqa: E402
from guard_worker import run_workers  # noqa: E402

from plantid_cli.errors import (  # noqa: E402
    AuthError,
    BadResponse,
    CircuitOpenError,
    CreditsExhausted,
    ImageError,
    RequestRejected,
    UpstreamTimeout,
)
from plantid_cli.guards.breaker.shared import SharedBreaker  # noqa: E402
from plantid_cli.guards.disk.state import SharedState  # noqa: E402


def make(tmp_path: Path, **kw) -> tuple[SharedBreaker, list[tuple]]:
    changes: list[tuple] = []
    kw.setdefault("reset_timeout", 0.3)
    breaker = SharedBreaker(
        SharedState(tmp_path / "state.sqlite3"),
        "plantid",
        on_change=lambda *a: changes.append(a),
        **kw,
    )
    return breaker, changes


def raiser(exc: BaseException):
    def fn():
        raise exc

    return fn


def read_counter(path: Path) -> int:
    # a worker may be between truncating and writing the file: empty reads as "not yet"
    text = path.read_text().strip() if path.exists() else ""
    return int(text) if text else 0


def test_trip_returns_original_exception_then_open(tmp_path):
    # a reset timeout no stall of a loaded machine can outlast between the trip and the refusal
    breaker, changes = make(tmp_path, reset_timeout=60)
    for _ in range(2):
        with pytest.raises(UpstreamTimeout):
            breaker.call(raiser(UpstreamTimeout("slow")))
    before = time.time()
    with pytest.raises(BadResponse):  # third failure trips: still the original exception
        breaker.call(raiser(BadResponse("junk")))
    calls = []
    with pytest.raises(CircuitOpenError) as info:
        breaker.call(lambda: calls.append(1))
    after = time.time()
    assert changes == [("plantid", "closed", "open", 3)]
    assert calls == []
    assert before + 60 <= info.value.retry_at <= after + 60  # opened by the third failure
    with pytest.raises(CircuitOpenError):
        breaker.check()
    status = breaker.status()
    assert status["state"] == "open" and status["failures"] == 3
    assert status["opened_at"] and status["next_try"]


def test_excluded_errors_do_not_count(tmp_path):
    breaker, changes = make(tmp_path)
    for exc in (
        AuthError("bad key"),
        RequestRejected("413"),
        CreditsExhausted("429"),
        ImageError("empty", "empty file"),
        KeyError("bug"),
    ):
        with pytest.raises(UpstreamTimeout):
            breaker.call(raiser(UpstreamTimeout("x")))
        with pytest.raises(UpstreamTimeout):
            breaker.call(raiser(UpstreamTimeout("x")))
        with pytest.raises(type(exc)):
            breaker.call(raiser(exc))
        assert breaker.status()["state"] == "closed", exc
        breaker.reset()
    assert changes == []


def test_answered_error_resets_consecutive_failures_neutral_does_not(tmp_path):
    breaker, _ = make(tmp_path)
    with pytest.raises(UpstreamTimeout):
        breaker.call(raiser(UpstreamTimeout("x")))
    with pytest.raises(ImageError):  # neutral: says nothing about the service
        breaker.call(raiser(ImageError("empty", "x")))
    assert breaker.status()["failures"] == 1
    with pytest.raises(AuthError):  # the service answered: consecutive failures restart
        breaker.call(raiser(AuthError("x")))
    assert breaker.status()["failures"] == 0


def test_half_open_success_threshold_and_failed_probe(tmp_path):
    breaker, changes = make(tmp_path, reset_timeout=0.2, success_threshold=2)
    for _ in range(3):
        with pytest.raises(UpstreamTimeout):
            breaker.call(raiser(UpstreamTimeout("x")))
    time.sleep(0.25)
    breaker.check()  # due: the caller may probe
    # a neutral error during the probe leaves the circuit half-open and frees the lease
    with pytest.raises(ImageError):
        breaker.call(raiser(ImageError("empty", "x")))
    assert breaker.status()["state"] == "half-open"
    assert breaker.call(lambda: "a") == "a"
    assert breaker.status()["state"] == "half-open"
    assert breaker.status()["successes"] == 1
    with pytest.raises(UpstreamTimeout):  # failed trial call: open again, original exception
        breaker.call(raiser(UpstreamTimeout("x")))
    assert breaker.status()["state"] == "open"
    time.sleep(0.25)
    assert breaker.call(lambda: 1) == 1
    assert breaker.call(lambda: 2) == 2
    assert breaker.status()["state"] == "closed"
    assert [c[1:3] for c in changes] == [
        ("closed", "open"),
        ("open", "half-open"),
        ("half-open", "open"),
        ("open", "half-open"),
        ("half-open", "closed"),
    ]


def test_reset(tmp_path):
    breaker, changes = make(tmp_path)
    for _ in range(3):
        with pytest.raises(UpstreamTimeout):
            breaker.call(raiser(UpstreamTimeout("x")))
    breaker.reset()
    assert breaker.status() == {
        "state": "closed",
        "failures": 0,
        "opened_at": None,
        "next_try": None,
        "successes": 0,
        "probe_in_flight": False,
        "probe_due": False,
    }
    assert changes[-1][1:3] == ("open", "closed")
    assert breaker.call(lambda: 5) == 5


def test_check_does_not_import_pybreaker(tmp_path):
    breaker, _ = make(tmp_path, reset_timeout=60)
    for _ in range(3):
        with pytest.raises(UpstreamTimeout):
            breaker.call(raiser(UpstreamTimeout("x")))
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from plantid_cli.guards.disk.state import SharedState\n"
        "from plantid_cli.guards.breaker.shared import SharedBreaker\n"
        "import plantid_cli.guards.disk.cache, plantid_cli.guards.disk.ratelimit\n"
        "import plantid_cli.guards.disk.credits, plantid_cli.guards.disk.lock\n"
        "from plantid_cli.errors import CircuitOpenError\n"
        f"b = SharedBreaker(SharedState(Path({str(tmp_path / 'state.sqlite3')!r})), 'plantid')\n"
        "try:\n"
        "    b.call(lambda: 1)\n"
        "except CircuitOpenError:\n"
        "    pass\n"
        "else:\n"
        "    raise SystemExit('not refused')\n"
        "b.status()\n"
        "heavy = [m for m in ('pybreaker', 'portalocker', 'httpx', 'redis') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        check=True,
    ).stdout.split()
    assert out == ["[]"]  # how fast the refusal is: benchmarks/run.py (breaker-refusal)


def test_cross_process_scenario(tmp_path):
    state = str(tmp_path / "state.sqlite3")
    counter = tmp_path / "calls"

    def job(action: str, reset: str = "1.0") -> list[str]:
        return ["breaker", state, action, str(counter), reset]

    # 1. three processes, one failure each -> open (exactly one of them logs the transition)
    results = run_workers(tmp_path, [job("fail") for _ in range(3)])
    assert sorted(r.split()[0] for r in results) == ["UpstreamTimeout"] * 3
    assert sum("closed->open" in r for r in results) == 1
    assert read_counter(counter) == 3
    breaker, _ = make(tmp_path, reset_timeout=1.0)
    assert breaker.status()["state"] == "open"
    opened = time.time()

    # 2. a fourth process: check() refuses, call() refuses, no call made
    # (a long reset_timeout here, so a slow, loaded machine cannot make the breaker due)
    assert run_workers(tmp_path, [job("check", "60"), job("ok", "60")]) == ["refused", "refused"]
    assert read_counter(counter) == 3

    # 3. after reset_timeout, six racing processes -> exactly one probe call
    time.sleep(max(0.0, opened + 1.05 - time.time()))
    results = run_workers(tmp_path, [job("probe") for _ in range(6)])
    assert sorted(r.split()[0] for r in results) == ["ok"] + ["refused"] * 5
    assert read_counter(counter) == 4
    status = breaker.status()
    assert status["state"] == "half-open" and status["successes"] == 1
    assert not status["probe_in_flight"]

    # 4. second successful probe (success_threshold=2) -> closed
    results = run_workers(tmp_path, [job("ok")])
    assert results == ["ok half-open->closed"]
    assert breaker.status()["state"] == "closed"
    assert read_counter(counter) == 5

    # 5. credits / auth errors raised inside call() never count as failures
    results = run_workers(tmp_path, [job("credits"), job("auth"), job("credits"), job("auth")])
    assert sorted(results) == ["AuthError", "AuthError", "CreditsExhausted", "CreditsExhausted"]
    assert breaker.status()["state"] == "closed"
    assert breaker.status()["failures"] == 0


def test_probe_holder_killed_frees_the_lease(tmp_path):
    """kill -9 of the half-open prober must not block probes until the lease expires."""
    breaker, _ = make(tmp_path, reset_timeout=0.1)
    for _ in range(3):
        with pytest.raises(UpstreamTimeout):
            breaker.call(raiser(UpstreamTimeout("x")))
    time.sleep(0.15)
    worker = ROOT / "tests" / "guard_worker.py"
    go = tmp_path / "go"
    go.touch()
    counter = tmp_path / "calls"
    proc = subprocess.Popen(
        [sys.executable, str(worker), "breaker", str(go)]
        + [str(tmp_path / "state.sqlite3"), "hang", str(counter), "0.1"],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        wait_for(lambda: read_counter(counter) > 0)  # the probe call is running
        assert breaker.status()["probe_in_flight"]
        with pytest.raises(CircuitOpenError):
            breaker.check()
        with pytest.raises(CircuitOpenError):
            breaker.call(lambda: 1)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not breaker.status()["probe_in_flight"]
    breaker.check()
    assert breaker.call(lambda: "probe") == "probe"


def test_status_says_when_the_next_call_is_the_trial(tmp_path):
    breaker, _ = make(tmp_path, reset_timeout=0.2)
    for _ in range(3):
        with pytest.raises(UpstreamTimeout):
            breaker.call(raiser(UpstreamTimeout("x")))
    assert breaker.status()["probe_due"] is False  # open, reset timeout still running
    time.sleep(0.25)
    assert breaker.status()["state"] == "open" and breaker.status()["probe_due"] is True


def test_calls_on_a_closed_circuit_take_no_write_lock(tmp_path):
    """Issue 17: every call of a healthy run took the state file's write lock twice (the
    admission and the success's counter reset) though neither changed anything; -j 8 queued
    on it. A closed circuit's calls only read; a failure still writes, and the success after
    it resets the count (one write each)."""
    breaker, _ = make(tmp_path, fail_max=3)
    store = breaker.store
    updates: list[str] = []
    real_update = store.update

    def counting_update(fn):
        updates.append("update")
        return real_update(fn)

    store.update = counting_update  # type: ignore[method-assign]
    assert [breaker.call(lambda: "ok") for _ in range(5)] == ["ok"] * 5
    assert updates == []
    with pytest.raises(UpstreamTimeout):
        breaker.call(raiser(UpstreamTimeout("slow")))
    assert breaker.status()["failures"] == 1
    assert breaker.call(lambda: "ok") == "ok"
    assert breaker.status()["failures"] == 0
    assert len(updates) == 2


def test_a_closed_circuits_call_reads_its_row_twice_and_imports_no_pybreaker(tmp_path):
    """Issue 17: a healthy call read the breaker row six times (the admission, then pybreaker's
    state, its closed state's call and the counter reset) and imported pybreaker (~12 ms in
    front of a run's first upload). Now: the admission and the success's reset, nothing else."""
    code = """
import sys
from pathlib import Path
from plantid_cli.guards.breaker.shared import SharedBreaker
from plantid_cli.guards.disk.state import SharedState
breaker = SharedBreaker(SharedState(Path(sys.argv[1])), "plantid")
reads = []
real = breaker.store.read
breaker.store.read = lambda: reads.append(1) or real()
assert [breaker.call(lambda: n) for n in range(3)] == [0, 1, 2]
print(len(reads), "pybreaker" in sys.modules)
"""
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "state.sqlite3")],
        capture_output=True, text=True, cwd=ROOT, check=True,
    ).stdout.split()  # fmt: skip
    assert out == ["6", "False"]


def test_a_failure_that_lands_after_another_process_opened_the_circuit_is_not_counted(tmp_path):
    """The closed circuit's call replays its failure through pybreaker; by then another
    process (here a second breaker on the same file) has tripped the circuit: the caller gets
    its own error, the count stays the one that opened it, and only the opener says so."""
    mine, my_changes = make(tmp_path, reset_timeout=60)
    other, other_changes = make(tmp_path, reset_timeout=60)

    def fails_after_the_other_trips():
        for _ in range(3):
            with pytest.raises(UpstreamTimeout):
                other.call(raiser(UpstreamTimeout("slow")))
        raise BadResponse("junk")

    with pytest.raises(BadResponse):
        mine.call(fails_after_the_other_trips)
    assert other_changes == [("plantid", "closed", "open", 3)]
    assert my_changes == []
    status = mine.status()
    assert status["state"] == "open" and status["failures"] == 3
    with pytest.raises(CircuitOpenError):
        mine.call(lambda: pytest.fail("sent through an open circuit"))


def test_a_counted_failure_keeps_the_traceback_of_the_call_that_failed(tmp_path):
    """The failure is replayed through pybreaker to be counted; the error the caller gets (what
    --debug prints) must not carry the replay's frames, which read as if the call had been
    made from inside pybreaker."""
    import traceback

    breaker, _ = make(tmp_path)

    def send_photo():
        raise UpstreamTimeout("slow")

    with pytest.raises(UpstreamTimeout) as info:
        breaker.call(send_photo)
    frames = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert frames[-1] == "send_photo"
    assert "replay" not in frames and frames.count("send_photo") == 1
    assert breaker.status()["failures"] == 1


def test_a_trial_call_of_this_breaker_makes_the_others_wait_not_refuse(tmp_path):
    import threading

    from plantid_cli.errors import ProbeInFlight

    breaker, _ = make(tmp_path, fail_max=1, reset_timeout=0.2, success_threshold=1)
    with pytest.raises(UpstreamTimeout):
        breaker.call(raiser(UpstreamTimeout("x")))
    time.sleep(0.25)  # due (a lower bound only)
    inside, release = threading.Event(), threading.Event()

    def trial():
        inside.set()
        release.wait(60)
        return "answer"

    results = []
    prober = threading.Thread(target=lambda: results.append(breaker.call(trial)))
    prober.start()
    inside.wait(60)
    with pytest.raises(ProbeInFlight):  # this breaker's own trial: wait for it
        breaker.check()
    with pytest.raises(ProbeInFlight):
        breaker.call(lambda: "sent")
    # another breaker on the same state (another run of the Python API, another process) is
    # told whose trial it is, and waits for it by reading the lease again
    other = SharedBreaker(SharedState(tmp_path / "state.sqlite3"), "plantid", reset_timeout=0.2)
    with pytest.raises(ProbeInFlight) as refused:
        other.check()
    assert "this process is sending the trial call" in str(refused.value)
    waiters = [threading.Thread(target=b.wait_for_probe, args=(threading.Event(),))
               for b in (breaker, other)]  # fmt: skip
    for waiter in waiters:
        waiter.start()
    for waiter in waiters:
        waiter.join(0.5)
    assert all(waiter.is_alive() for waiter in waiters)  # still out: they wait
    release.set()
    for waiter in waiters:
        waiter.join(60)
    prober.join(60)
    assert not any(waiter.is_alive() for waiter in waiters) and results == ["answer"]
    assert breaker.status()["state"] == "closed"
    breaker.check()  # nothing refuses now
    assert breaker.call(lambda: "sent") == "sent"
