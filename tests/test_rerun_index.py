"""Issue 17: reruns at the cost of a stat (the hash index), and one walk for the whole run.

Real `plantid` processes against the test's sandbox. What a process opened and listed is counted
by tests/audited_plantid.py (Python's audit events), so "opens none of them" is checked as the
system calls, not inferred from timings. Every way a file can change is covered: an edit in
place keeping its size (with its old mtime put back, too), a replacement by rename, `--rehash`,
a kill -9 in the middle of a run, a damaged index file.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from conftest import REPO, run_plantid, wait_for
from runs import make_photos, records

AUDITED = Path(__file__).with_name("audited_plantid.py")


def edit_in_place(photo: Path, n: int) -> bytes:
    """Rewrite the photo's comment (same size), through the same inode."""
    data = photo.read_bytes()
    at = data.index(b"\xff\xfe") + 4
    new = data[:at] + b"n%08d" % n + data[at + 9 :]
    assert len(new) == len(data) and new != data
    with open(photo, "r+b") as handle:
        handle.write(new)
    return new


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def audited(env, folder: Path, counts: Path, *args: str, timeout: float = 120):
    result = subprocess.run(
        [sys.executable, str(AUDITED), str(counts), str(folder), "--", *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )
    return result, json.loads(counts.read_text())


def calls(sandbox) -> int:
    return sandbox.stats()["plantid_identify"]


def index_file(env) -> Path:
    return Path(env["PLANTID_CACHE_DIR"]) / "hashes.sqlite3"


def test_a_rerun_over_unchanged_photos_opens_none_of_them(sandbox, cli_env, tmp_path):
    photos = make_photos(tmp_path / "p", 12)
    first = run_plantid(["identify", photos, "-q", "-f", "ndjson"], cli_env)
    assert first.returncode == 0, first.stderr
    assert calls(sandbox) == 12
    result, counts = audited(
        cli_env, photos, tmp_path / "c.json", "identify", photos, "-q", "-f", "ndjson"
    )
    assert result.returncode == 0, result.stderr
    rerun = records(result.stdout)
    assert len(rerun) == 12 and all(r["cached"] and r["status"] == "ok" for r in rerun)
    assert counts["opens"] == {}  # not one photo opened
    assert calls(sandbox) == 12  # and nothing bought again
    # the records still carry each file's true sha256
    by_path = {r["path"]: r["sha256"] for r in rerun}
    assert by_path == {str(p): sha(p.read_bytes()) for p in sorted(photos.iterdir())}


def test_rehash_reads_every_photo_again_and_buys_nothing(sandbox, cli_env, tmp_path):
    photos = make_photos(tmp_path / "p", 6)
    assert run_plantid(["identify", photos, "-q"], cli_env).returncode == 0
    result, counts = audited(
        cli_env, photos, tmp_path / "c.json", "identify", photos, "--rehash", "-q"
    )
    assert result.returncode == 0, result.stderr
    assert sorted(counts["opens"]) == sorted(str(p.resolve()) for p in photos.iterdir())
    assert all(r["cached"] for r in records(result.stdout))
    assert calls(sandbox) == 6


def test_an_edit_in_place_keeping_size_and_mtime_is_hashed_again(sandbox, cli_env, tmp_path):
    photos = make_photos(tmp_path / "p", 5)
    assert run_plantid(["identify", photos, "-q"], cli_env).returncode == 0
    photo = photos / "p0002.jpg"
    before = photo.stat()
    new = edit_in_place(photo, 777)
    # the old size and the old mtime, to the nanosecond: only ctime tells the change
    os.utime(photo, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = photo.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    )
    result, counts = audited(cli_env, photos, tmp_path / "c.json", "identify", photos, "-q")
    assert result.returncode == 0, result.stderr
    edited = next(r for r in records(result.stdout) if r["path"] == str(photo))
    assert edited["sha256"] == sha(new) and edited["cached"] is False
    assert calls(sandbox) == 6  # the edited photo, once
    assert str(photo.resolve()) in counts["opens"]  # it was read; the others were not
    assert len(counts["opens"]) == 1


def test_an_edit_in_place_changing_only_the_bytes_is_seen(sandbox, cli_env, tmp_path):
    photos = make_photos(tmp_path / "p", 3)
    assert run_plantid(["identify", photos, "-q"], cli_env).returncode == 0
    photo = photos / "p0001.jpg"
    new = edit_in_place(photo, 4242)
    result = run_plantid(["identify", photos, "-q"], cli_env)
    edited = next(r for r in records(result.stdout) if r["path"] == str(photo))
    assert edited["sha256"] == sha(new) and not edited["cached"]
    assert calls(sandbox) == 4


def test_a_photo_replaced_by_rename_is_hashed_again(sandbox, cli_env, tmp_path):
    photos = make_photos(tmp_path / "p", 4)
    assert run_plantid(["identify", photos, "-q"], cli_env).returncode == 0
    photo = photos / "p0003.jpg"
    before = photo.stat()
    replacement = tmp_path / "new.jpg"
    data = photo.read_bytes()
    at = data.index(b"\xff\xfe") + 4
    replacement.write_bytes(data[:at] + b"n%08d" % 999 + data[at + 9 :])
    os.utime(replacement, ns=(before.st_atime_ns, before.st_mtime_ns))  # same size and mtime
    os.replace(replacement, photo)  # how editors and rsync save
    result = run_plantid(["identify", photos, "-q"], cli_env)
    assert result.returncode == 0, result.stderr
    replaced = next(r for r in records(result.stdout) if r["path"] == str(photo))
    assert replaced["sha256"] == sha(photo.read_bytes()) and not replaced["cached"]
    assert calls(sandbox) == 5


def test_kill_9_mid_run_leaves_a_usable_index(sandbox, cli_env, tmp_path):
    photos = make_photos(tmp_path / "p", 530)  # more than one index flush (512)
    sandbox.configure(hold_after=520, credits=10_000)  # still going when it is killed
    proc = subprocess.Popen(
        [sys.executable, "-m", "plantid_cli", "identify", str(photos), "-q", "-j", "4"],
        env=cli_env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: calls(sandbox) >= 520, timeout=300, interval=0.5)
        wait_for(lambda: index_file(cli_env).exists())
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        sandbox.configure(hold_after=None)
    db = sqlite3.connect(index_file(cli_env))
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
    result = run_plantid(["identify", photos, "-q", "-f", "ndjson"], cli_env, timeout=300)
    assert result.returncode == 0, result.stderr
    rerun = records(result.stdout)
    assert len(rerun) == 530
    assert {r["path"]: r["sha256"] for r in rerun} == {
        str(p): sha(p.read_bytes()) for p in photos.iterdir()
    }
    # every answer bought before the kill was stored and not bought again
    bought_before = calls(sandbox) - sum(not r["cached"] for r in rerun)
    assert bought_before >= 520 and calls(sandbox) <= 530 + 4


def test_a_damaged_index_is_set_aside_and_the_run_goes_on(sandbox, cli_env, tmp_path):
    photos = make_photos(tmp_path / "p", 3)
    assert run_plantid(["identify", photos, "-q"], cli_env).returncode == 0
    index = index_file(cli_env)
    for suffix in ("-wal", "-shm"):
        Path(f"{index}{suffix}").unlink(missing_ok=True)
    index.write_bytes(b"this is not a database" * 100)
    result = run_plantid(["identify", photos, "-q", "-f", "ndjson"], cli_env)
    assert result.returncode == 0, result.stderr
    assert "hash index" in result.stderr and "damaged" in result.stderr
    rerun = records(result.stdout)
    assert all(r["cached"] for r in rerun) and calls(sandbox) == 3
    assert list(index.parent.glob("hashes.sqlite3.corrupt-*"))
    # and the new index serves the next rerun
    again, counts = audited(cli_env, photos, tmp_path / "c.json", "identify", photos, "-q")
    assert again.returncode == 0 and counts["opens"] == {}


def test_four_processes_find_a_damaged_index_at_once(tmp_path):
    """DEFECT (inputs/hash_index.py): each process that found the index damaged moved the
    file at the path aside and deleted its -wal/-shm, with no lock and no second look: a
    process coming second moved aside the *new* index the first had just made, deleted that
    one's live -wal, and the first then wrote through a renamed file (refused: the index
    turned off, its hashes lost). One recovery now, under a lock, and every entry is kept."""
    from guard_worker import run_workers

    from plantid_cli.inputs.hash_index import HashIndex

    path = tmp_path / "hashes.sqlite3"
    path.write_bytes(bytes(range(256)) * 32)
    results = run_workers(tmp_path, [["index", str(path), str(n)] for n in range(4)])
    assert sorted(results) == ["damaged=0 usable=True"] * 3 + ["damaged=1 usable=True"], results
    moved = [p for p in tmp_path.glob("hashes.sqlite3.corrupt-*") if p.name[-4:] not in SIDES]
    assert len(moved) == 1, moved
    index = HashIndex(path)
    stored = index.get_many([(1, 1000 + n, 1, 1, 1) for n in range(4)])
    index.close()
    assert stored == [f"{n:064x}" for n in range(4)]


SIDES = ("-wal", "-shm")


def test_max_credits_walks_and_hashes_once(sandbox, cli_env, tmp_path):
    """The count for --max-credits comes from the run's own walk, and a photo it hashed is
    not hashed again by the run: one listing of the folder, and per photo one read to hash it
    plus one to prepare it (before: two listings and two hashing reads)."""
    photos = make_photos(tmp_path / "p", 6)
    result, counts = audited(
        cli_env, photos, tmp_path / "c.json", "identify", photos, "--max-credits", "3", "-q"
    )
    assert result.returncode == 2 and "would spend 6 credits" in result.stderr
    assert calls(sandbox) == 0
    assert counts["scans"] == {str(photos.resolve()): 1}
    assert set(counts["opens"].values()) == {1}  # hashed once each, for the count
    result, counts = audited(
        cli_env, photos, tmp_path / "c2.json", "identify", photos, "--max-credits", "6", "-q"
    )
    assert result.returncode == 0, result.stderr
    assert counts["scans"] == {str(photos.resolve()): 1}
    # the count's hashes are in the index: the run opens each photo once, to prepare it
    assert set(counts["opens"].values()) == {1} and len(counts["opens"]) == 6
    assert calls(sandbox) == 6


def test_a_hash_is_remembered_only_for_a_settled_file(tmp_path):
    """The racy rule, on real stats: a file written just before it was read may change again
    within the same timestamp tick keeping size and times, so its hash is not remembered; nor
    is one whose identity moved during the read."""
    from plantid_cli.inputs.hash_index import RACY_NS, identity, identity_if_settled

    photo = tmp_path / "a.jpg"
    photo.write_bytes(b"first")
    first = os.stat(photo)
    newest = max(first.st_mtime_ns, first.st_ctime_ns)
    assert identity_if_settled(first, first, newest + RACY_NS // 2) is None  # racy
    assert identity_if_settled(first, first, newest + 2 * RACY_NS) == identity(first)
    photo.write_bytes(b"longer")  # written during "the read"
    second = os.stat(photo)
    assert identity(second) != identity(first)
    assert identity_if_settled(first, second, newest + 10 * RACY_NS) is None


def test_the_progress_total_comes_from_the_run_s_own_walk(sandbox, cli_env, tmp_path):
    """On a terminal the bar shows done/total: the total is the run's one walk (the folder is
    listed once, where a second counting walk used to list it again)."""
    import pty
    import select
    import time

    photos = make_photos(tmp_path / "p", 9)
    counts_file = tmp_path / "c.json"
    main, secondary = pty.openpty()
    command = [sys.executable, str(AUDITED), str(counts_file), str(photos), "--"]
    proc = subprocess.Popen(
        [*command, "identify", str(photos), "-j", "3", "-f", "ndjson", "--yes"],
        env={**cli_env, "COLUMNS": "160", "TERM": "xterm"},
        cwd=REPO,
        stdin=secondary,
        stdout=subprocess.PIPE,
        stderr=secondary,
    )
    os.close(secondary)
    screen = b""
    deadline = time.monotonic() + 120  # hang protection only
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(main, 65536)
            except OSError:
                chunk = b""
            if not chunk and proc.poll() is not None:
                break
            screen += chunk
        elif proc.poll() is not None:
            break
    out = proc.stdout.read().decode()
    proc.wait(5)
    os.close(main)
    assert proc.returncode == 0, screen
    assert len(records(out)) == 9
    assert "9/9" in screen.decode("utf-8", "replace")  # the bar knew its total
    assert json.loads(counts_file.read_text())["scans"] == {str(photos.resolve()): 1}


def test_the_walk_ahead_replays_past_its_memory_from_the_spool(tmp_path):
    """The one walk keeps `keep` units in memory and spools the rest: every reader gets every
    unit, in order, failed jobs included (their ImageError survives the spool)."""
    from plantid_cli.inputs.walk import iter_jobs
    from plantid_cli.run.walkahead import WalkAhead

    photos = make_photos(tmp_path / "p", 30)
    missing = tmp_path / "missing.jpg"
    walk = WalkAhead(iter_jobs([str(photos), str(missing)]), keep=7)
    first = walk.reader()
    head = first.take(5)
    assert [job.index for job in head] == [0, 1, 2, 3, 4]
    rest = list(first)
    assert [job.index for job in head + rest] == list(range(31))
    assert rest[-1].error is not None and rest[-1].error.code == "not_found"
    again = list(walk)  # a second reader, from the start
    assert [job.path for job in again] == [job.path for job in head + rest]
    assert walk.wait() == 31
    walk.close()


def test_a_recovery_held_by_a_stopped_process_is_said_not_silent(tmp_path):
    """DEFECT (inputs/hash_index.py): a process that found the index damaged while another
    held its recovery lock (stopped by Ctrl-Z) waited 30 s without a word: the run looked
    hung. It says so while it waits, and goes on with the index once the holder lets go."""
    import fcntl

    path = tmp_path / "hashes.sqlite3"
    path.write_bytes(bytes(range(256)) * 32)
    holder = os.open(f"{path}.recover-lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX)  # the stopped process's recovery
    said = tmp_path / "stderr.txt"
    code = (
        "import sys; from plantid_cli.inputs.hash_index import HashIndex;"
        " index = HashIndex(sys.argv[1]); print(index.usable); index.close()"
    )
    with open(said, "w") as err:
        opener = subprocess.Popen(
            [sys.executable, "-c", code, str(path)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        try:
            wait_for(lambda: "setting it aside" in said.read_text(), timeout=25)
            assert opener.poll() is None  # still waiting for the lock, and said so
        finally:
            os.close(holder)  # the stopped process ends
        out, _ = opener.communicate(timeout=60)
    assert out.strip() == "True"
    assert said.read_text().count("setting it aside") == 1
    assert len([p for p in tmp_path.glob("hashes.sqlite3.corrupt-*") if p.suffix != ".txt"]) == 1
