"""A file the user names is written where it points, never replaced by what it is
(plantid_cli/file_targets.py): a pipe or device is written straight, a symlink's target is
replaced and the link kept. Before: every writer renamed its temporary file over the path,
so `-o /dev/null` run as root replaced the device node, `-o >(jq .)` left the reader waiting,
and a symlinked keys file or output became a plain file.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess

from conftest import run_plantid
from photos import green_photo


def _reader(fifo) -> subprocess.Popen:
    """What `>(cat)` would be: a process reading the pipe until its writer closes it."""
    return subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)


def test_identify_to_a_pipe_writes_into_it_and_keeps_it(sandbox, cli_env, tmp_path):
    photo = green_photo(tmp_path / "p.jpg", (160, 120), seed=5)
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    reader = _reader(fifo)
    try:
        result = run_plantid(["identify", photo, "-f", "json", "-o", fifo, "-q"], cli_env)
        assert result.returncode == 0, result.stderr
        out, _ = reader.communicate(timeout=30)  # before: never written, cat waited forever
    finally:
        reader.kill()
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # still the pipe, not a regular file
    assert [r["status"] for r in json.loads(out)] == ["ok"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no temp left


def test_identify_to_a_symlink_replaces_its_target_and_keeps_the_link(sandbox, cli_env, tmp_path):
    photo = green_photo(tmp_path / "p.jpg", (160, 120), seed=6)
    data = tmp_path / "data"
    data.mkdir()
    (data / "results.json").write_text("old")
    link = tmp_path / "results.json"
    link.symlink_to(data / "results.json")
    result = run_plantid(["identify", photo, "-o", link, "-q"], cli_env)
    assert result.returncode == 0, result.stderr
    assert link.is_symlink()
    assert [r["status"] for r in json.loads((data / "results.json").read_text())] == ["ok"]
    assert sorted(p.name for p in data.iterdir()) == ["results.json"]


def test_a_symlinked_keys_file_stays_a_link(cli_env, tmp_path):
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    real = dotfiles / "keys.json"
    real.write_text("{}")
    link = tmp_path / "keys.json"
    link.symlink_to(real)
    env = {**cli_env, "PLANTID_KEYS_FILE": str(link)}
    result = run_plantid(["keys", "set", "plantid"], env, input="a-new-key-123\n")
    assert result.returncode == 0, result.stderr
    assert link.is_symlink()
    assert json.loads(real.read_text()) == {"plantid": "a-new-key-123"}
    assert stat.S_IMODE(real.stat().st_mode) == 0o600


def test_report_to_a_pipe_writes_the_page_into_it(sandbox, cli_env, tmp_path):
    photo = green_photo(tmp_path / "p.jpg", (160, 120), seed=7)
    results = tmp_path / "results.ndjson"
    ran = run_plantid(["identify", photo, "-f", "ndjson", "-o", results, "-q"], cli_env)
    assert ran.returncode == 0, ran.stderr
    fifo = tmp_path / "page.fifo"
    os.mkfifo(fifo)
    reader = _reader(fifo)
    try:
        result = run_plantid(["report", results, "-o", fifo], cli_env)
        assert result.returncode == 0, result.stderr
        out, _ = reader.communicate(timeout=30)
    finally:
        reader.kill()
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert out.count(b"<article") == 1


def test_replacing_puts_the_new_file_in_place_or_leaves_the_old_one_and_no_temporary(tmp_path):
    """The one way every writer replaces a named file (report, archive, sidecars, review
    apply, metrics). Before it, three of five did not fsync and each cleaned up its own way."""
    import pytest

    from plantid_cli.file_targets import replacing

    target = tmp_path / "results.json"
    target.write_text("old")
    target.chmod(0o600)
    with pytest.raises(RuntimeError), replacing(target) as handle:
        handle.write("half of the new")
        raise RuntimeError("the render failed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]  # no .tmp left
    link = tmp_path / "link.json"
    link.symlink_to(target)
    with replacing(link, binary=True) as handle:
        handle.write("new ✓".encode())
    assert link.is_symlink() and target.read_text() == "new ✓"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # the replaced file's own mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "results.json"]


def test_a_pipe_nobody_reads_holds_the_run_before_anything_is_bought_and_sigterm_ends_it(
    sandbox, cli_env, tmp_path
):
    """`-o FIFO` with no reader blocks where `>` would (opening the pipe), which is before the
    first call: a SIGTERM then ends the process and nothing was bought or sent (was untried)."""
    import signal
    import sys
    import time

    from conftest import REPO

    photo = green_photo(tmp_path / "p.jpg", (160, 120), seed=8)
    fifo = tmp_path / "nobody.fifo"
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        [sys.executable, "-m", "plantid_cli", "identify", str(photo), "-o", str(fifo)],
        env=cli_env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    for _ in range(600):  # until it waits for a reader (or 60 s: the outcome is the same)
        try:
            with open(f"/proc/{proc.pid}/wchan") as wchan:
                if wchan.read() in ("wait_for_partner", "fifo_open", "pipe_wait"):
                    break
        except OSError:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode in (-signal.SIGTERM, 128 + signal.SIGTERM), err
    assert "Traceback" not in err and out == ""
    stats = sandbox.stats()
    assert (stats["plantid_identify"], stats["plantid_usage"]) == (0, 0)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)  # still the pipe


def test_no_output_ever_replaces_a_photo(sandbox, cli_env, tmp_path):
    """DEFECT (red team, session 19): every output pointed at a photo replaced it, exit 0 and
    no word - `identify . -o wheat.jpg` (the photo became NDJSON), `identify photo -f csv -o
    photo`, `--report photo`, `report -o photo`, `export dwca -o photo` - even a photo made
    read-only (a rename ignores the file's mode), and through a symlink. Correct: refused
    before anything is written or sent (exit 2), the photo byte for byte as it was."""
    import hashlib

    photo = green_photo(tmp_path / "wheat.jpg", (160, 120), seed=7)
    other = green_photo(tmp_path / "other.jpg", (160, 120), seed=8)
    os.chmod(photo, 0o444)
    (tmp_path / "link.ndjson").symlink_to(photo)
    before = hashlib.sha256(photo.read_bytes()).hexdigest()
    results = tmp_path / "results.ndjson"
    first = run_plantid(["identify", other, "-f", "ndjson", "-o", results], cli_env)
    assert first.returncode == 0, first.stderr
    calls = sandbox.stats()["plantid_identify"]
    for command in (
        ["identify", tmp_path, "-o", photo],
        ["identify", photo, "-f", "csv", "-o", photo],
        ["identify", other, "-f", "ndjson", "--report", photo],
        ["identify", other, "-f", "ndjson", "-o", tmp_path / "link.ndjson"],
        ["report", results, "-o", photo],
        ["export", "dwca", results, "-o", photo],
    ):
        done = run_plantid(command, cli_env, cwd=tmp_path)
        assert done.returncode == 2, (command, done.stderr)
        assert "it holds a photo, and an output never replaces one" in done.stderr, command
        assert hashlib.sha256(photo.read_bytes()).hexdigest() == before, command
    assert sandbox.stats()["plantid_identify"] == calls  # nothing sent for any of them
    assert os.path.islink(tmp_path / "link.ndjson")


def test_records_and_report_to_one_file_is_refused_before_the_run(sandbox, cli_env, tmp_path):
    """DEFECT (red team, session 19): `identify -o out.ndjson --report out.ndjson` exited 0
    with the HTML page in out.ndjson and no record left. Correct: exit 2, nothing sent."""
    photo = green_photo(tmp_path / "p.jpg", (160, 120), seed=9)
    out = tmp_path / "out.ndjson"
    done = run_plantid(["identify", photo, "-o", out, "--report", out], cli_env)
    assert done.returncode == 2
    assert "--output and --report name the same file" in done.stderr
    assert sandbox.stats()["plantid_identify"] == 0 and not out.exists()
