"""A cache that cannot write never costs an answer (issue 12): disk full, damaged values,
a read-only cache folder. Real CLI subprocesses against the sandbox; the disk is made full
with a real file-size limit (RLIMIT_FSIZE: every write past it fails with EFBIG, as a full disk
fails with ENOSPC) and read-only with a real read-only bind mount."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
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
    assert result.stderr.count(NOT_STORED) <= 1
