"""Red team: a cache folder mounted read-only (a shared NFS export, a container's ro volume).

Runs the real CLI inside `unshare -m` with PLANTID_CACHE_DIR bind-mounted read-only (root
only; skipped elsewhere).

HOLDS: answers stored before the folder went read-only are served without a call; the others
are bought once each and printed; exit 0.

DEFECT (noise, misleading): the read-only lock folder gives two warnings *per photo*:
`single-flight lock unavailable (... Read-only file system ...)` and `[LOCK] timeout <photo>
after 0.0s; going on without it` (there was no timeout). 16 photos gave 32 lines. Correct:
one warning per run that single flight is off (as for the cache and the shared state), and
no "timeout" for a lock that could not be created.

DEFECT (wrong exit code, a lie): `plantid breaker reset` on a read-only shared state prints
`plantid: breaker closed: plantid, plantnet`, exit 0, but changed nothing: every other
process still sees the breaker open. Correct: a configuration error (exit 3) naming
PLANTID_CACHE_DIR, as `cache clear` already does.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, run_plantid
from photos import green_photo

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare"
)


def _run_read_only(args, env):
    """`plantid args` with the cache folder read-only, in a mount namespace of its own."""
    cache = env["PLANTID_CACHE_DIR"]
    Path(cache).mkdir(parents=True, exist_ok=True)
    command = shlex.join([sys.executable, "-m", "plantid_cli", *map(str, args)])
    script = (
        f"mount --bind {shlex.quote(cache)} {shlex.quote(cache)}"
        f" && mount -o remount,bind,ro {shlex.quote(cache)} && exec {command}"
    )
    result = subprocess.run(
        ["unshare", "-m", "sh", "-c", script],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if "mount:" in result.stderr or "unshare:" in result.stderr:
        pytest.skip(f"cannot make a read-only mount here: {result.stderr.strip()}")
    return result


def _folder(tmp_path, n):
    return [
        green_photo(tmp_path / "p" / f"p{i:02d}.jpg", (160, 120), seed=700 + i) for i in range(n)
    ]


def test_read_only_cache_serves_what_is_stored_and_buys_the_rest_once(cli_env, sandbox, tmp_path):
    photos = _folder(tmp_path, 6)
    first = run_plantid(["identify", *photos[:2], "-q", "-f", "ndjson"], cli_env)
    assert first.returncode == 0, first.stderr
    result = _run_read_only(["identify", tmp_path / "p", "-q", "-f", "ndjson"], cli_env)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(r["status"] for r in records) == ["ok"] * 6
    assert sum(r["cached"] for r in records) == 2
    assert sandbox.stats()["plantid_identify"] == 6  # 2 before, 4 now: none twice


def test_read_only_lock_folder_warns_once_not_per_photo(cli_env, sandbox, tmp_path):
    _folder(tmp_path, 8)
    result = _run_read_only(["identify", tmp_path / "p", "-q", "-f", "ndjson"], cli_env)
    assert result.returncode == 0, result.stderr
    assert "[LOCK] timeout" not in result.stderr
    # (this test's own folder name has "lock" in it: look at the words, not the paths)
    words = result.stderr.replace(str(tmp_path), "<tmp>")
    lock_lines = [line for line in words.splitlines() if "lock" in line.lower()]
    assert len(lock_lines) == 1, lock_lines
    # and it reads like every other warning of the tool (it was a bare line)
    assert lock_lines[0].startswith("plantid: warning: "), lock_lines


def test_breaker_reset_on_read_only_state_is_an_error_not_a_false_success(
    cli_env, sandbox, tmp_path
):
    photos = _folder(tmp_path, 6)
    sandbox.configure(mode="error500")
    run_plantid(["identify", *photos, "-q", "-f", "ndjson", "-j", "1"], cli_env)
    before = run_plantid(["status", "-f", "table"], cli_env)
    assert "plantid: breaker open" in before.stdout, before.stdout
    result = _run_read_only(["breaker", "reset", "--yes"], cli_env)
    after = run_plantid(["status", "-f", "table"], cli_env)
    assert "plantid: breaker open" in after.stdout  # the read-only reset changed nothing ...
    assert result.returncode == 3, (result.returncode, result.stdout, result.stderr)  # ... say so
    assert "PLANTID_CACHE_DIR" in result.stderr
