"""The batch engine end to end: real `plantid` processes against the test's sandbox.

Streaming, input order, Ctrl-C and kill -9 resumability, the credit budget, credits running out
mid-batch, Retry-After, and the progress bar staying off stdout.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO, Lines, run_plantid, spawn, wait_for
from runs import make_photos, records


def identify_calls(sandbox):
    return sandbox.stats()["plantid_identify"]


def test_ndjson_streams_each_record_the_moment_it_is_ready(sandbox, cli_env, tmp_path):
    photos = make_photos(tmp_path / "p", 12)
    sandbox.configure(hold_after=4)  # calls after the 4th wait until the test releases them
    proc = spawn(["identify", photos, "-j", "4", "-f", "ndjson", "-q"], cli_env, text=False)
    lines = Lines(proc.stdout)
    first = json.loads(lines.next())
    # the first record is out while later calls are still unanswered: it was not held back
    calls = sandbox.stats()["calls"]
    assert first["status"] == "ok" and len(calls) <= 8
    assert all(c["t_end"] is None for c in calls if c["seq"] > 4)
    sandbox.configure(hold_after=None)
    rest = [json.loads(lines.next()) for _ in range(11)]
    proc.wait(60)
    assert proc.returncode == 0, proc.stderr.read()
    assert sorted(r["index"] for r in [first, *rest]) == list(range(12))
    assert all(r["status"] == "ok" for r in rest)
    assert identify_calls(sandbox) == 12


def test_json_keeps_input_order(sandbox, cli_env, tmp_path):
    photos = make_photos(tmp_path / "p", 10)
    sandbox.configure(latency_ms=30)
    result = run_plantid(["identify", photos, "-j", "4", "-f", "json", "-q"], cli_env)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert [r["index"] for r in document] == list(range(10))
    assert [r["path"] for r in document] == sorted(r["path"] for r in document)


def test_ctrl_c_stores_in_flight_answers_and_rerun_pays_only_the_rest(sandbox, cli_env, tmp_path):
    photos = make_photos(tmp_path / "p", 12)
    sandbox.configure(hold_after=2)  # two answered, then the next two held in flight
    proc = spawn(["identify", photos, "-j", "2", "-f", "ndjson"], cli_env, text=False)
    lines = Lines(proc.stdout)
    first = lines.next()
    assert json.loads(first)["status"] == "ok"
    wait_for(lambda: identify_calls(sandbox) == 4)
    proc.send_signal(signal.SIGINT)
    notes = Lines(proc.stderr)
    notes.until("waiting for answers in flight")
    sandbox.configure(hold_after=None)  # the calls in flight land after the Ctrl-C
    out, err = proc.communicate(timeout=60)
    err = notes.buffer.decode() + err.decode()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "(interrupted)" in err and "images" in err  # the summary line
    answered = 1 + len(records((lines.buffer + out).decode()))
    paid = identify_calls(sandbox)
    assert answered == paid == 4  # every answer paid for was written (and stored); no new call

    sandbox.reset()
    rerun = run_plantid(["identify", photos, "-j", "4", "-f", "ndjson", "-q"], cli_env)
    assert rerun.returncode == 0, rerun.stderr
    again = records(rerun.stdout)
    assert len(again) == 12 and all(r["status"] == "ok" for r in again)
    assert sum(r["cached"] for r in again) == paid
    assert identify_calls(sandbox) == 12 - paid


def test_kill_9_then_rerun_answers_everything_paying_at_most_in_flight_twice(
    sandbox, cli_env, tmp_path
):
    photos = make_photos(tmp_path / "p", 16)
    sandbox.configure(hold_after=4)
    proc = spawn(["identify", photos, "-j", "4", "-f", "ndjson", "-q"], cli_env, text=False)
    Lines(proc.stdout).next()  # the first wave is answered and stored ...
    wait_for(lambda: identify_calls(sandbox) == 8)  # ... and the second is held in flight
    proc.kill()
    proc.communicate(timeout=30)
    sandbox.configure(hold_after=None)
    before = identify_calls(sandbox)
    assert before == 8

    rerun = run_plantid(["identify", photos, "-j", "4", "-f", "ndjson", "-q"], cli_env)
    assert rerun.returncode == 0, rerun.stderr
    again = records(rerun.stdout)
    assert sorted(r["index"] for r in again) == list(range(16))
    assert all(r["status"] == "ok" for r in again)
    assert identify_calls(sandbox) <= 16 + 4  # only calls in flight at the kill are paid twice


def test_max_credits_refuses_before_any_call(sandbox, cli_env, tmp_path):
    photos = make_photos(tmp_path / "p", 5)
    result = run_plantid(["identify", photos, "--max-credits", "2", "-f", "ndjson"], cli_env)
    assert result.returncode == 2
    assert "5 credits" in result.stderr and "--max-credits is 2" in result.stderr
    assert result.stdout == ""
    assert identify_calls(sandbox) == 0


def test_max_credits_counts_only_photos_not_in_the_cache(sandbox, cli_env, tmp_path):
    photos = make_photos(tmp_path / "p", 3)
    first = run_plantid(["identify", photos, "-f", "ndjson", "-q"], cli_env)
    assert first.returncode == 0, first.stderr
    make_photos(photos, 2, start=3)
    sandbox.reset()
    result = run_plantid(["identify", photos, "--max-credits", "2", "-f", "ndjson"], cli_env)
    assert result.returncode == 0, result.stderr
    assert len(records(result.stdout)) == 5
    assert identify_calls(sandbox) == 2


def test_credits_running_out_mid_batch_stops_sending(sandbox, cli_env, tmp_path):
    photos = make_photos(tmp_path / "p", 6)
    sandbox.configure(credits=3)
    # --yes: run on although usage_info says 3 are left for 6 photos (the run's own guard)
    result = run_plantid(["identify", photos, "-j", "1", "-f", "ndjson", "-q", "--yes"], cli_env)
    assert result.returncode == 4
    found = sorted(records(result.stdout), key=lambda r: r["index"])
    assert [r["status"] for r in found] == ["ok"] * 3 + ["error"] * 3
    assert [r["error"]["code"] for r in found[3:]] == ["credits"] * 3
    assert identify_calls(sandbox) == 4  # the 4th got the 429; the last two were never sent


def test_credits_running_out_with_concurrency_stops_new_calls(sandbox, cli_env, tmp_path):
    photos = make_photos(tmp_path / "p", 24)
    # the first three calls are paid; the next four (one per worker) are held in flight
    sandbox.configure(credits=3, hold_after=3)
    proc = spawn(
        ["identify", photos, "-j", "4", "-f", "ndjson", "-q", "--yes"], cli_env, text=False
    )  # --yes: past the credit check (3 left for 24 photos), to meet the 429s themselves
    lines = Lines(proc.stdout)
    found = [json.loads(lines.next()) for _ in range(3)]
    wait_for(lambda: identify_calls(sandbox) == 7)
    sandbox.configure(hold_after=4)  # one held call gets its 429 ...
    while found[-1]["status"] == "ok":  # ... and the run has seen it once its record is out
        found.append(json.loads(lines.next()))
    assert found[-1]["error"]["code"] == "credits"
    sandbox.configure(hold_after=None)  # the calls sent before it land (429 too)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 4, err
    found += records((lines.buffer + out).decode())
    assert len(found) == 24
    assert sum(r["status"] == "ok" for r in found) == 3
    assert {r["error"]["code"] for r in found if r["status"] == "error"} == {"credits"}
    calls = sandbox.stats()["calls"]
    # after the first 429 arrived, nothing more was sent: only the calls already in flight
    assert sorted(c["status"] for c in calls) == [201] * 3 + [429] * 4


def test_retry_honours_retry_after(sandbox, cli_env, tmp_path):
    photos = make_photos(tmp_path / "p", 1)
    sandbox.configure(mode="error503", retry_after=1.6)
    env = {**cli_env, "PLANTID_RETRIES": "1"}
    result = run_plantid(["identify", photos, "-f", "ndjson", "-v"], env)
    assert result.returncode == 4
    assert records(result.stdout)[0]["error"]["code"] == "unavailable"
    calls = sandbox.stats()["calls"]
    assert len(calls) == 2
    gap = calls[1]["t_start"] - calls[0]["t_end"]
    assert gap >= 1.5  # backoff alone would be 0.25-0.75 s
    # and the wait planned was the server's, not more: the retry says so
    assert "attempt 2 in 1.6s" in result.stderr, result.stderr


def run_in_pty(args, env, timeout=30):
    """Run with stderr (and stdin) on a terminal, stdout on a pipe: (rc, stdout, terminal)."""
    main, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "plantid_cli", *map(str, args)],
        env={**env, "COLUMNS": "160", "TERM": "xterm"},
        cwd=REPO,
        stdin=secondary,
        stdout=subprocess.PIPE,
        stderr=secondary,
    )
    os.close(secondary)
    screen = b""
    deadline = time.monotonic() + timeout
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
    out = proc.stdout.read()
    proc.wait(5)
    os.close(main)
    return proc.returncode, out.decode(), screen.decode("utf-8", "replace")


def test_progress_bar_on_a_terminal_never_touches_stdout(sandbox, cli_env, tmp_path):
    photos = make_photos(tmp_path / "p", 12)
    sandbox.configure(latency_ms=150)
    rc, out, screen = run_in_pty(["identify", photos, "-j", "4", "-f", "ndjson", "--yes"], cli_env)
    assert rc == 0, screen
    found = records(out)  # every stdout line is a record, nothing else
    assert sorted(r["index"] for r in found) == list(range(12))
    assert "identify" in screen and "12/12" in screen  # the bar, with its total known
    assert "12 images" in screen  # the summary line
    assert "\x1b" not in out


def test_quiet_on_a_terminal_shows_no_bar(sandbox, cli_env, tmp_path):
    photos = make_photos(tmp_path / "p", 3)
    rc, out, screen = run_in_pty(["identify", photos, "-f", "ndjson", "-q"], cli_env)
    assert rc == 0, screen
    assert len(records(out)) == 3
    assert screen.strip() == ""


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_version_and_help_do_not_import_pydantic(flag, cli_env):
    code = (
        f"import sys, runpy; sys.argv = ['plantid', {flag!r}]\n"
        "try:\n    runpy.run_module('plantid_cli', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print('pydantic' in sys.modules, 'httpx' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=cli_env, cwd=REPO, capture_output=True, text=True
    )
    assert result.stdout.strip().splitlines()[-1] == "False False"


def test_negative_max_credits_is_a_usage_error(sandbox, cli_env, tmp_path):
    photos = make_photos(tmp_path / "p", 1)
    result = run_plantid(["identify", photos, "--max-credits", "-1"], cli_env)
    assert result.returncode == 2
    assert "--max-credits must be 0 or more" in result.stderr
    assert identify_calls(sandbox) == 0


def test_max_credits_with_paths_on_stdin_runs_every_photo(sandbox, cli_env, tmp_path):
    """The budget count must not use up stdin: the run needs the same list."""
    folder = make_photos(tmp_path / "p", 3)
    listing = "".join(f"{path}\n" for path in sorted(folder.iterdir()))
    result = run_plantid(
        ["identify", "-", "--max-credits", "5", "-f", "ndjson"], cli_env, input=listing
    )
    assert result.returncode == 0, result.stderr
    assert len(records(result.stdout)) == 3
    assert identify_calls(sandbox) == 3
