"""A full disk under a file the user named (-o, --report): exit 1, the output's failure, not 2.

DEFECT (red team, session 15): `report -o`, `export dwca -o` and `identify --report` on a full
disk said `cannot write the report (No space left on device)` with exit 2, a usage error,
which a script reads as "nothing was done", after a whole paid run. Correct: exit 1 as for a
full stdout (the README's "the output cannot be written"), the message kept. The disk is made
full with RLIMIT_FSIZE (EFBIG, `ulimit -f`): the same path as ENOSPC, and no mount needed.
"""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest
from conftest import REPO
from photos import green_photo

LIMIT = 1024  # bytes any regular file this process writes may reach (an archive of 3 is ~3 kB)


def _limited():
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def _run(argv, env, *, limited=True):
    return subprocess.run([sys.executable, "-m", "plantid_cli", *map(str, argv)], env=env,
                          cwd=REPO, capture_output=True, text=True, timeout=120,
                          preexec_fn=_limited if limited else None)  # fmt: skip


@pytest.fixture
def results(cli_env, sandbox, tmp_path):
    photos = tmp_path / "photos"
    for i in range(3):
        green_photo(photos / f"p{i}.jpg", (200, 150), seed=900 + i)
    done = _run(["identify", photos, "-q", "-f", "ndjson"], cli_env, limited=False)
    assert done.returncode == 0, done.stderr
    path = tmp_path / "results.ndjson"
    path.write_text(done.stdout)
    return path


@pytest.mark.parametrize(
    "argv, what",
    [
        (["report", "{results}", "-o", "{out}/r.html"], "cannot write the report"),
        (["export", "dwca", "{results}", "-o", "{out}/d.zip"], "cannot write the archive"),
    ],
)
def test_a_full_disk_under_a_named_output_is_exit_1(argv, what, cli_env, results, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    argv = [a.replace("{results}", str(results)).replace("{out}", str(out)) for a in argv]
    done = _run(argv, cli_env)
    assert done.returncode == 1, done.stderr
    assert what in done.stderr and "File too large" in done.stderr
    assert "internal error" not in done.stderr
    assert list(out.iterdir()) == []  # no half file, no temporary file left


def test_identify_report_on_a_full_disk_after_a_paid_run_is_exit_1(cli_env, sandbox, tmp_path):
    photos = tmp_path / "photos"
    for i in range(3):
        green_photo(photos / f"p{i}.jpg", (200, 150), seed=950 + i)
    out = tmp_path / "out"
    out.mkdir()
    done = _run(["identify", photos, "-f", "ndjson", "--report", out / "r.html"], cli_env)
    assert done.returncode == 1, done.stderr
    assert "--report" in done.stderr and "cannot write the report" in done.stderr
    assert len(done.stdout.splitlines()) == 3  # every record printed all the same
    assert sandbox.stats()["plantid_identify"] == 3


def test_a_cache_on_a_full_disk_says_that_answers_will_be_paid_again(cli_env, sandbox, tmp_path):
    """DEFECT (red team, session 15): on a full cache disk the warning said only `answers are
    not being stored ... stored answers are still used`: 4 processes on one folder then paid
    4 times for every photo (single flight hands an answer on through the cache) and nothing
    said so, where a read-only cache's lock warning does. Correct: the warning says what it
    costs. Every answer is still printed."""
    photos = tmp_path / "photos"
    for i in range(2):
        green_photo(photos / f"p{i}.jpg", (200, 150), seed=970 + i)
    done = _run(["identify", photos, "-f", "ndjson"], cli_env)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 2
    assert "answers are not being stored" in done.stderr
    assert "paid again by the next run, and by any other process asking for the same photo" in (
        done.stderr
    )


def test_the_stop_on_a_failed_output_never_claims_answers_are_stored_when_not(
    cli_env, sandbox, tmp_path
):
    """DEFECT (red team, session 15): with the output and the cache both on a full disk, the
    stop said `waiting for the answers in flight (they are stored)`; they were neither
    stored nor printed. Correct: it says they cannot be stored. With a cache that stores, the
    message keeps its word (checked with stdout on /dev/full and a working cache)."""
    photos = tmp_path / "photos"
    for i in range(6):
        green_photo(photos / f"p{i}.jpg", (200, 150), seed=990 + i)
    done = _run(["identify", photos, "-f", "ndjson", "-j", "2", "-o", tmp_path / "out.ndjson"],
                cli_env)  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "no new photo is sent" in done.stderr
    assert "(they cannot be stored either: the cache refuses writes)" in done.stderr
    assert "(they are stored)" not in done.stderr
    with open("/dev/full", "w") as full:
        kept = subprocess.run([sys.executable, "-m", "plantid_cli", "identify", str(photos),
                               "-f", "ndjson", "-j", "2"], env=cli_env, cwd=REPO, stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=120)  # fmt: skip
    assert kept.returncode == 1, kept.stderr
    assert "(they are stored)" in kept.stderr


def test_report_to_stdout_on_a_full_temporary_disk_is_exit_1_and_no_half_page(cli_env, results):
    """`report -o -` builds the page in a private temporary file first; that disk full was an
    internal error (review of this session's `-o -`). Now the report's own error, exit 1, and
    nothing on stdout."""
    done = _run(["report", results, "-o", "-"], cli_env)
    assert done.returncode == 1, done.stderr
    assert "-o -: cannot write the report (File too large)" in done.stderr
    assert done.stdout == ""
