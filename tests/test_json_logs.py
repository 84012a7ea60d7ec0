"""`--log-format json` (issue 9): every stderr line is one JSON object, and none holds a key."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import warnings

import pytest
from conftest import REPO, TEST_KEY, run_plantid
from PIL import Image


def photos(folder, count):
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        Image.new("RGB", (64, 48), (30 + 7 * n, 160, 60)).save(folder / f"p{n}.jpg", "JPEG")
    (folder / "p0-copy.jpg").write_bytes((folder / "p0.jpg").read_bytes())
    (folder / "broken.jpg").write_bytes(b"not a picture")
    return folder


def json_lines(stderr, *secrets):
    """Each stderr line parsed; fails on any line that is not a JSON object or shows a secret."""
    objects = []
    for line in stderr.splitlines():
        assert line.strip(), "blank line on stderr"
        obj = json.loads(line)
        assert isinstance(obj, dict), line
        assert {"ts", "level", "event"} <= obj.keys(), line
        for secret in secrets:
            assert secret not in line
        objects.append(obj)
    return objects


def test_every_line_is_json_with_events_and_numbers(sandbox, cli_env, tmp_path):
    folder = photos(tmp_path / "in", 3)
    result = run_plantid(["identify", folder, "-f", "ndjson", "--log-format", "json"], cli_env)
    assert result.returncode == 1, result.stderr  # broken.jpg
    objects = json_lines(result.stderr, TEST_KEY)
    events = [obj["event"] for obj in objects]
    assert events.count("upstream.call") == sandbox.stats()["plantid_identify"] == 3
    assert events.count("cache.miss") >= 4
    assert "cache.hit" in events  # the copy, answered once
    call = next(obj for obj in objects if obj["event"] == "upstream.call")
    assert call["provider"] == "plantid" and call["outcome"] == "ok"
    assert isinstance(call["seconds"], float) and call["path"].endswith(".jpg")
    assert call["level"] == "info" and call["ts"].endswith("+00:00")
    summary = objects[-1]
    assert summary["event"] == "run.summary"
    assert (summary["images"], summary["ok"], summary["error"], summary["cached"]) == (5, 4, 1, 1)
    assert summary["credits_used"] == 3 and isinstance(summary["seconds"], float)


def test_global_flag_and_environment_select_json_too(sandbox, cli_env, tmp_path):
    folder = photos(tmp_path / "in", 1)
    for args, env in (
        (["--log-format", "json", "identify", folder], cli_env),
        (["identify", folder], {**cli_env, "PLANTID_LOG_FORMAT": "json"}),
    ):
        result = run_plantid([*args, "-f", "ndjson"], env)
        assert result.returncode == 1
        assert json_lines(result.stderr, TEST_KEY)[-1]["event"] == "run.summary"


def test_failures_errors_and_tracebacks_are_json_without_the_key(sandbox, cli_env, tmp_path):
    folder = photos(tmp_path / "in", 2)
    # The service answers 500 with the received key in its body; the breaker opens.
    sandbox.configure(mode="echo_key")
    env = {**cli_env, "PLANTID_BREAKER_FAIL_MAX": "1"}
    failing = run_plantid(["identify", folder, "-f", "ndjson", "--log-format", "json", "-vv"], env)
    assert failing.returncode == 4
    assert TEST_KEY not in failing.stdout
    events = [obj["event"] for obj in json_lines(failing.stderr, TEST_KEY)]
    assert "circuit.state" in events and "upstream.call" in events
    assert events[-1] == "run.summary"

    # An error before any work (no key), with --debug: the error and the traceback are JSON.
    env = {k: v for k, v in cli_env.items() if k != "PLANTID_API_KEY"}
    no_key = run_plantid(["identify", folder, "--log-format", "json", "--debug"], env)
    assert no_key.returncode == 3
    objects = json_lines(no_key.stderr)
    assert [obj["event"] for obj in objects] == ["traceback", "error"]
    assert objects[-1]["level"] == "error" and "no API key" in objects[-1]["message"]
    assert "Traceback" in objects[0]["message"]


def run_on_a_terminal(args, env):
    """Run the CLI with stderr on a pty (so it is a terminal); returns (exit code, stderr text)."""
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "plantid_cli", *map(str, args)],
            env={**env, "TERM": "xterm", "COLUMNS": "200"},
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=slave,
        )
        os.close(slave)
        slave = None
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        proc.stdout.read()
        code = proc.wait(timeout=60)
    finally:
        os.close(master)
        if slave is not None:
            os.close(slave)
    return code, b"".join(chunks).decode().replace("\r\n", "\n")


def test_no_progress_bar_on_a_terminal(sandbox, cli_env, tmp_path):
    folder = photos(tmp_path / "in", 2)
    code, text = run_on_a_terminal(["identify", folder, "-f", "ndjson"], cli_env)
    assert code == 1
    assert "identify" in text and "\x1b" in text  # the control run: Rich draws its bar
    code, text = run_on_a_terminal(
        ["identify", folder, "-f", "ndjson", "--log-format", "json", "--refresh"], cli_env
    )
    assert code == 1
    assert "\x1b" not in text  # no cursor movement, no colours: no progress bar
    assert json_lines(text, TEST_KEY)[-1]["event"] == "run.summary"


def test_warnings_and_other_loggers_become_json(capsys):
    from plantid_cli.cli import common

    try:
        common.setup_logging(log_format="json")
        warnings.warn("something odd in a library", UserWarning, stacklevel=1)
        logging.getLogger("somelib").warning("disk almost full at %s", "/tmp")
        logging.getLogger("plantid").warning("key %s leaked?", "x", extra={"event": "test"})
        common.print_note("a note", event="note", count=3)
    finally:
        common.setup_logging(log_format="text")
        logging.captureWarnings(False)
        common._state["json_logs"] = None
    objects = json_lines(capsys.readouterr().err)
    assert [obj["event"] for obj in objects] == ["log", "log", "test", "note"]
    assert objects[0]["logger"] == "py.warnings" and "something odd" in objects[0]["message"]
    assert objects[1]["logger"] == "somelib" and objects[1]["level"] == "warning"
    assert objects[3]["count"] == 3


def test_exempi_parser_messages_stay_json(sandbox, cli_env, tmp_path):
    """Exempi prints its parser's complaints ("XML parsing failure") to fd 2 from C: with JSON
    logs they must arrive inside JSON objects, for `tag` and for `identify --write-xmp`."""
    folder = photos(tmp_path / "p", 2)
    for name in ("p0", "p1"):
        (folder / f"{name}.xmp").write_text("<x:xmpmeta garbage <<<")
    identified = run_plantid(["identify", folder / "p0.jpg", "-f", "ndjson"], cli_env)
    assert identified.returncode == 0, identified.stderr
    results = tmp_path / "results.ndjson"
    results.write_text(identified.stdout)
    tagged = run_plantid(["--log-format", "json", "tag", results], cli_env)
    run = run_plantid(
        ["identify", folder / "p1.jpg", "--write-xmp", "--log-format", "json"], cli_env
    )
    for result in (tagged, run):
        lines = json_lines(result.stderr)
        text = " ".join(str(obj.get("message", "")) for obj in lines)
        assert "not valid XMP" in text, result.stderr
        assert "XML parsing failure" in text  # Exempi's own words, inside a JSON object
    assert (folder / "p0.xmp").read_text() == "<x:xmpmeta garbage <<<"  # left as it was
