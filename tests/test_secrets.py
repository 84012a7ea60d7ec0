"""Secrets: API keys never leave the process in clear; the stores are private; the cache is JSON.

The keys must never appear in stdout, stderr (every verbosity, JSON logs, --debug tracebacks),
any file under PLANTID_CACHE_DIR or the config folder, or `config show` — even when the upstream
echoes the key back in its error body (sandbox mode `echo_key`).
"""

from __future__ import annotations

import json
import os
import pickle
import sqlite3
import stat
from pathlib import Path

import pytest
from conftest import TEST_KEY, run_plantid
from photos import green_photo

PLANTNET_KEY = TEST_KEY + "-pn"


def records_of(result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def files_holding(root: Path, secret: str) -> list[str]:
    """Every file below `root` whose bytes contain the secret (plain, or as UTF-16, or in hex)."""
    needles = [
        secret.encode(),
        secret.encode("utf-16-le"),
        secret.encode().hex().encode(),
    ]
    found = []
    if not root.exists():
        return found
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if any(needle in data for needle in needles):
                found.append(str(path))
    return found


def assert_nowhere(secret: str, *texts: str, dirs: tuple[Path, ...] = ()) -> None:
    for text in texts:
        assert secret not in text
    for folder in dirs:
        assert files_holding(folder, secret) == []


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def photo(tmp_path):
    return green_photo(tmp_path / "leaf.jpg", (320, 240))


VERBOSITIES = (["-v"], ["-vv"], ["--debug"], ["-vv", "--debug", "--log-format", "json"])


def test_echoed_key_appears_nowhere(sandbox, cli_env, isolated_env, photo):
    sandbox.configure(mode="echo_key")
    outputs = []
    for flags in VERBOSITIES:
        result = run_plantid(["identify", photo, *flags], cli_env)
        assert result.returncode == 4
        [record] = records_of(result)
        assert record["error"]["code"] == "unavailable"
        outputs.append(result.stdout + result.stderr)
    assert sandbox.stats()["plantid_identify"] == 3  # the breaker opened after fail_max
    # Then a success, a breaker status and the cache listing: every place the key could land.
    sandbox.configure(mode=None)
    assert run_plantid(["breaker", "reset", "--yes"], cli_env).returncode == 0
    ok = run_plantid(["identify", photo, "-vv", "--debug"], cli_env)
    assert ok.returncode == 0, ok.stderr
    status = run_plantid(["status", "--format", "json"], cli_env)
    stats = run_plantid(["cache", "stats"], cli_env)
    outputs += [r.stdout + r.stderr for r in (ok, status, stats)]
    assert_nowhere(TEST_KEY, *outputs, dirs=(isolated_env,))


def test_echoed_key_in_a_4xx_body_is_redacted_in_the_record(sandbox, cli_env, photo):
    """A 4xx body is quoted in the message (it says what was wrong): the key is masked in it."""
    sandbox.configure(key="the-only-valid-key-000")  # our key is refused with a 401 ...
    result = run_plantid(["identify", photo, "-vv", "--debug"], cli_env)
    assert result.returncode == 3
    [record] = records_of(result)
    assert record["error"]["code"] == "auth"
    assert_nowhere(TEST_KEY, result.stdout, result.stderr)


def test_plantnet_key_in_the_url_appears_nowhere(sandbox, cli_env, isolated_env, photo):
    """Pl@ntNet's key is a query parameter: it must not leak through URLs, errors or logs."""
    sandbox.configure(mode="echo_key")
    flags = ["--provider", "plantnet", "-vv", "--debug"]
    failed = run_plantid(["identify", photo, *flags], cli_env)
    assert failed.returncode == 4, failed.stderr
    assert sandbox.stats()["plantnet_identify"] == 1
    sandbox.configure(mode=None)
    ok = run_plantid(["identify", photo, *flags], cli_env)
    assert ok.returncode == 0, ok.stderr
    json_logs = run_plantid(["identify", photo, *flags, "--log-format", "json"], cli_env)
    assert_nowhere(
        PLANTNET_KEY,
        failed.stdout + failed.stderr,
        ok.stdout + ok.stderr,
        json_logs.stdout + json_logs.stderr,
        dirs=(isolated_env,),
    )


def test_debug_traceback_and_exception_chain_are_redacted(capsys, monkeypatch):
    """The error boundary prints tracebacks (with --debug) through the one redaction filter."""
    from plantid_cli.cli import common
    from plantid_cli.errors import ServiceUnavailable
    from plantid_cli.redact import register_secret

    secret = "chain-secret-9f8e7d6c5b"
    register_secret(secret)
    monkeypatch.setitem(common._state, "debug", True)

    def failing() -> int:
        try:
            raise OSError(f"GET http://127.0.0.1:9/v2/identify/all?api-key={secret}")
        except OSError as inner:
            raise ServiceUnavailable(f"upstream said: key {secret} is bad") from inner

    assert common.run_guarded(failing) == 4
    err = capsys.readouterr().err
    assert "Traceback" in err and "api-key=****" in err
    assert secret not in err

    def buggy() -> int:
        raise RuntimeError(f"boom with {secret}")

    assert common.run_guarded(buggy) == 1
    assert secret not in capsys.readouterr().err


def test_log_records_with_args_and_exceptions_are_redacted():
    import io
    import logging

    from plantid_cli.redact import RedactingFilter, register_secret

    secret = "log-secret-1a2b3c4d"
    register_secret(secret)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("plantid.test-secrets")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("calling %s", f"https://x.invalid/?api-key={secret}&lang=en")
        try:
            raise ValueError(f"body echoes {secret}")
        except ValueError:
            logger.exception("failed for %s", secret)
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert secret not in text
    assert "api-key=****&lang=en" in text and "ValueError" in text


# --- keys set ------------------------------------------------------------------------------------


def test_keys_set_from_stdin_creates_0600_file_in_0700_folders(cli_env, isolated_env):
    keys_file = isolated_env / "config" / "nested" / "keys.json"
    env = {**cli_env, "PLANTID_KEYS_FILE": str(keys_file)}
    secret = "stored-key-5e6f7a8b9c"
    result = run_plantid(["keys", "set", "plantid"], env, input=secret + "\n")
    assert result.returncode == 0, result.stderr
    assert secret not in result.stdout + result.stderr
    assert mode_of(keys_file) == 0o600
    assert mode_of(keys_file.parent) == 0o700
    assert mode_of(keys_file.parent.parent) == 0o700  # parents created by us are private too
    assert json.loads(keys_file.read_text()) == {"plantid": secret}
    # Shown redacted, used by identify.
    env.pop("PLANTID_API_KEY")
    listed = run_plantid(["keys", "list"], env)
    assert secret not in listed.stdout + listed.stderr
    assert "****" in listed.stdout


def test_keys_set_never_takes_the_key_from_argv(cli_env, isolated_env):
    secret = "argv-key-0d1e2f3a4b"
    for args in (["keys", "set", "plantid", secret], ["keys", "set", "plantid", f"--key={secret}"]):
        result = run_plantid(args, cli_env, input="")
        assert result.returncode == 2
        assert secret not in result.stdout + result.stderr  # not even echoed in the complaint
        assert "never" in result.stderr
    assert not (isolated_env / "config" / "keys.json").exists()


def test_write_key_creates_the_file_0600_never_chmods(tmp_path, monkeypatch):
    """0600 at creation (O_CREAT with mode 0600 under any umask), not chmod-ed afterwards."""
    from plantid_cli import config

    opened = []
    real_open = os.open

    def spy_open(path, flags, mode=0o777, *args, **kwargs):
        if flags & os.O_CREAT:
            opened.append((os.fspath(path), flags, mode))
        return real_open(path, flags, mode, *args, **kwargs)

    def no_chmod(*args, **kwargs):
        raise AssertionError("keys file permissions must be right at creation, not fixed later")

    monkeypatch.setattr(os, "open", spy_open)
    monkeypatch.setattr(os, "chmod", no_chmod)
    monkeypatch.setattr(os, "fchmod", no_chmod)
    previous = os.umask(0)  # the most permissive umask: the mode given at creation decides
    try:
        keys_file = tmp_path / "cfg" / "keys.json"
        path = config.write_key("plantid", "k" * 20, {"PLANTID_KEYS_FILE": str(keys_file)})
    finally:
        os.umask(previous)
    assert path == keys_file
    assert [(mode, bool(flags & os.O_EXCL)) for _, flags, mode in opened] == [(0o600, True)]
    assert mode_of(keys_file) == 0o600
    assert mode_of(keys_file.parent) == 0o700


def test_config_show_redacts_keys_and_url_passwords(cli_env):
    env = {**cli_env, "PLANTID_REDIS_URL": "redis://:hunter2-redis-pw@localhost:6379/0"}
    for args in (["config", "show"], ["config", "show", "--json"]):
        result = run_plantid(args, env)
        assert result.returncode == 0, result.stderr
        assert_nowhere(TEST_KEY, result.stdout, result.stderr)
        assert_nowhere(PLANTNET_KEY, result.stdout, result.stderr)
        assert "hunter2-redis-pw" not in result.stdout
        assert "****" in result.stdout


# --- the cache folder and its contents -----------------------------------------------------------


def test_cache_folders_are_0700(sandbox, cli_env, isolated_env, photo):
    result = run_plantid(["identify", photo], cli_env)
    assert result.returncode == 0, result.stderr
    cache_dir = isolated_env / "cache"
    assert mode_of(cache_dir) == 0o700
    for sub in cache_dir.iterdir():
        if sub.is_dir():
            assert mode_of(sub) == 0o700, sub


def plant_pickle(cache_db: Path, marker: Path) -> int:
    """Replace every cached value with a pickle that would create `marker` when loaded."""

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    payload = pickle.dumps(Exploit())
    with sqlite3.connect(cache_db) as con:
        changed = con.execute(
            "UPDATE Cache SET mode = 4, value = ?, filename = NULL", (payload,)
        ).rowcount
    return changed


def test_a_planted_pickle_is_never_loaded_and_the_photo_still_answered(
    sandbox, cli_env, isolated_env, photo, tmp_path
):
    first = run_plantid(["identify", photo], cli_env)
    assert first.returncode == 0, first.stderr
    marker = tmp_path / "PWNED"
    assert plant_pickle(isolated_env / "cache" / "results" / "cache.db", marker) == 1
    second = run_plantid(["identify", photo, "-v"], cli_env)
    assert second.returncode == 0, second.stderr
    assert not marker.exists()
    [record] = records_of(second)
    assert (record["status"], record["cached"]) == ("ok", False)  # refused row = a miss
    assert "non-JSON cache value" in second.stderr
    assert second.stderr.count("non-JSON cache value") == 1
    assert sandbox.stats()["plantid_identify"] == 2
    # The fresh answer replaced the planted row: the third run is a plain cache hit.
    third = run_plantid(["identify", photo], cli_env)
    [record] = records_of(third)
    assert record["cached"] is True
    assert not marker.exists()
    assert sandbox.stats()["plantid_identify"] == 2


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_damaged_cache_database_is_moved_aside_and_rebuilt(
    sandbox, cli_env, isolated_env, photo, damage
):
    assert run_plantid(["identify", photo], cli_env).returncode == 0
    results = isolated_env / "cache" / "results"
    db = results / "cache.db"
    data = db.read_bytes()
    for companion in results.glob("cache.db-*"):
        companion.unlink()
    db.write_bytes(data[:1000] if damage == "truncate" else os.urandom(len(data)))
    result = run_plantid(["identify", photo], cli_env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("was damaged") == 1, result.stderr
    [record] = records_of(result)
    assert record["status"] == "ok"
    assert list(results.glob("cache.db.corrupt-*"))
    again = run_plantid(["identify", photo], cli_env)
    assert "was damaged" not in again.stderr
    assert records_of(again)[0]["cached"] is True
