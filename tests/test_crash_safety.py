"""kill -9 at random points of a batch, then a re-run: every photo answered, none paid twice
beyond those in flight at a kill, no lock left held, cache and shared state intact."""

from __future__ import annotations

import functools
import json
import random
import signal
import sqlite3
import subprocess
import sys

from conftest import REPO, run_plantid, wait_for
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


def held_since(sandbox, sent: int) -> bool:
    """Whether an identification after the first `sent` is being held at the sandbox."""
    return any(c.get("held") and c["seq"] > sent for c in sandbox.stats()["calls"])


def test_kill_9_mid_batch_then_rerun(tmp_path, sandbox, cli_env, isolated_env):
    folder = tmp_path / "photos"
    for seed in range(PHOTOS):
        green_photo(folder / f"p{seed:02}.jpg", (200, 150), seed=seed)
    env = {**cli_env, "PLANTID_CONCURRENCY": str(CONCURRENCY)}
    rng = random.Random(7)
    kills = 0
    # Kill points are counted in calls, not seconds: at start-up, then twice after a random
    # number of answers, with the calls that followed held in flight at the sandbox.
    for answered in (None, rng.randint(2, 4), rng.randint(2, 4)):
        sent = sandbox.stats()["plantid_identify"]
        sandbox.configure(hold_after=sent + (answered or 0))
        process = subprocess.Popen(
            [sys.executable, "-m", "plantid_cli", "identify", folder],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if answered is not None:
            wait_for(functools.partial(held_since, sandbox, sent))
        assert process.poll() is None
        process.send_signal(signal.SIGKILL)
        kills += 1
        process.wait(30)
        sandbox.configure(hold_after=None)  # the dead process's calls land, unheard
        wait_for(lambda: all(c["t_end"] for c in sandbox.stats()["calls"]))
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
