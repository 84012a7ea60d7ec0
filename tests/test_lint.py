"""The code stays ruff clean (lint and format), checked with the rest of the suite."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TARGETS = ["plantid_cli", "tests", "benchmarks", "tools"]


def ruff() -> list[str]:
    script = Path(sys.executable).with_name("ruff")
    if script.exists():
        return [str(script)]
    if shutil.which("ruff"):
        return ["ruff"]
    pytest.skip("ruff is not installed (it comes with the test extras)")


@pytest.mark.parametrize("args", [["check"], ["format", "--check"]], ids=["check", "format"])
def test_ruff(args):
    result = subprocess.run([*ruff(), *args, *TARGETS], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy():
    """Types are checked by the suite (pyproject's [tool.mypy]: strict on the core, cli/ and
    sandbox/ looser), so a wrong annotation fails here rather than in review."""
    pytest.importorskip("mypy", reason="mypy is not installed (it comes with the test extras)")
    result = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout
