"""A second red-team pass on the moved-aside fixes (tests/test_cache_moved_aside.py): threads
whose first statement falls inside another process's recovery, reruns that threw away what the
first run had read, damage found after the rerun index opened, and the index's openings racing
each other. Each test failed on the code before its fix."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from plantid_cli.guards.disk import cache as cache_module  # noqa: E402
from plantid_cli.guards.disk.cache import ResultCache  # noqa: E402
from plantid_cli.guards.disk.recovery import move_aside  # noqa: E402
from plantid_cli.inputs.hash_index import HashIndex  # noqa: E402
from plantid_cli.sqlite_files import is_corruption  # noqa: E402

STORE_ONE = """
import sys
from pathlib import Path
from plantid_cli.guards.disk.cache import ResultCache
with ResultCache(Path(sys.argv[1])) as cache:
    assert cache.set(sys.argv[2], {"species": "Bellis perennis"})
    print(cache.get_many(sys.argv[3:]))
"""


def test_a_thread_s_first_statement_inside_another_process_s_recovery_waits_for_it(tmp_path):
    """diskcache connects each thread lazily, by path, outside any lock. A thread whose first
    statement fell between a recovery's renames of the companions and of the database read
    "disk I/O error" (SQLITE_IOERR_SHORT_READ): taken for a disk that refuses writes, the
    cache stored nothing more for the run (four threads against a recovering process: every
    time). Its first connection now waits for the recovery and goes to the new file."""
    directory = tmp_path / "results"
    db = directory / "cache.db"
    cache = ResultCache(directory)
    assert cache.set("a", {"species": "Taraxacum officinale"})  # opened; this thread connected
    # Another process's recovery, half done: it holds the lock alone, companions renamed.
    holder = os.open(f"{db}.recover-lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX)
    aside = f"{db}.corrupt-test"
    for suffix in ("-wal", "-shm"):
        os.replace(f"{db}{suffix}", f"{aside}{suffix}")
    stored = {}
    worker = threading.Thread(
        target=lambda: stored.setdefault("b", cache.set("b", {"species": "Achillea"}))
    )
    try:
        worker.start()
        worker.join(2)  # its chance to run into the half-renamed files
        os.replace(db, aside)  # the recovery's last rename
    finally:
        os.close(holder)
    worker.join(60)
    assert stored == {"b": True}
    assert cache.writable
    cache.close()
    other = subprocess.run(
        [sys.executable, "-c", STORE_ONE, str(directory), "c", "a", "b", "c"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert other.returncode == 0, other.stderr
    assert other.stdout.strip() == (
        "[None, {'species': 'Achillea'}, {'species': 'Bellis perennis'}]"
    )


def test_a_read_that_a_recovery_overtook_keeps_its_hit(tmp_path, monkeypatch):
    """A read on a file moved aside right after it ran was run again on the new file and its
    result thrown away: the hit it had read became a miss, and the photo was bought again.
    (The recovery is made to land right after the read.)"""
    directory = tmp_path / "results"
    cache = ResultCache(directory)
    assert cache.set("photo", {"species": "Quercus robur"})
    read_then_recovered = cache_module.select_many

    def select_many(diskcache, keys):
        found = read_then_recovered(diskcache, keys)
        monkeypatch.setattr(cache_module, "select_many", read_then_recovered)
        move_aside(directory / "cache.db")  # another process's recovery lands now
        return found

    monkeypatch.setattr(cache_module, "select_many", select_many)
    assert cache.get_many(["photo", "other"]) == [{"species": "Quercus robur"}, None]
    assert cache.writable
    cache.close()


def test_clear_counts_what_it_removed_from_both_files(tmp_path, monkeypatch):
    """`cache clear` overtaken by a recovery ran again on the new file and said only that
    count (0), though it had removed five answers."""
    directory = tmp_path / "results"
    cache = ResultCache(directory)
    for n in range(5):
        assert cache.set(f"k{n}", {"n": n})
    diskcache_type = type(cache.opened())
    real_clear = diskcache_type.clear

    def clear_then_recovered(self, *args, **kwargs):
        removed = real_clear(self, *args, **kwargs)
        monkeypatch.setattr(diskcache_type, "clear", real_clear)
        move_aside(directory / "cache.db")
        return removed

    monkeypatch.setattr(diskcache_type, "clear", clear_then_recovered)
    assert cache.clear() == 5
    cache.close()


def test_damage_found_after_the_index_opened_is_moved_aside_once(tmp_path, caplog):
    """Damage in pages the opening does not read turned the index off ("not used") on every
    run, for ever: the file was never moved aside, and the photos past the damage were read
    and hashed every time."""
    path = tmp_path / "hashes.sqlite3"
    with sqlite3.connect(path) as con:
        con.execute(
            "CREATE TABLE files (ino INTEGER NOT NULL, dev INTEGER NOT NULL,"
            " size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,"
            " sha256 TEXT NOT NULL, PRIMARY KEY (ino, dev)) WITHOUT ROWID"
        )
        con.executemany(
            "INSERT INTO files VALUES (?, 1, 10, 5, 5, ?)",
            [(n, f"{n:064x}") for n in range(1, 20001)],
        )
    size = path.stat().st_size
    with open(path, "r+b") as handle:  # one page in the middle of the table
        handle.seek(size // 2 // 4096 * 4096)
        handle.write(b"\xa5" * 4096)
    wanted = [(1, n, 10, 5, 5) for n in range(1, 20001)]
    first = HashIndex(path)
    assert first.usable
    first.get_many(wanted)
    assert first.usable  # started anew, not turned off
    first.put((1, 7, 10, 5, 5), "e" * 64)
    first.close()
    assert "was damaged" in caplog.text
    moved = [p.name for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    assert len(moved) == 1, moved
    caplog.clear()
    second = HashIndex(path)
    assert second.get_many([(1, 7, 10, 5, 5), (1, 8, 10, 5, 5)]) == ["e" * 64, None]
    assert second.usable
    second.close()
    assert "damaged" not in caplog.text and "not used" not in caplog.text


def test_processes_that_create_the_index_together_all_keep_it(tmp_path):
    """Processes opening a new index at once: the switch to WAL raised "database is
    locked" without waiting (SQLite does not run the busy handler for it) and one in five
    such rounds turned some process's index off; in a recovery, an opening between the
    renames read "disk I/O error". Openings now share the recovery's lock and retry the
    switch (sqlite_files.enable_wal). Ten rounds of eight."""
    from guard_worker import run_workers

    for round_ in range(10):
        path = tmp_path / f"round{round_}" / "hashes.sqlite3"
        path.parent.mkdir()
        if round_ % 2:
            path.write_bytes(bytes(range(256)) * 32)  # and damaged, in two rounds
        results = run_workers(path.parent, [["index", str(path), str(n)] for n in range(8)])
        assert all(line.endswith("usable=True") for line in results), results


def test_damage_is_recognised_whatever_sys_modules_holds(monkeypatch):
    """The test looked sqlite3 up in sys.modules: a program that dropped it from there (or
    swapped it) made real damage read as not damage, and the state file failed instead of
    being recovered."""
    damage = sqlite3.DatabaseError("file is not a database")
    monkeypatch.delitem(sys.modules, "sqlite3")
    assert is_corruption(damage)
    assert not is_corruption(sqlite3.OperationalError("database is locked"))
    assert not is_corruption(OSError("disk full"))


HALF_A_RECOVERY = """
import fcntl, os, sys
db = sys.argv[1]
holder = os.open(db + ".recover-lock", os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(holder, fcntl.LOCK_EX)
for suffix in ("-wal", "-shm"):
    os.replace(db + suffix, db + ".corrupt-test" + suffix)
print("ready", flush=True)
sys.stdin.readline()
os.replace(db, db + ".corrupt-test")
"""


def test_a_forked_child_s_first_statement_waits_out_a_recovery_too(tmp_path):
    """The "this thread is connected" mark survived os.fork: the child's diskcache
    reconnected lazily, by path, in the middle of another process's recovery (multiprocessing
    forks on Linux), and the child's cache went read-only."""
    directory = tmp_path / "results"
    db = directory / "cache.db"
    cache = ResultCache(directory)
    assert cache.set("a", {"species": "Taraxacum officinale"})  # this thread connected
    holder = subprocess.Popen(
        [sys.executable, "-c", HALF_A_RECOVERY, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        reading, writing = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover - the child reports through the pipe
            try:
                stored = cache.set("b", {"species": "Achillea"})
                os.write(writing, f"{stored} {cache.writable}".encode())
            finally:
                os._exit(0)
        os.close(writing)
        finished = False
        for _ in range(100):  # its chance to run into the half-renamed files
            finished = os.waitpid(child, os.WNOHANG)[0] == child
            if finished:
                break
            time.sleep(0.02)
        holder.communicate("go\n", timeout=60)
        if not finished:
            os.waitpid(child, 0)
    finally:
        holder.kill()
    with os.fdopen(reading) as said:
        assert said.read() == "True True"
    cache.close()
    with ResultCache(directory) as fresh:
        assert fresh.get("b") == {"species": "Achillea"}


def test_a_key_found_in_both_files_reads_as_the_new_file_s(tmp_path):
    """A hit in the file moved aside and in the new one: the new file's answer (stored again
    since, e.g. by --refresh) was replaced by the old file's."""
    from plantid_cli.guards.disk.cache_batch import keep_hits

    first = ({"k": {"answer": "from the file moved aside"}, "m": None}, [])
    again = ({"k": {"answer": "in the file at the path"}, "m": None}, [])
    assert keep_hits(first, again) == ({"k": {"answer": "in the file at the path"}, "m": None}, [])
