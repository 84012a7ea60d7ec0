"""Every command that prints, against a stdout that refuses: a full disk, a stdout closed at
start (`>&-`), a pipe whose reader has left.

DEFECT (red team, session 14): `search`, `about`, `refetch` and `checklist` to /dev/full ended
in `internal error: OSError: [Errno 28] No space left on device`; `search` with stdout closed
in `internal error: AttributeError: 'NoneType' object has no attribute 'write'`; `checklist`
(its Rich table) to a closed pipe exited 1 without a word, where `| head` is a quiet exit 0.
Correct, for every command alike: a full disk is the one line `plantid: error: cannot write
the output: No space left on device`, exit 1; a stdout closed at start says so, exit 1; a
reader that left is exit 0 and silence.

DEFECT (found with these): `report -o -` wrote the page to a file named `-` in the current
folder. Correct: `-` is stdout, as for identify's `-o -`.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import REPO
from photos import green_photo

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")

COMMANDS = {
    "search": ["search", "quercus"],
    "search-json": ["search", "quercus", "-f", "json"],
    "about": ["about", "Rosa canina"],
    "checklist-table": ["checklist", "{results}"],
    "checklist-csv": ["checklist", "-f", "csv", "{results}"],
    "checklist-json": ["checklist", "-f", "json", "{results}"],
    "refetch": ["refetch", "{results}"],
    "report": ["report", "{results}", "-o", "-", "-q"],
    "status": ["status"],
    "usage": ["usage"],
}


@pytest.fixture
def results(cli_env, sandbox, tmp_path):
    photos = tmp_path / "photos"
    for i in range(3):
        green_photo(photos / f"p{i}.jpg", (200, 150), seed=700 + i)
    path = tmp_path / "results.ndjson"
    with open(path, "w") as out:
        done = subprocess.run(
            [sys.executable, "-m", "plantid_cli", "identify", str(photos), "-q", "-f", "ndjson"],
            env=cli_env, cwd=REPO, stdout=out, stderr=subprocess.PIPE, text=True, timeout=120,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return path


def _argv(name, results):
    return [part.replace("{results}", str(results)) for part in COMMANDS[name]]


def _run(argv, env, *, stdout=None, closed=False):
    command = [sys.executable, "-m", "plantid_cli", *argv]
    if closed:  # descriptor 1 closed before the interpreter starts, as `>&-` leaves it
        command = ["sh", "-c", 'exec "$@" >&-', "sh", *command]
    return subprocess.run(command, env=env, cwd=REPO, stdout=stdout, stderr=subprocess.PIPE,
                          text=True, timeout=120)  # fmt: skip


def _clean(stderr):
    assert "internal error" not in stderr, stderr
    assert "Traceback" not in stderr, stderr


#: How stdout refuses, and the one line that says so.
REFUSALS = {
    "a full disk": "No space left on device",
    "a stdout closed at start": "standard output is closed",
}


@pytest.mark.parametrize("refusal", sorted(REFUSALS))
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_refusing_stdout_is_one_clear_line(name, refusal, cli_env, results):
    if refusal == "a full disk":
        with open("/dev/full", "w") as full:
            done = _run(_argv(name, results), cli_env, stdout=full)
    else:
        done = _run(_argv(name, results), cli_env, closed=True)
    _clean(done.stderr)
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines()[-1] == (
        f"plantid: error: cannot write the output: {REFUSALS[refusal]}"
    )


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_reader_that_left_is_a_quiet_success(name, cli_env, results):
    reader, writer = os.pipe()
    os.close(reader)  # gone before the first byte: every write is EPIPE
    try:
        done = _run(_argv(name, results), cli_env, stdout=writer)
    finally:
        os.close(writer)
    assert done.stderr == ""
    assert done.returncode == 0


def test_report_to_dash_is_the_page_on_stdout_not_a_file_named_dash(cli_env, results, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "plantid_cli", "report", str(results), "-o", "-"],
        env=cli_env, cwd=work, capture_output=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.lstrip().lower().startswith(b"<!doctype html")
    assert done.stdout.rstrip().endswith(b"</html>")
    assert done.stdout.count(b'class="card') == 3
    assert list(work.iterdir()) == []
    assert b"report written to stdout (3 cards" in done.stderr


# Older defects the red team found while checking the above (session 15).


@pytest.mark.parametrize("argv", [["--help"], ["identify", "--help"], ["cache", "--help"]])
def test_help_to_a_reader_that_left_is_a_quiet_success(argv, cli_env):
    """DEFECT: `plantid --help | head -1` exited 1 without a word (Rich's own console exits 1
    on a closed pipe, under Typer's help)."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        done = _run(argv, cli_env, stdout=writer)
    finally:
        os.close(writer)
    assert (done.returncode, done.stderr) == (0, "")


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["--version"], ["identify", "--help"], ["cache", "-h"], ["--show-completion"]],
)
def test_help_or_version_to_a_stdout_closed_at_start_is_one_clear_line(argv, cli_env):
    """DEFECT: `plantid --help >&-` exited 0 having written nothing (Typer's echo skips a
    missing stdout), where every command says it could not write and exits 1. The same for
    `--show-completion >&-`, whose one job is its output (session 18)."""
    done = _run(argv, {**cli_env, "SHELL": "/bin/bash"}, closed=True)
    _clean(done.stderr)
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines()[-1] == (
        "plantid: error: cannot write the output: standard output is closed"
    )


@pytest.mark.parametrize("argv", [[], ["cache"], ["keys"], ["-v", "config"]])
def test_a_group_without_its_command_to_a_closed_stdout_is_one_clear_line(argv, cli_env):
    """DEFECT (session 19): `plantid >&-` and `plantid cache >&-` (a group named without a
    command: its help on stdout, exit 2) ended with exit 2 and not a word. Correct: the line
    every command gives for a stdout it cannot write, exit 1; a usage error still goes to
    stderr as usual (`plantid cache -v`, a group given an option and no command)."""
    done = _run(argv, cli_env, closed=True)
    _clean(done.stderr)
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [
        "plantid: error: cannot write the output: standard output is closed"
    ]
    usage = _run(["cache", "-v"], cli_env, closed=True)
    assert usage.returncode == 2
    assert "No such option: -v" in usage.stderr


def test_keys_set_with_stdin_closed_is_a_usage_error(cli_env, tmp_path):
    """DEFECT: `plantid keys set plantid <&-` ended in `internal error: AttributeError`."""
    keys = tmp_path / "keys.json"
    command = ["sh", "-c", 'exec "$@" <&-', "sh", sys.executable, "-m", "plantid_cli", "keys",
               "set", "plantid"]  # fmt: skip
    done = subprocess.run(command, env={**cli_env, "PLANTID_KEYS_FILE": str(keys)}, cwd=REPO,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "no key given: stdin is closed" in done.stderr
    assert not keys.exists()


def test_a_piped_key_stdin_cannot_decode_is_a_usage_error_never_shown(cli_env, tmp_path):
    """DEFECT: a key that is not text in stdin's encoding (PYTHONIOENCODING=ascii) ended in
    `internal error: UnicodeDecodeError`, whose text quotes the bytes."""
    keys = tmp_path / "keys.json"
    env = {**cli_env, "PLANTID_KEYS_FILE": str(keys), "PYTHONIOENCODING": "ascii"}
    done = subprocess.run([sys.executable, "-m", "plantid_cli", "keys", "set", "plantid"],
                          env=env, cwd=REPO, input="k\u00e9y-0123456789\n".encode(),
                          capture_output=True, timeout=60)  # fmt: skip
    stderr = done.stderr.decode()
    assert done.returncode == 2, stderr
    assert "the key piped in is not ascii text (not shown)" in stderr
    assert "0123456789" not in stderr and not keys.exists()


def test_text_stdouts_encoding_cannot_carry_is_one_clear_line(cli_env, results):
    """DEFECT: any output holding text stdout's encoding cannot carry (PYTHONIOENCODING=ascii
    or latin-1, and a table's '…') ended in `internal error: UnicodeEncodeError`."""
    done = _run(["checklist", str(results)], {**cli_env, "PYTHONIOENCODING": "ascii"},
                stdout=subprocess.PIPE)  # fmt: skip
    _clean(done.stderr)
    assert done.returncode == 1, done.stderr
    assert "standard output's encoding (ascii) cannot carry" in done.stderr
    assert "set PYTHONIOENCODING=utf-8" in done.stderr
