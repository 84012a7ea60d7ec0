"""Helpers several test modules share: one identify run read as its record, a start-up probe
that says which libraries a command line imported, and the Exempi skip."""

from __future__ import annotations

import json
import subprocess
import sys

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
loaded = [m for m in watched if m in sys.modules]
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
