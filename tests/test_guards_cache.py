"""ResultCache (JSON only, pickle refused, damaged db rebuilt), cache_key and single_flight."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import diskcache
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from guard_worker import run_workers  # noqa: E402

from plantid_cli.guards.disk import rows  # noqa: E402  (the warned-once flag lives there)
from plantid_cli.guards.disk.cache import ResultCache, cache_key  # noqa: E402
from plantid_cli.guards.disk.lock import single_flight  # noqa: E402

SHA = "ab" * 32


class Evil:
    """Unpickling this creates the marker file (it would run arbitrary code)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(autouse=True)
def _rewarn():
    rows._warned_refusal = False
    yield


def test_cache_key_is_stable_and_param_order_free():
    a = cache_key("plantid", "v3", SHA, {"organs": ["leaf"], "lang": "en"})
    b = cache_key("plantid", "v3", SHA, {"lang": "en", "organs": ["leaf"]})
    assert a == b
    prefix, provider, version, sha, digest = a.split(":")
    assert (prefix, provider, version, sha) == ("v1", "plantid", "v3", SHA)
    assert len(digest) == 32
    assert a != cache_key("plantid", "v3", SHA, {"organs": ["flower"], "lang": "en"})
    assert a != cache_key("plantnet", "v3", SHA, {"organs": ["leaf"], "lang": "en"})


def test_roundtrip_stats_clear(tmp_path):
    cache = ResultCache(tmp_path / "results")
    assert (tmp_path / "results").stat().st_mode & 0o777 == 0o700
    key = cache_key("plantid", "v3", SHA, {})
    assert cache.get(key) is None
    small = {"species": "Bellis perennis", "score": 0.93, "names": ["daisy", "pâquerette"]}
    big = {"blob": "x" * 100_000}  # stored as a MODE_TEXT file
    cache.set(key, small)
    cache.set(key + "b", big)
    assert cache.get(key) == small
    assert cache.get(key + "b") == big
    stats = cache.stats()
    assert (stats["entries"], stats["hits"], stats["misses"]) == (2, 2, 1)
    assert stats["volume_bytes"] > 100_000
    with pytest.raises(TypeError):
        cache.set(key, ["not", "a", "dict"])
    with pytest.raises(TypeError):
        cache.get(b"bytes key")
    assert cache.clear() == 2
    assert cache.get(key) is None
    cache.close()


def test_ttl_expiry(tmp_path):
    # kept until its TTL (one no stall outlasts), gone after it
    patient = ResultCache(tmp_path / "results", ttl=60)
    patient.set("kept", {"a": 2})
    cache = ResultCache(tmp_path / "results", ttl=0.2)
    cache.set("k", {"a": 1})
    time.sleep(0.3)
    assert cache.get("k") is None
    assert cache.get("kept") == {"a": 2}


def test_values_are_json_text_on_disk(tmp_path):
    cache = ResultCache(tmp_path / "results")
    cache.set("k", {"a": 1})
    plain = diskcache.Cache(str(tmp_path / "results"))
    ((mode, value),) = plain._sql("SELECT mode, value FROM Cache").fetchall()
    assert mode == diskcache.core.MODE_RAW and value == '{"a":1}'
    plain.close()


@pytest.mark.parametrize("size", ["inline", "file"])
def test_pickled_value_is_refused_not_unpickled(tmp_path, caplog, size):
    marker = tmp_path / "PWNED"
    cache = ResultCache(tmp_path / "results")
    key = cache_key("plantid", "v3", SHA, {})
    plain = diskcache.Cache(str(tmp_path / "results"))
    evil = Evil(marker) if size == "inline" else (Evil(marker), "x" * 100_000)
    plain.set(key, evil)
    plain.set(key + "2", {"a": 1})  # a dict written by plain diskcache is pickled too
    plain.close()
    assert not marker.exists()
    with caplog.at_level(logging.WARNING, logger="plantid"):
        assert cache.get(key) is None
        assert cache.get(key + "2") is None
        assert cache.get(key) is None
    assert not marker.exists()
    refusals = [r for r in caplog.records if "refusing a non-JSON cache value" in r.message]
    assert len(refusals) == 1  # warned once
    assert cache.stats()["misses"] == 3
    cache.set(key, {"ok": True})  # a good value replaces the refused row
    assert cache.get(key) == {"ok": True}


def test_damaged_db_before_open_is_moved_aside(tmp_path, caplog):
    directory = tmp_path / "results"
    directory.mkdir()
    (directory / "cache.db").write_bytes(b"this is not sqlite at all\n" * 200)
    with caplog.at_level(logging.WARNING, logger="plantid"):
        cache = ResultCache(directory)
        assert cache.get("k") is None  # diskcache is opened (and mended) at the first use
    assert any("damaged" in r.message for r in caplog.records)
    assert len(list(directory.glob("cache.db.corrupt-*"))) == 1
    cache.set("k", {"a": 1})
    assert cache.get("k") == {"a": 1}


def test_truncated_db_is_rebuilt(tmp_path, caplog):
    directory = tmp_path / "results"
    cache = ResultCache(directory)
    for i in range(300):
        cache.set(f"k{i}", {"payload": "y" * 2000, "i": i})
    cache.close()
    db = directory / "cache.db"
    assert not Path(f"{db}-wal").exists() or Path(f"{db}-wal").stat().st_size == 0
    with open(db, "r+b") as fh:
        fh.truncate(db.stat().st_size // 3)
    with caplog.at_level(logging.WARNING, logger="plantid"):
        cache = ResultCache(directory)
        values = [cache.get(f"k{i}") for i in range(300)]
    assert any("damaged" in r.message for r in caplog.records)
    assert all(v is None or v["i"] == i for i, v in enumerate(values))
    cache.set("fresh", {"a": 2})
    assert cache.get("fresh") == {"a": 2}


def test_garbage_written_under_an_open_cache(tmp_path, caplog):
    directory = tmp_path / "results"
    cache = ResultCache(directory)
    cache.set("k", {"a": 1})
    cache.close()  # the next operation reopens lazily
    (directory / "cache.db").write_bytes(os.urandom(8192))
    for suffix in ("-wal", "-shm"):
        Path(f"{directory / 'cache.db'}{suffix}").unlink(missing_ok=True)
    with caplog.at_level(logging.WARNING, logger="plantid"):
        assert cache.get("k") is None
    assert any("damaged" in r.message for r in caplog.records)
    cache.set("k", {"a": 3})
    assert cache.get("k") == {"a": 3}


def test_single_flight_twelve_processes(tmp_path):
    counter = tmp_path / "calls"
    results = run_workers(tmp_path, [["flight", str(tmp_path), str(counter)] for _ in range(12)])
    assert int(counter.read_text()) == 1  # no waiter gave up and called on its own
    assert sorted(results) == ["cached"] * 11 + ["called"]


def _holder(tmp_path: Path, key: str) -> subprocess.Popen:
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from plantid_cli.guards.disk.lock import single_flight\n"
        f"with single_flight(Path({str(tmp_path / 'locks')!r}), {key!r}) as f:\n"
        "    print('locked' if f.acquired else 'no', flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_single_flight_timeout_and_kill_9(tmp_path):
    proc = _holder(tmp_path, "some-key")
    try:
        with single_flight(tmp_path / "locks", "some-key", timeout=0.3) as flight:
            assert not flight.acquired and not flight
            assert flight.waited >= 0.25
        assert proc.poll() is None  # it gave up on its own timeout: the holder still holds
        with single_flight(tmp_path / "locks", "other-key", timeout=0.3) as flight:
            assert flight.acquired  # another key is never blocked by this holder
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    with single_flight(tmp_path / "locks", "some-key", timeout=0.3) as flight:
        assert flight.acquired  # kill -9 released the flock
    assert (tmp_path / "locks").stat().st_mode & 0o777 == 0o700
    assert flight.path.exists()  # lock files stay (deleting them would race)


def test_single_flight_body_exception_propagates_and_releases(tmp_path):
    with pytest.raises(RuntimeError):
        with single_flight(tmp_path / "locks", "k", timeout=0.1):
            raise RuntimeError("boom")
    with single_flight(tmp_path / "locks", "k", timeout=0.1) as flight:
        assert flight.acquired


def test_the_row_decoder_uses_diskcaches_own_names():
    """guards/disk/rows.py reads rows without importing diskcache: its copies of diskcache's
    storage modes and file name must still be diskcache's."""
    from diskcache import core

    assert rows.DBNAME == core.DBNAME
    modes = (core.MODE_RAW, core.MODE_BINARY, core.MODE_TEXT, core.MODE_PICKLE)
    assert (rows.MODE_RAW, rows.MODE_BINARY, rows.MODE_TEXT, rows.MODE_PICKLE) == modes
