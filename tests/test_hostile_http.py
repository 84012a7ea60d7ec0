"""Answers built to hurt: a gzip body that decodes to half a gigabyte, headers dripped a byte
at a time. The real CLI in a subprocess against the test's sandbox; counts and order, no clock.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from conftest import REPO
from photos import green_photo
from runs import identify_bomb, identify_one


def test_a_gzip_bomb_is_a_bad_response_and_memory_stays_bounded(tmp_path, sandbox, cli_env):
    sandbox.configure(mode="gzip_bomb", bomb_mb=512)  # ~500 kB sent, 512 MiB once decoded
    photo = green_photo(tmp_path / "leaf.jpg")
    record, peak_kb = identify_bomb(photo, cli_env)
    # a 2xx: charged, so stored and never bought again (tests/test_charged_cut.py)
    assert (record["error"]["code"], record["error"]["reason"]) == ("bad_response", "bad-response")
    assert "larger than" in record["error"]["message"]
    assert peak_kb < 400 * 1024, f"the CLI peaked at {peak_kb // 1024} MB"
    assert sandbox.stats()["plantid_identify"] == 1


def test_a_damaged_gzip_answer_is_a_bad_response(tmp_path, sandbox, cli_env):
    sandbox.configure(mode="bad_gzip", bomb_mb=1)
    photo = green_photo(tmp_path / "leaf.jpg")
    result = subprocess.run(
        [sys.executable, "-m", "plantid_cli", "identify", str(photo)],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert result.returncode == 4, result.stdout + result.stderr
    [record] = [json.loads(line) for line in result.stdout.splitlines()]
    # a 2xx: charged, so stored and never bought again (tests/test_charged_cut.py)
    assert (record["error"]["code"], record["error"]["reason"]) == ("bad_response", "bad-response")
    assert "not valid gzip" in record["error"]["message"]


def test_headers_dripped_a_byte_at_a_time_are_cut_by_the_total_deadline(tmp_path, sandbox, cli_env):
    """httpx's read timeout (1 s) is per read: a byte every 0.2 s never trips it. The total
    deadline does: the client hangs up while the sandbox is still sending the headers."""
    sandbox.configure(mode="header_drip", drip_interval=0.2)
    photo = green_photo(tmp_path / "leaf.jpg")
    code, record, stderr = identify_one(photo, cli_env, "--timeout", "1")
    assert code == 4, stderr
    assert (record["error"]["code"], record["error"]["reason"]) == ("unavailable", "timeout")
    # The sandbox notices the hang-up at its next byte; wait for that (hang protection only).
    give_up = time.monotonic() + 60
    while time.monotonic() < give_up:
        [call] = sandbox.stats()["calls"]
        if call["client_gone"]:
            break
        time.sleep(0.05)
    assert call["client_gone"] is True
    assert 0 < call["header_sent"] < call["header_bytes"]  # gone before the headers ended
