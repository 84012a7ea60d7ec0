"""What the moved-aside guards cost per operation: plantid's stores beside the bare library.

    python benchmarks/store_ops.py [--calls 20000] [--rounds 3]

Each store answers one question per call, and is measured beside the same work done bare, in
one run, alternating, so that the ratio is the guards' cost and not the machine's mood:

- result cache `set` and `get_many([key])` / `get_many(100 keys)`: `ResultCache` (the file's
  identity looked at before and after each operation, a thread's first connection under the
  recovery flock) against a bare `diskcache.Cache` with the same settings (JSONDisk, the same
  size limit, statistics, mmap and page cache);
- shared state `set_json`: `SharedState.run` (its identity checks) against one bare upsert
  in a `BEGIN IMMEDIATE` transaction on a WAL file;
- rerun index opening: `HashIndex(path)` (its shared recovery flock) against a bare
  `sqlite3.connect` of the same file with the same pragmas.

Medians over the rounds, microseconds per call. Stdlib, diskcache and plantid only.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import _util as u
import diskcache

sys.path.insert(0, str(u.REPO))  # this tree's code, wherever plantid is installed
from plantid_cli.constants import SQLITE_BUSY_SECONDS
from plantid_cli.guards.disk.cache import ResultCache
from plantid_cli.guards.disk.jsondisk import JSONDisk
from plantid_cli.guards.disk.state import SharedState
from plantid_cli.inputs.hash_index import HashIndex


def _per_call(work: Callable[[int], object], calls: int) -> float:
    started = time.perf_counter()
    for n in range(calls):
        work(n)
    return (time.perf_counter() - started) / calls * 1e6


def _bare_cache(directory: Path) -> diskcache.Cache:
    return diskcache.Cache(
        str(directory),
        disk=JSONDisk,
        size_limit=1 << 30,
        timeout=SQLITE_BUSY_SECONDS,
        statistics=1,
        eviction_policy="least-recently-stored",
        sqlite_mmap_size=0,
        sqlite_cache_size=2**10,
    )


def _bare_state(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(str(path), timeout=SQLITE_BUSY_SECONDS, isolation_level=None)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = NORMAL")
    con.execute("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    return con


def _bare_upsert(con: sqlite3.Connection, n: int) -> None:
    con.execute("BEGIN IMMEDIATE")
    con.execute(
        "INSERT INTO kv (key, value) VALUES (?, ?)"
        " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        ("k", str(n)),
    )
    con.execute("COMMIT")


def _bare_index_open(path: Path) -> None:
    con = sqlite3.connect(str(path), timeout=SQLITE_BUSY_SECONDS, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("SELECT count(*) FROM files WHERE ino = -1").fetchone()
    con.close()


def one_round(root: Path, calls: int) -> dict[str, tuple[float, float]]:
    keys = [f"v1:plantid:v3:{n:064x}:{'0' * 32}" for n in range(calls)]
    value = {"species": "Bellis perennis", "probability": 0.93}
    figures: dict[str, tuple[float, float]] = {}

    ours, bare = ResultCache(root / "ours"), _bare_cache(root / "bare")
    figures["result cache set"] = (
        _per_call(lambda n: ours.set(keys[n], value), calls),
        _per_call(lambda n: bare.set(keys[n], value, expire=30 * 86400, retry=True), calls),
    )
    figures["result cache get_many([key])"] = (
        _per_call(lambda n: ours.get_many([keys[n]]), calls),
        _per_call(lambda n: bare.get(keys[n], retry=True), calls),
    )
    batches = max(1, calls // 100)
    figures["result cache get_many(100 keys), per batch"] = (
        _per_call(lambda n: ours.get_many(keys[n * 100 : n * 100 + 100]), batches),
        _per_call(
            lambda n: [bare.get(k, retry=True) for k in keys[n * 100 : n * 100 + 100]], batches
        ),
    )
    ours.close()
    bare.close()

    state, plain = SharedState(root / "state.sqlite3"), _bare_state(root / "bare-state.sqlite3")
    figures["shared state set_json"] = (
        _per_call(lambda n: state.set_json("k", n), calls),
        _per_call(lambda n: _bare_upsert(plain, n), calls),
    )
    state.close()
    plain.close()

    index_path = root / "hashes.sqlite3"
    HashIndex(index_path).close()  # made once: what a rerun opens
    opens = max(1, calls // 20)
    figures["rerun index opening"] = (
        _per_call(lambda n: HashIndex(index_path).close(), opens),
        _per_call(lambda n: _bare_index_open(index_path), opens),
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rounds = []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="plantid-store-ops-") as root:
            rounds.append(one_round(Path(root), args.calls))
    print(u.machine())
    print(f"{args.calls:,} calls a round, {args.rounds} rounds, medians (us per call)\n")
    print("| operation | plantid | bare library | ratio |")
    print("|---|---|---|---|")
    for name in rounds[0]:
        ours = u.median([r[name][0] for r in rounds])
        bare = u.median([r[name][1] for r in rounds])
        print(f"| {name} | {ours:.1f} | {bare:.1f} | {ours / bare:.2f}x |")


if __name__ == "__main__":
    main()
