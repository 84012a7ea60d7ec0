"""A process's connections outlive another process's recovery: the damaged file is moved aside
and a new one made at the same path. What the first process reads and writes afterwards must
be the new file's: a look-up on the renamed file is a miss that buys the photo again, and a
write through it is refused (SQLITE_READONLY_DBMOVED), which read as a full disk and stored
nothing more for the rest of the run (see guards/disk/cache_peek.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from plantid_cli.guards.disk.cache import ResultCache  # noqa: E402
from plantid_cli.guards.disk.state import SharedState  # noqa: E402

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
state.set_json("after", 2)
state.close()
"""


def _other_process(code: str, path: Path) -> None:
    subprocess.run([sys.executable, "-c", code, str(path)], cwd=ROOT, check=True, timeout=60)


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
    _other_process(RECOVER_STATE, path)
    assert state.get_json("after") == 2
    state.set_json("mine", 3)
    assert state.refused is None
    assert "cannot be written" not in caplog.text
    state.close()
    other = SharedState(path)
    seen = [other.get_json(key) for key in ("mine", "after", "before")]
    assert seen == [3, 2, None]
    other.close()
