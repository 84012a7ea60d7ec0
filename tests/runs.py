"""Helpers several test modules share: one identify run read as its record, a start-up probe
that says which libraries a command line imported, the Exempi skip, the photos and record
reading of rerun tests (test_batch, test_rerun_index, test_signals), and the measured run of
the gzip-bomb tests (test_hostile_http, test_redteam_transport)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, run_plantid

#: Runs the real main() with the given arguments; prints its exit code and which of MODULES
#: (a comma list in argv[1]) were imported by the time it ended.
PROBE = """
import sys
watched = sys.argv.pop(1).split(",")
sys.argv = ["plantid", *sys.argv[1:]]
from plantid_cli.cli import main
try:
    main()
except SystemExit as exit:
    code = exit.code
loaded = [m for m in watched if sys.modules.get(m) is not None]  # None: marked absent
print("PROBE", code, ",".join(loaded) or "-", file=sys.stderr)
"""


def probe(args, env, modules: tuple[str, ...]) -> tuple[int, list[str], str]:
    """(exit code, which of `modules` were imported, stdout) of `plantid ARGS`."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, ",".join(modules), *map(str, args)],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    line = next(x for x in result.stderr.splitlines() if x.startswith("PROBE"))
    _, code, loaded = line.split()
    return int(code), [] if loaded == "-" else loaded.split(","), result.stdout


def identify_one(path, env, *extra):
    """One `plantid identify PATH` run: (exit code, its single record, stderr)."""
    result = run_plantid(["identify", path, *extra], env, timeout=120)
    assert "Traceback" not in result.stderr, result.stderr
    assert "internal error" not in result.stdout + result.stderr
    [record] = [json.loads(line) for line in result.stdout.splitlines()]
    return result.returncode, record, result.stderr


def _exempi_missing() -> str | None:
    # lazy: the XMP layer loads Exempi (a C library) when imported
    from plantid_cli.errors import ConfigError
    from plantid_cli.outputs.xmp import check_available

    try:
        check_available()
    except ConfigError as exc:
        return str(exc)
    return None


needs_exempi = pytest.mark.skipif(
    _exempi_missing() is not None, reason=f"Exempi not available: {_exempi_missing()}"
)


def make_photos(folder: Path, count: int, *, start: int = 0) -> Path:
    """Distinct small JPEGs whose bytes differ in a JPEG comment (COM) of a fixed width, so a
    photo can be edited in place, keeping its size, into another valid photo."""
    import io

    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (60, 180, 70)).save(buffer, "JPEG", quality=80)
    for i in range(start, start + count):
        (folder / f"p{i:04d}.jpg").write_bytes(with_comment(buffer.getvalue(), i))
    return folder


def with_comment(jpeg: bytes, n: int) -> bytes:
    comment = b"n%08d" % n
    segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
    return jpeg[:2] + segment + jpeg[2:]


def records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


#: Runs the CLI as its only child and reports that child's peak memory (ru_maxrss, kB).
MEASURED = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call([sys.executable, '-m', 'plantid_cli', *sys.argv[1:]])\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "sys.stderr.write(f'\\nMAXRSS_KB={peak}\\n')\n"
    "sys.exit(code)\n"
)


def peak_of(stderr: str) -> int:
    """The peak memory (kB) MEASURED reported on stderr."""
    return int(stderr.rsplit("MAXRSS_KB=", 1)[1].split()[0])


def identify_bomb(photo, env) -> tuple[dict, int]:
    """`identify PHOTO` against a sandbox sending a bomb: (its one record, the CLI's peak kB),
    after checking that it ended as a bad answer should (exit 4, no traceback)."""
    result = subprocess.run(
        [sys.executable, "-c", MEASURED, "identify", str(photo)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert result.returncode == 4, result.stderr
    [record] = [json.loads(line) for line in result.stdout.splitlines()]
    return record, peak_of(result.stderr)


def peak_overlap(calls: list[dict]) -> int:
    """The most calls the sandbox had open at once ([arrival, end]), from its call log."""
    edges = sorted(
        [(c["t_arrival"], 1) for c in calls] + [(c["t_end"], -1) for c in calls],
        key=lambda edge: (edge[0], edge[1]),  # an end before a start at the same instant
    )
    open_now = peak = 0
    for _, step in edges:
        open_now += step
        peak = max(peak, open_now)
    return peak
