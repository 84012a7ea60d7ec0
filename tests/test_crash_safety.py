"""kill -9 at random points of a batch, then a re-run: every photo answered, none paid twice
beyond those in flight at a kill, no lock left held, cache and shared state intact."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import time

from conftest import REPO, run_plantid
from photos import green_photo

PHOTOS = 24
CONCURRENCY = 4


def integrity(path) -> str:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
        return con.execute("PRAGMA integrity_check").fetchone()[0]


def locks_held(lock_dir) -> list[str]:
    import portalocker

    held = []
    for path in sorted(lock_dir.glob("*.lock")):
        try:
            with portalocker.Lock(str(path), mode="a", timeout=0, fail_when_locked=True):
                pass
        except portalocker.exceptions.LockException:
            held.append(path.name)
    return held


def test_kill_9_mid_batch_then_rerun(tmp_path, sandbox, cli_env, isolated_env):
    folder = tmp_path / "photos"
    for seed in range(PHOTOS):
        green_photo(folder / f"p{seed:02}.jpg", (200, 150), seed=seed)
    sandbox.configure(latency_ms=250)
    env = {**cli_env, "PLANTID_CONCURRENCY": str(CONCURRENCY)}
    rng = random.Random(7)
    kills = 0
    for delay in (0.05, rng.uniform(0.5, 0.9), rng.uniform(0.5, 0.9)):
        process = subprocess.Popen(
            [sys.executable, "-m", "plantid_cli", "identify", folder],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait(10)
    assert kills >= 2
    assert sandbox.stats()["statuses"].get("201", 0) < PHOTOS  # the kills landed mid-batch

    result = run_plantid(["identify", folder], env)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(r["index"] for r in records) == list(range(PHOTOS))
    assert {r["status"] for r in records} == {"ok"}

    paid = sandbox.stats()["statuses"].get("201", 0)
    assert PHOTOS <= paid <= PHOTOS + kills * CONCURRENCY  # only answers lost in flight repaid

    cache_dir = isolated_env / "cache"
    assert locks_held(cache_dir / "locks") == []
    assert integrity(cache_dir / "results" / "cache.db") == "ok"
    assert integrity(cache_dir / "state.sqlite3") == "ok"

    again = run_plantid(["identify", folder], env)
    assert again.returncode == 0
    assert all(json.loads(line)["cached"] for line in again.stdout.splitlines())
    assert sandbox.stats()["statuses"].get("201", 0) == paid
