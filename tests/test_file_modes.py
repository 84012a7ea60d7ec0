"""Every file plantid writes gets the permissions `>` would leave (plantid_cli/file_targets.py).

Before: a results file, report, archive or reviewed file the user had made private (0600)
was replaced by a fresh 0644 one, so a rerun published GPS points of rare plants to every
account on the machine; `review apply -o` created its file 0600 (the temporary file's mode);
and four writers learned the umask by setting it to 0 for a moment, in which every file
another thread created (a lock file, a cache entry, during a batch) was born world-writable.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest
from conftest import REPO, run_plantid
from photos import green_photo


def _umask_022() -> None:
    os.umask(0o022)


def _plantid(args, env) -> subprocess.CompletedProcess:
    """The CLI under umask 022, whatever the test runner's is."""
    return subprocess.run(
        [sys.executable, "-m", "plantid_cli", *map(str, args)],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=120,
        preexec_fn=_umask_022,
    )  # fmt: skip


@pytest.fixture
def results(sandbox, cli_env, tmp_path):
    photo = green_photo(tmp_path / "p.jpg", (160, 120), seed=41)
    out = tmp_path / "results.ndjson"
    ran = run_plantid(["identify", photo, "-f", "ndjson", "-o", out, "-q"], cli_env)
    assert ran.returncode == 0, ran.stderr
    return out


def _decisions(tmp_path, results):
    record = json.loads(results.read_text().splitlines()[0])
    decisions = tmp_path / "decisions.csv"
    decisions.write_text(
        "sha256,decision,scientific_name,identified_by,remarks\n"
        f"{record['sha256']},accepted,,A. Curator,\n"
    )
    return decisions


def _command(kind, tmp_path, results, target):
    if kind == "identify":
        return ["identify", tmp_path / "p.jpg", "-f", "json", "-o", target, "-q"]
    if kind == "report":
        return ["report", results, "-o", target]
    if kind == "dwca":
        return ["export", "dwca", results, "-o", target]
    return ["review", "apply", _decisions(tmp_path, results), results, "-o", target, "-q"]


KINDS = ["identify", "report", "dwca", "review"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_private_output_stays_private(kind, cli_env, tmp_path, results):
    target = tmp_path / "private.out"
    target.write_text("old")
    target.chmod(0o600)
    ran = _plantid(_command(kind, tmp_path, results, target), cli_env)
    assert ran.returncode == 0, ran.stderr
    assert target.read_bytes() != b"old"  # it was replaced
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # before: 0644


@pytest.mark.parametrize("kind", KINDS)
def test_a_new_output_gets_the_umask_s_mode(kind, cli_env, tmp_path, results):
    target = tmp_path / "new.out"
    ran = _plantid(_command(kind, tmp_path, results, target), cli_env)
    assert ran.returncode == 0, ran.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # before (review apply): 0600


def test_a_metrics_file_made_private_stays_private(sandbox, cli_env, tmp_path):
    photo = green_photo(tmp_path / "p.jpg", (160, 120), seed=42)
    metrics = tmp_path / "plantid.prom"
    metrics.write_text("")
    metrics.chmod(0o600)
    ran = _plantid(["identify", photo, "--metrics-file", metrics, "-q"], cli_env)
    assert ran.returncode == 0, ran.stderr
    assert "plantid_" in metrics.read_text()
    assert stat.S_IMODE(metrics.stat().st_mode) == 0o600


WATCHED = """
import atexit, os, runpy, sys
calls = []
real = os.umask
def watched(mask):
    calls.append(mask)
    return real(mask)
os.umask = watched
atexit.register(lambda: sys.stderr.write(f"\\nUMASK-CALLS {calls}\\n"))
sys.argv = ["plantid", *sys.argv[1:]]
runpy.run_module("plantid_cli", run_name="__main__")
"""


def test_a_batch_with_every_writer_never_sets_the_umask(sandbox, cli_env, tmp_path):
    """The process umask is shared by every thread: setting it to 0 even for two system calls
    lets a net thread's lock file or cache entry be created world-writable in that window."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for seed in range(4):
        green_photo(photos / f"p{seed}.jpg", (160, 120), seed=60 + seed)
    out = tmp_path / "results.ndjson"
    args = ["identify", photos, "-j", "4", "-f", "ndjson", "-o", out, "--write-xmp",
            "--metrics-file", tmp_path / "m.prom", "-q"]  # fmt: skip
    ran = subprocess.run(
        [sys.executable, "-c", WATCHED, *map(str, args)],
        env=cli_env, cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert len(out.read_text().splitlines()) == 4
    assert len(list(photos.glob("*.xmp"))) == 4
    assert "UMASK-CALLS []" in ran.stderr  # before: [0, 18, 0, 18, ...]
    page = tmp_path / "page.html"
    ran = subprocess.run(
        [sys.executable, "-c", WATCHED, "report", str(out), "-o", str(page)],
        env=cli_env, cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert page.stat().st_size > 0
    assert "UMASK-CALLS []" in ran.stderr


def test_a_set_id_bit_is_not_handed_to_the_new_contents(cli_env, tmp_path, results):
    """The permission bits are kept, never a setuid/setgid bit (`>` as a non-root user clears
    them on write; a replaced file must not come out more powerful than the user's copy)."""
    target = tmp_path / "results.json"
    target.write_text("old")
    target.chmod(0o6640)
    ran = _plantid(_command("identify", tmp_path, results, target), cli_env)
    assert ran.returncode == 0, ran.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
