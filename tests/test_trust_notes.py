"""What the tool says agrees with what happened, once (red-team pass on issue 12, items 4, 9).

Real `plantid` processes against the test's sandbox; counts are exact, subprocess timeouts are
hang protection only.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import pytest
from conftest import REPO, Lines, run_plantid, spawn, wait_for
from runs import make_photos


def test_credits_exhausted_is_said_once_per_run_not_per_photo_in_flight(sandbox, cli_env, tmp_path):
    """Every photo in flight when the credits run out gets its own 429: one warning, not one
    per photo. Sequencing: the sandbox holds every call until all four are in flight, so all
    four get a 429."""
    photos = make_photos(tmp_path / "p", 4)
    sandbox.configure(mode="credits", hold_after=0)
    proc = spawn(["identify", photos, "-j", "4", "-f", "ndjson", "-vv"], cli_env, text=False)
    notes, seen = Lines(proc.stderr), []
    wait_for(lambda: sandbox.stats()["plantid_identify"] == 4)
    sandbox.configure(hold_after=None)
    out, err = proc.communicate(timeout=120)
    said = b"\n".join([*seen, notes.buffer + err]).decode()
    assert proc.returncode == 4, said
    assert said.count("[CREDITS] plantid credits exhausted") == 1, said
    assert [json.loads(line)["status"] for line in out.splitlines()] == ["error"] * 4


def test_sigterm_note_says_what_to_do_after_a_sigterm(sandbox, cli_env, tmp_path):
    photos = make_photos(tmp_path / "p", 2)
    sandbox.configure(hold_after=0)
    proc = spawn(["identify", photos, "-f", "ndjson"], cli_env, text=False)
    wait_for(lambda: sandbox.stats()["plantid_identify"] == 2)
    proc.send_signal(signal.SIGTERM)
    text = Lines(proc.stderr).until("stopping").decode()
    sandbox.configure(hold_after=None)
    proc.communicate(timeout=120)
    assert "stopping (SIGTERM)" in text
    assert "send it again to abort" in text
    assert "Ctrl-C" not in text  # a job stopped by `timeout` or systemd has no Ctrl-C
    assert proc.returncode == 143


def test_breaker_open_line_and_status_count_the_same_failures(sandbox, cli_env, tmp_path):
    """Calls in flight when the breaker opens fail after it: the `[CIRCUIT] ... -> open (N
    failures)` line and `plantid status` must give the same N (they gave 3 and 5)."""
    photos = make_photos(tmp_path / "p", 8)
    env = dict(cli_env, PLANTID_BREAKER_FAIL_MAX="2")
    sandbox.configure(mode="error500", hold_after=1)  # 1 fails alone, the next 4 fail together
    proc = spawn(["identify", photos, "-j", "4", "-f", "ndjson", "-q"], env, text=False)
    wait_for(lambda: sandbox.stats()["plantid_identify"] == 5)  # 1 answered, 4 held
    sandbox.configure(hold_after=None)
    _, err = proc.communicate(timeout=120)
    said = err.decode()
    opened = re.findall(r"\[CIRCUIT\] plantid closed -> open \((\d+) failures\)", said)
    assert len(opened) == 1, said
    # (2 or more: failures landing together may all count before the state changes)
    assert int(opened[0]) >= 2
    status = run_plantid(["status", "-f", "table"], env)
    assert f"plantid: breaker open ({opened[0]} failures)" in status.stdout, (said, status.stdout)
    assert sandbox.stats()["plantid_identify"] == 5  # nothing after it opened
    assert proc.returncode == 4


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_version_and_help_to_a_full_disk_are_a_clear_error(cli_env, flag):
    """Typer prints these itself, outside the commands' error boundary (was a traceback)."""
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, "-m", "plantid_cli", flag],
            env=cli_env, cwd=REPO, stdout=full, stderr=subprocess.PIPE, text=True, timeout=120,
        )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr == "plantid: error: cannot write the output: No space left on device\n"
    assert result.returncode == 1
