"""A run's open files against `ulimit -n` (run/openfiles.py).

DEFECT (session 18): at `-j 400` under the usual soft limit of 1,024 open files, 140 of 400
good photos were reported `unreadable` ("Too many open files"), and answers that came in were
paid for and not stored (the result cache could not open its file) - bought again by the next
run. Correct: the run raises its soft limit to what its concurrency needs (never past the
hard limit), or, when the hard limit is lower, is refused before anything is sent with the
`-j` that fits. Here at a tenth of the scale: a soft limit of 128 and `-j 60`.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys

import pytest
from conftest import REPO
from photos import green_photo


def _limited(soft: int, hard: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return apply


def _run(args, env, soft, hard):
    return subprocess.run(
        [sys.executable, "-m", "plantid_cli", *map(str, args)], env=env, cwd=REPO,
        capture_output=True, text=True, timeout=180, preexec_fn=_limited(soft, hard),
    )  # fmt: skip


def test_a_low_soft_limit_is_raised_to_what_the_run_needs(cli_env, sandbox, tmp_path):
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1024:
        pytest.skip(f"this machine's hard limit on open files is {hard}")
    sandbox.configure(latency_ms=1500)  # all 60 requests out at once
    photos = [green_photo(tmp_path / f"p{i}.jpg", (96, 72), seed=i) for i in range(60)]
    done = _run(["identify", *photos, "-j", "60", "-f", "ndjson"], cli_env, 128, hard)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["status"] for r in records] == ["ok"] * 60, done.stderr
    assert done.returncode == 0, done.stderr
    assert "not being stored" not in done.stderr
    assert sandbox.stats()["plantid_identify"] == 60


def test_a_hard_limit_too_low_for_the_concurrency_refuses_the_run_unsent(
    cli_env, sandbox, tmp_path
):
    photos = [green_photo(tmp_path / f"q{i}.jpg", (96, 72), seed=i) for i in range(3)]
    done = _run(["identify", *photos, "-j", "60", "-f", "ndjson"], cli_env, 128, 128)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "plantid: error: --concurrency 60 needs about 544 open files at once, and this process"
        " may open 128 (ulimit -n). Use -j 8 or less, or raise the limit (`ulimit -n` in the"
        " shell, LimitNOFILE for a service); nothing was sent"
    ]
    assert sandbox.stats()["plantid_identify"] == 0
