"""A process's connections outlive another process's recovery: the damaged file is moved aside
and a new one made at the same path. What the first process reads and writes afterwards must
be the new file's: a look-up on the renamed file is a miss that buys the photo again, and a
write through it goes into the renamed file (WAL mode: silently) or, before the switch to
WAL, is refused (SQLITE_READONLY_DBMOVED), which read as a full disk and stored nothing more
for the rest of the run (see guards/disk/cache_peek.py)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from plantid_cli.guards.disk.cache import ResultCache  # noqa: E402
from plantid_cli.guards.disk.cache_readonly import ReadOnlyResults  # noqa: E402
from plantid_cli.guards.disk.state import SharedState  # noqa: E402
from plantid_cli.inputs.hash_index import HashIndex  # noqa: E402

#: The other process: what a recovery does (recovery.move_aside), then a new answer stored.
RECOVER_CACHE = """
import sys
from pathlib import Path
from plantid_cli.guards.disk.cache import ResultCache
from plantid_cli.guards.disk.recovery import move_aside
directory = Path(sys.argv[1])
move_aside(directory / "cache.db")
with ResultCache(directory) as cache:
    assert cache.set("after", {"species": "Bellis perennis"})
"""

RECOVER_STATE = """
import sys
from pathlib import Path
from plantid_cli.guards.disk.recovery import move_aside
from plantid_cli.guards.disk.state import SharedState
path = Path(sys.argv[1])
move_aside(path)
state = SharedState(path)
state.set_json(sys.argv[2], int(sys.argv[3]))  # what the other process writes in the new file
state.close()
"""


def _other_process(code: str, path: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-c", code, str(path), *args], cwd=ROOT, check=True, timeout=60)


def test_lookups_read_the_new_cache_file_not_the_one_moved_aside(tmp_path):
    """Before diskcache is opened (a rerun's look-ups): the answer the other process stored
    in the new file is a hit, not a miss that buys the photo again."""
    directory = tmp_path / "results"
    with ResultCache(directory) as first:
        assert first.set("before", {"species": "Taraxacum officinale"})
    reader = ResultCache(directory)
    assert reader.get("before") == {"species": "Taraxacum officinale"}  # its look-up connection
    _other_process(RECOVER_CACHE, directory)
    assert reader.get_many(["after", "before"]) == [{"species": "Bellis perennis"}, None]
    assert reader.get("after") == {"species": "Bellis perennis"}
    reader.close()


def test_an_opened_cache_reads_and_stores_in_the_new_file(tmp_path):
    """After diskcache is opened (a run that stores): the new file's answers are hits and the
    next answer is stored there; the cache does not turn read-only."""
    directory = tmp_path / "results"
    writer = ResultCache(directory)
    assert writer.set("before", {"species": "Taraxacum officinale"})
    _other_process(RECOVER_CACHE, directory)
    assert writer.get("after") == {"species": "Bellis perennis"}
    assert writer.set("mine", {"species": "Achillea millefolium"}) is True
    assert writer.writable
    writer.close()
    with ResultCache(directory) as fresh:
        assert fresh.get_many(["mine", "after", "before"]) == [
            {"species": "Achillea millefolium"},
            {"species": "Bellis perennis"},
            None,
        ]


def test_shared_state_reads_and_writes_the_new_file(tmp_path, caplog):
    """The guards' state: what the other process wrote is seen, and this process's writes
    reach the file every process shares (not a private copy after "cannot be written")."""
    path = tmp_path / "state.sqlite3"
    state = SharedState(path)
    state.set_json("before", 1)
    _other_process(RECOVER_STATE, path, "after", "2")
    assert state.get_json("after") == 2
    state.set_json("mine", 3)
    assert state.refused is None
    assert "cannot be written" not in caplog.text
    state.close()
    other = SharedState(path)
    seen = [other.get_json(key) for key in ("mine", "after", "before")]
    assert seen == [3, 2, None]
    other.close()


# -- the red-team pass on the fix above ------------------------------------------------------


def test_a_state_transaction_open_across_a_recovery_lands_in_the_new_file(tmp_path):
    """In WAL mode SQLite does not refuse a commit through a connection whose file was moved
    aside: the increment went into the renamed file and was lost, with no error."""
    path = tmp_path / "state.sqlite3"
    state = SharedState(path)
    state.set_json("spent", 100)
    seen = []

    def spend_one(old):
        if not seen:  # the other process recovers while this transaction is open
            _other_process(RECOVER_STATE, path, "spent", "100")
        seen.append(old)
        return old + 1

    assert state.update_json("spent", spend_one, default=0) == 101
    assert seen == [100, 100]  # once on the file moved aside, once on the new one
    state.close()
    fresh = SharedState(path)
    assert fresh.get_json("spent") == 101
    fresh.close()


def _stat_pausing_once(monkeypatch, db: Path, thread_name: str):
    """os.stat, except that thread `thread_name`'s next stat of `db` waits, once, until the
    test lets it go: a thread preempted between taking the cache and looking at the file."""
    real_stat = os.stat
    paused, go = threading.Event(), threading.Event()
    armed = threading.Event()

    def stat(path, *args, **kwargs):
        if (
            armed.is_set()
            and not paused.is_set()
            and threading.current_thread().name == thread_name
            and os.fspath(path) == str(db)
        ):
            paused.set()
            go.wait(60)
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    return armed, paused, go


@pytest.mark.parametrize("operation", ["get", "set"])
def test_a_thread_preempted_across_another_thread_s_reopen_uses_the_new_file(
    tmp_path, monkeypatch, operation
):
    """The cache object and the identity of its file were two fields: a thread that took the
    old cache just before another thread replaced both passed the check against the *new*
    identity and used the old cache, still open on the file moved aside: a miss for the
    answer stored in the new file (the photo bought again), or a store nobody else reads."""
    directory = tmp_path / "results"
    cache = ResultCache(directory)
    assert cache.set("before", {"species": "Taraxacum officinale"})
    armed, paused, go = _stat_pausing_once(monkeypatch, directory / "cache.db", "preempted")
    outcome = {}

    def preempted():
        cache.get("before")  # this thread's own connection to the current file
        ready.set()
        start.wait(60)
        armed.set()
        if operation == "get":
            outcome["value"] = cache.get("after")
        else:
            outcome["stored"] = cache.set("mine", {"species": "Achillea millefolium"})

    ready, start = threading.Event(), threading.Event()
    thread = threading.Thread(target=preempted, name="preempted")
    thread.start()
    assert ready.wait(60)
    _other_process(RECOVER_CACHE, directory)
    start.set()
    assert paused.wait(60)
    assert cache.get("after") == {"species": "Bellis perennis"}  # this thread reopens
    go.set()
    thread.join(60)
    cache.close()
    if operation == "get":
        assert outcome["value"] == {"species": "Bellis perennis"}
    else:
        assert outcome["stored"] is True
        with ResultCache(directory) as fresh:
            assert fresh.get("mine") == {"species": "Achillea millefolium"}


def test_a_results_folder_removed_mid_run_comes_back_private(tmp_path):
    """diskcache recreated a removed folder itself, mode 0o755: cached answers readable by
    every user of the machine."""
    old_umask = os.umask(0o022)
    try:
        directory = tmp_path / "results"
        cache = ResultCache(directory)
        assert cache.set("a", {"species": "Taraxacum officinale"})
        shutil.rmtree(directory)
        assert cache.set("b", {"species": "Bellis perennis"}) is True
        mode = stat.S_IMODE(os.stat(directory).st_mode)
        cache.close()
    finally:
        os.umask(old_umask)
    assert mode == 0o700
    with ResultCache(directory) as fresh:
        assert fresh.get("b") == {"species": "Bellis perennis"}


SEARCH_PERMISSION_TAKEN_AWAY = """
import os, sys
from pathlib import Path
from plantid_cli.guards.disk.cache import ResultCache
from plantid_cli.guards.disk.state import SharedState
base = Path(sys.argv[1])
state = SharedState(base / "state.sqlite3")
state.set_json("spent", 1)
cache = ResultCache(base / "results")
assert cache.set("a", {"species": "Taraxacum officinale"})
os.chmod(base, 0o600)  # the folder can no longer be searched: stat(path) is EACCES
seen = [state.get_json("spent"), cache.get("a"), cache.set("b", {"species": "Bellis"})]
state.set_json("spent", 2)
os.chmod(base, 0o700)
seen += [cache.writable, cache.get("b"), SharedState(base / "state.sqlite3").get_json("spent")]
print(seen)
"""


def _without_root_powers() -> list[str]:
    """A prefix that runs a command as root without the power to ignore file permissions."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("root without setpriv: file permissions cannot be enforced")
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}"]


def _run_without_root_powers(code: str, path: Path) -> subprocess.CompletedProcess[str]:
    """`python -c code path`, file permissions enforced (see `_without_root_powers`)."""
    return subprocess.run(
        [*_without_root_powers(), sys.executable, "-c", code, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_folder_that_can_no_longer_be_searched_keeps_the_open_connections(tmp_path):
    """The look before each use raised PermissionError out of `get` (a traceback) and turned
    the cache read-only for the rest of the run, though the open connections still worked."""
    base = tmp_path / "cache"
    base.mkdir()
    result = _run_without_root_powers(SEARCH_PERMISSION_TAKEN_AWAY, base)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout.strip() == (
        "[1, {'species': 'Taraxacum officinale'}, True, True, {'species': 'Bellis'}, 2]"
    )


RECOVER_INDEX = """
import os, sys
from pathlib import Path
from plantid_cli.inputs.hash_index import HashIndex
path = Path(sys.argv[1])
for suffix in ("-wal", "-shm", ""):
    os.replace(f"{path}{suffix}", f"{path}.corrupt-test{suffix}")
index = HashIndex(path)
index.put((1, 2, 3, 4, 5), "b" * 64)
index.close()
"""


def test_the_rerun_index_stores_in_the_new_file_after_another_process_s_recovery(tmp_path):
    """A connection on the renamed index kept storing there: every hash of the run was lost
    to the other runs (hashed again next time)."""
    path = tmp_path / "hashes.sqlite3"
    index = HashIndex(path)
    index.put((1, 1, 3, 4, 5), "a" * 64)
    index.flush()
    _other_process(RECOVER_INDEX, path)
    assert index.get((1, 2, 3, 4, 5)) == "b" * 64
    index.put((1, 3, 3, 4, 5), "c" * 64)
    index.close()
    fresh = HashIndex(path)
    assert [fresh.get((1, n, 3, 4, 5)) for n in (1, 2, 3)] == [None, "b" * 64, "c" * 64]
    fresh.close()


def test_a_rerun_index_that_refuses_writes_is_not_moved_aside(tmp_path, caplog):
    """Anything but "locked" counted as damage: a healthy index the run could not write (a
    read-only file, a full disk) was moved aside and rebuilt, photo by photo, for nothing."""
    path = tmp_path / "hashes.sqlite3"
    with sqlite3.connect(path) as con:  # a healthy index, not yet switched to WAL
        con.execute("CREATE TABLE kept (n INTEGER)")
    before = path.read_bytes()
    code = (
        "import sys; from plantid_cli.inputs.hash_index import HashIndex;"
        " index = HashIndex(sys.argv[1]); print(index.usable); index.close()"
    )
    path.chmod(0o444)
    result = _run_without_root_powers(code, path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
    assert "not used" in result.stderr and "readonly" in result.stderr
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["hashes.sqlite3", "hashes.sqlite3.recover-lock"]  # nothing moved aside
    assert path.read_bytes() == before


def test_a_read_only_cache_reads_the_new_file_after_another_process_s_recovery(tmp_path):
    """The read-only look-ups (a cache whose disk refuses writes; a full disk still lets a
    recovery rename) kept reading the file moved aside: a miss, the photo bought again."""
    directory = tmp_path / "results"
    with ResultCache(directory) as first:
        assert first.set("before", {"species": "Taraxacum officinale"})
    reader = ReadOnlyResults(directory)
    assert reader.get("before") == {"species": "Taraxacum officinale"}
    _other_process(RECOVER_CACHE, directory)
    assert reader.get("after") == {"species": "Bellis perennis"}
    assert reader.get("before") is None
    reader.close()
