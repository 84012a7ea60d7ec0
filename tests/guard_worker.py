"""Helper process for the guard tests: one real `plantid`-like process per invocation.

    python tests/guard_worker.py MODE GO_FILE ARGS...

Every mode imports what it needs, prints "ready", waits until GO_FILE exists (a start barrier
set by the test once all workers are ready), does its work and prints one result line.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from plantid_cli.errors import (  # noqa: E402
    AuthError,
    CircuitOpenError,
    CreditsExhausted,
    UpstreamTimeout,
)
from plantid_cli.guards.disk.state import SharedState  # noqa: E402


def bump(counter: Path) -> int:
    """Increment the integer in `counter` under an exclusive flock; return the new value."""
    fd = os.open(counter, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        raw = os.read(fd, 64).decode() or "0"
        value = int(raw) + 1
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, str(value).encode())
        return value
    finally:
        os.close(fd)


def barrier(go: Path) -> None:
    print("ready", flush=True)
    deadline = time.monotonic() + 30
    while not go.exists():
        if time.monotonic() > deadline:
            raise SystemExit("barrier timeout")
        time.sleep(0.002)


def mode_flight(go: Path, cache_dir: str, counter: str) -> str:
    import portalocker  # noqa: F401  (pre-import so the race starts after import costs)

    from plantid_cli.guards.disk.cache import ResultCache, cache_key
    from plantid_cli.guards.disk.lock import single_flight

    base = Path(cache_dir)
    cache = ResultCache(base / "results")
    key = cache_key("plantid", "v3", "0" * 64, {"organs": ["leaf"]})
    barrier(go)
    if cache.get(key) is not None:
        return "cached"
    with single_flight(base / "locks", key, timeout=10.0) as flight:
        if not flight.acquired:
            return "timeout"
        if cache.get(key) is not None:
            return "cached"
        bump(Path(counter))
        time.sleep(0.5)
        cache.set(key, {"species": "Bellis perennis", "by": os.getpid()})
        return "called"


def mode_breaker(go: Path, state_path: str, action: str, counter: str, reset: str) -> str:
    import pybreaker  # noqa: F401

    from plantid_cli.guards.breaker.shared import SharedBreaker

    changes: list[str] = []
    breaker = SharedBreaker(
        SharedState(Path(state_path)),
        "plantid",
        fail_max=3,
        reset_timeout=float(reset),
        success_threshold=2,
        on_change=lambda p, old, new, n: changes.append(f"{old}->{new}"),
    )

    def fn_fail():
        bump(Path(counter))
        raise UpstreamTimeout("upstream timed out")

    def fn_ok():
        bump(Path(counter))
        time.sleep(1.0 if action == "probe" else 0.0)
        return "ok"

    def fn_auth():
        bump(Path(counter))
        raise AuthError("key rejected")

    def fn_credits():
        bump(Path(counter))
        raise CreditsExhausted("429")

    def fn_hang():
        bump(Path(counter))
        time.sleep(60)

    fns = {
        "fail": fn_fail,
        "probe": fn_ok,
        "ok": fn_ok,
        "auth": fn_auth,
        "credits": fn_credits,
        "hang": fn_hang,
    }
    barrier(go)
    try:
        if action == "check":
            breaker.check()
            result = "pass"
        else:
            result = breaker.call(fns[action])
    except CircuitOpenError:
        result = "refused"
    except Exception as exc:  # the original exception must reach us
        result = type(exc).__name__
    return " ".join([result, *changes])


def mode_rate(go: Path, state_path: str, spec: str, count: str, out: str) -> str:
    from plantid_cli.guards.disk.ratelimit import RateLimiter, parse_rate_limit

    limiter = RateLimiter(SharedState(Path(state_path)), "plantid:abc", parse_rate_limit(spec))
    barrier(go)
    stamps = []
    for _ in range(int(count)):
        limiter.acquire()
        stamps.append(limiter.last_start)
    with open(out, "a") as fh:  # one write per process, O_APPEND
        fh.write("".join(f"{t!r}\n" for t in stamps))
    return "done"


def mode_state(go: Path, state_path: str, count: str) -> str:
    state = SharedState(Path(state_path))
    barrier(go)
    for _ in range(int(count)):
        state.update_json("n", lambda old: (old or 0) + 1, 0)
    return "done"


def mode_index(go: Path, index_path: str, number: str) -> str:
    """Open the rerun index (found damaged by every worker at once), store one entry, say
    whether this process saw the damage and whether its index stayed usable."""
    import logging

    from plantid_cli.inputs.hash_index import HashIndex

    said: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            said.append(record.getMessage())

    logging.getLogger("plantid").addHandler(Keep())
    barrier(go)
    index = HashIndex(Path(index_path))
    n = int(number)
    index.put((1, 1000 + n, 1, 1, 1), f"{n:064x}")
    index.flush()
    usable = index.usable
    index.close()
    damaged = sum("was damaged" in line for line in said)
    return f"damaged={damaged} usable={usable}"


def run_workers(tmp_path: Path, jobs: list[list[str]], timeout: float = 60.0) -> list[str]:
    """Start one process per job (MODE ARGS...), release them together, return result lines."""
    import subprocess
    import uuid

    go = Path(tmp_path) / f"go-{uuid.uuid4().hex}"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, job[0], str(go), *job[1:]],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for job in jobs
    ]
    try:
        for proc in procs:
            line = proc.stdout.readline().strip()
            if line != "ready":
                _, err = proc.communicate(timeout=timeout)
                raise AssertionError(f"worker did not start: {line!r} {err}")
        go.touch()
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=timeout)
            assert proc.returncode == 0, err
            results.append(out.strip())
        return results
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def main() -> None:
    mode, go, *args = sys.argv[1:]
    handler = {
        "flight": mode_flight,
        "breaker": mode_breaker,
        "rate": mode_rate,
        "state": mode_state,
        "index": mode_index,
    }[mode]
    print(handler(Path(go), *args), flush=True)


if __name__ == "__main__":
    main()
