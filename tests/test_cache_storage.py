"""A cache that cannot write never costs an answer (issue 12): disk full, damaged values,
a read-only cache folder. Real CLI subprocesses against the sandbox; the disk is made full
with a real file-size limit (RLIMIT_FSIZE: every write past it fails with EFBIG, as a full disk
fails with ENOSPC) and read-only with a real read-only bind mount."""

from __future__ import annotations

import json
import logging
import resource
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, run_plantid
from photos import green_photo

NOT_STORED = "answers are not being stored"


def records_of(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def photos(folder: Path, count: int) -> list[Path]:
    return [green_photo(folder / f"p{i}.jpg", (160, 120), seed=i) for i in range(count)]


def run_with_full_disk(args, env, limit: int = 0) -> subprocess.CompletedProcess:
    """The CLI with every regular-file write past `limit` bytes refused (EFBIG)."""

    def preexec() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [sys.executable, "-m", "plantid_cli", *map(str, args)],
        env={**env, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        preexec_fn=preexec,
    )


def assert_clean(stderr: str) -> None:
    assert "internal error" not in stderr
    assert "Traceback" not in stderr


def test_full_disk_from_the_start_prints_every_answer_and_warns_once(tmp_path, sandbox, cli_env):
    files = photos(tmp_path / "in", 4)
    result = run_with_full_disk(["identify", *files, "--format", "ndjson"], cli_env)
    assert_clean(result.stderr)
    assert result.returncode == 0, result.stderr
    records = records_of(result.stdout)
    assert sorted(r["status"] for r in records) == ["ok"] * 4
    assert sandbox.stats()["plantid_identify"] == 4
    assert result.stderr.count(NOT_STORED) == 1
    # the guard state db could not be written either: one warning, no failed photo
    assert result.stderr.count("shared state") == 1


def test_full_disk_keeps_serving_stored_answers(tmp_path, sandbox, cli_env):
    first, second = photos(tmp_path / "in", 2)
    stored = run_plantid(["identify", first, "--format", "ndjson"], cli_env)
    assert stored.returncode == 0, stored.stderr
    assert sandbox.stats()["plantid_identify"] == 1

    result = run_with_full_disk(["identify", first, second, "--format", "ndjson"], cli_env)
    assert_clean(result.stderr)
    assert result.returncode == 0, result.stderr
    by_path = {r["path"]: r for r in records_of(result.stdout)}
    assert by_path[str(first)]["cached"] is True
    assert by_path[str(second)]["status"] == "ok"
    assert by_path[str(second)]["cached"] is False
    assert sandbox.stats()["plantid_identify"] == 2  # only the new photo was paid for
    assert result.stderr.count(NOT_STORED) == 1


def test_disk_full_mid_run_loses_no_answer(tmp_path, sandbox, cli_env):
    """The cache exists and has room for its tables, then every write that grows a file fails."""
    files = photos(tmp_path / "in", 6)
    warm = run_plantid(["identify", files[0], "--format", "ndjson"], cli_env)
    assert warm.returncode == 0, warm.stderr
    cache = Path(cli_env["PLANTID_CACHE_DIR"])
    biggest = max(p.stat().st_size for p in cache.rglob("*") if p.is_file())
    result = run_with_full_disk(
        ["identify", *files, "--format", "ndjson"], cli_env, limit=biggest + 4096
    )
    assert_clean(result.stderr)
    assert result.returncode == 0, result.stderr
    records = records_of(result.stdout)
    assert sorted(r["status"] for r in records) == ["ok"] * 6
    assert sandbox.stats()["plantid_identify"] == 6  # the first photo once, then five new
    assert result.stderr.count(NOT_STORED) == 1, result.stderr


# -- damaged values ------------------------------------------------------------------------------


def _cache_db(env) -> Path:
    return Path(env["PLANTID_CACHE_DIR"]) / "results" / "cache.db"


@pytest.mark.parametrize("damage", ["not-utf8", "truncated"])
def test_damaged_inline_value_is_a_miss_asked_once_then_stored_again(
    tmp_path, sandbox, cli_env, damage
):
    [photo] = photos(tmp_path / "in", 1)
    first = run_plantid(["identify", photo, "--format", "ndjson"], cli_env)
    assert first.returncode == 0, first.stderr
    con = sqlite3.connect(_cache_db(cli_env))
    with con:
        [(rowid, text)] = con.execute("SELECT rowid, value FROM Cache WHERE raw = 1").fetchall()
        if damage == "not-utf8":
            broken: bytes | str = b"\xff\xfe" + text.encode()[2:]
        else:
            broken = text[: len(text) // 2]
        con.execute("UPDATE Cache SET value = ? WHERE rowid = ?", (broken, rowid))
    con.close()

    again = run_plantid(["identify", photo, "--format", "ndjson"], cli_env)
    assert_clean(again.stderr)
    assert again.returncode == 0, again.stderr
    [record] = records_of(again.stdout)
    assert (record["status"], record["cached"]) == ("ok", False)
    assert again.stderr.count("cached answer in") == 1
    assert sandbox.stats()["plantid_identify"] == 2

    third = run_plantid(["identify", photo, "--format", "ndjson"], cli_env)
    [record] = records_of(third.stdout)
    assert record["cached"] is True  # the fresh answer replaced the damaged one
    assert "cached answer in" not in third.stderr
    assert sandbox.stats()["plantid_identify"] == 2


@pytest.mark.parametrize("damage", [b"\xff\xfe\x00garbage", b'{"provider": "plan'])
def test_damaged_value_file_is_a_miss_and_removed(tmp_path, caplog, damage):
    from plantid_cli.guards.disk.cache import ResultCache

    big = {"provider": "plantid", "blob": "x" * 100_000}  # above diskcache's inline size
    with ResultCache(tmp_path / "results") as cache:
        assert cache.set("k", big) is True
        con = sqlite3.connect(tmp_path / "results" / "cache.db")
        [(filename,)] = con.execute("SELECT filename FROM Cache WHERE key = 'k'").fetchall()
        assert filename  # stored as a file, not inline
        (tmp_path / "results" / filename).write_bytes(damage)
        with caplog.at_level(logging.WARNING, logger="plantid"):
            assert cache.get("k") is None
        assert con.execute("SELECT count(*) FROM Cache WHERE key = 'k'").fetchone() == (0,)
        con.close()
        assert any("was damaged" in r.getMessage() for r in caplog.records)
        assert cache.set("k", {"provider": "plantid"}) is True
        assert cache.get("k") == {"provider": "plantid"}


# -- a read-only cache folder --------------------------------------------------------------------

_RO_MOUNT = 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" "$0" && exec "$@"'


def _read_only_argv(folder: Path, args: list) -> list[str]:
    """`plantid args` with `folder` mounted read-only for it alone (a private mount namespace):
    root ignores file modes, not a read-only mount (EROFS)."""
    return ["unshare", "-m", "sh", "-c", _RO_MOUNT, str(folder), sys.executable, "-m",
            "plantid_cli", *map(str, args)]  # fmt: skip


@pytest.fixture
def read_only_mounts(tmp_path):
    """Skip where this machine cannot mount (no unshare, no CAP_SYS_ADMIN)."""
    probe = tmp_path / "probe"
    probe.mkdir()
    try:
        done = subprocess.run(
            ["unshare", "-m", "sh", "-c", _RO_MOUNT, str(probe), "sh", "-c", f": > {probe}/x"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except FileNotFoundError:
        pytest.skip("unshare is not installed")
    if "Read-only file system" not in done.stderr:
        pytest.skip(f"cannot mount read-only here: {done.stderr.strip()}")
    return _read_only_argv


def test_read_only_cache_folder_serves_stored_answers(tmp_path, sandbox, cli_env, read_only_mounts):
    first, second = photos(tmp_path / "in", 2)
    stored = run_plantid(["identify", first, "--format", "ndjson"], cli_env)
    assert stored.returncode == 0, stored.stderr
    cache = Path(cli_env["PLANTID_CACHE_DIR"])
    argv = read_only_mounts(cache, ["identify", first, second, "--format", "ndjson"])
    result = subprocess.run(argv, env=cli_env, capture_output=True, text=True, timeout=120)
    assert_clean(result.stderr)
    assert result.returncode == 0, result.stderr
    by_path = {r["path"]: r for r in records_of(result.stdout)}
    assert by_path[str(first)]["cached"] is True
    assert (by_path[str(second)]["status"], by_path[str(second)]["cached"]) == ("ok", False)
    assert sandbox.stats()["plantid_identify"] == 2
    assert result.stderr.count(NOT_STORED) == 1
    assert "Read-only file system" in result.stderr or "readonly" in result.stderr

    clear = subprocess.run(
        read_only_mounts(cache, ["cache", "clear", "--yes"]),
        env=cli_env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert_clean(clear.stderr)
    assert clear.returncode == 3, clear.stderr
    assert "PLANTID_CACHE_DIR" in clear.stderr


# -- other writes a full disk refuses: a clear error, never a traceback -------------------------


def test_full_disk_report_of_a_run_is_a_clear_error_after_every_answer(tmp_path, sandbox, cli_env):
    files = photos(tmp_path / "in", 2)
    page = tmp_path / "page.html"
    result = run_with_full_disk(
        ["identify", *files, "--format", "ndjson", "--report", page], cli_env
    )
    assert_clean(result.stderr)
    assert sorted(r["status"] for r in records_of(result.stdout)) == ["ok", "ok"]
    # exit 1, the output's failure (was 2, a usage error: red team, session 15)
    assert result.returncode == 1, result.stderr
    assert f"--report {page}: cannot write the report (File too large)" in result.stderr
    assert not page.exists()


def test_full_disk_keys_set_names_the_keys_file(tmp_path, cli_env):
    def preexec() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))

    result = subprocess.run(
        [sys.executable, "-m", "plantid_cli", "keys", "set", "plantid"],
        env=cli_env, input="a-new-key-123\n", capture_output=True, text=True, timeout=60,
        cwd=REPO, preexec_fn=preexec,
    )  # fmt: skip
    assert_clean(result.stderr)
    assert result.returncode == 3, result.stderr
    assert "PLANTID_KEYS_FILE" in result.stderr and "nothing stored" in result.stderr
    assert "a-new-key-123" not in result.stderr


def test_read_only_state_keeps_an_open_breaker_open(tmp_path, sandbox, cli_env, read_only_mounts):
    env = dict(cli_env, PLANTID_BREAKER_RESET_TIMEOUT="600")
    sandbox.configure(mode="error503")
    files = photos(tmp_path / "in", 4)
    for photo in files[:3]:  # three failures open the shared breaker
        assert run_plantid(["identify", photo], env).returncode == 4
    assert sandbox.stats()["plantid_identify"] == 3

    argv = read_only_mounts(Path(env["PLANTID_CACHE_DIR"]), ["identify", files[3]])
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert_clean(result.stderr)
    assert result.returncode == 4, result.stderr
    [record] = records_of(result.stdout)
    assert record["error"]["reason"] == "circuit-open"
    assert sandbox.stats()["plantid_identify"] == 3  # the read-only copy still says "open"
    assert result.stderr.count("shared state") == 1
