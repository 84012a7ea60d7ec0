"""SharedState (sqlite, BEGIN IMMEDIATE, damaged file) and CreditsState."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from guard_worker import run_workers  # noqa: E402

from plantid_cli.errors import CreditsExhausted  # noqa: E402
from plantid_cli.guards.disk.credits import MESSAGE, CreditsState  # noqa: E402
from plantid_cli.guards.disk.state import SharedState  # noqa: E402


def test_pragmas_and_permissions(tmp_path):
    state = SharedState(tmp_path / "deep" / "dir" / "state.sqlite3")
    with state.transaction() as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert con.execute("PRAGMA busy_timeout").fetchone()[0] == 30000
        assert con.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert (tmp_path / "deep").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "deep" / "dir").stat().st_mode & 0o777 == 0o700


def test_json_helpers_and_rollback(tmp_path):
    state = SharedState(tmp_path / "state.sqlite3")
    assert state.get_json("missing", 7) == 7
    state.set_json("k", {"a": [1, 2]})
    assert state.get_json("k") == {"a": [1, 2]}
    with pytest.raises(RuntimeError):
        with state.transaction() as con:
            con.execute("UPDATE kv SET value = '1' WHERE key = 'k'")
            with state.transaction():  # nested joins the outer transaction
                state.set_json("other", 1)
            raise RuntimeError
    assert state.get_json("k") == {"a": [1, 2]}
    assert state.get_json("other") is None
    assert state.update_json("n", lambda old: old + 1, 41) == 42
    assert state.delete("n") and not state.delete("n")


def test_read_modify_write_is_atomic_across_processes(tmp_path):
    path = str(tmp_path / "state.sqlite3")
    assert run_workers(tmp_path, [["state", path, "40"] for _ in range(5)]) == ["done"] * 5
    assert SharedState(Path(path)).get_json("n") == 200


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_damaged_state_file_is_moved_aside(tmp_path, caplog, damage):
    path = tmp_path / "state.sqlite3"
    if damage == "garbage":
        path.write_bytes(b"\x00garbage" * 1000)
    else:
        state = SharedState(path)
        for i in range(400):
            state.set_json(f"key{i}", {"v": "z" * 500})
        state.close()
        with open(path, "r+b") as fh:
            fh.truncate(path.stat().st_size // 4)
    with caplog.at_level(logging.WARNING, logger="plantid"):
        state = SharedState(path)
        values = [state.get_json(f"key{i}") for i in range(400)]
        state.set_json("after", 1)
    assert state.get_json("after") == 1
    warnings = [r for r in caplog.records if "damaged" in r.message]
    assert len(warnings) == 1
    moved = [
        p for p in tmp_path.glob("state.sqlite3.corrupt-*") if not p.name.endswith(("-wal", "-shm"))
    ]
    assert len(moved) == 1
    assert all(v is None for v in values[200:]) or damage == "garbage"


def test_credits(tmp_path):
    state = SharedState(tmp_path / "state.sqlite3")
    credits = CreditsState(state, "plantid", cooldown=0.3)
    credits.check()
    assert credits.status() == {
        "exhausted": False,
        "until": None,
        "remaining": None,
        "message": None,
    }
    credits.set_remaining(12)
    assert credits.status()["remaining"] == 12
    marked = time.time()
    credits.mark_exhausted("HTTP 429: no credits left")
    # another process, with a cool-down no stall of a loaded machine outlasts
    other = CreditsState(SharedState(tmp_path / "state.sqlite3"), "plantid", cooldown=60)
    with pytest.raises(CreditsExhausted) as info:
        other.check()
    assert info.value.message == MESSAGE
    assert marked + 60 <= info.value.retry_at <= time.time() + 60
    status = other.status()
    assert status["exhausted"] and status["until"] and status["remaining"] == 0
    assert status["message"] == "HTTP 429: no credits left"
    CreditsState(state, "plantnet").check()  # per provider
    time.sleep(0.35)
    credits.check()  # its own 0.3 s cool-down is over
    credits.mark_exhausted("again")
    credits.set_remaining(500)  # credits topped up: cool-down ends
    credits.check()
    credits.mark_exhausted("again")
    credits.clear()
    credits.check()
    assert credits.status()["remaining"] is None
