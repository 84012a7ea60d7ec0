"""Start-up cost guards: what a run imports, and what it must not."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO

CODE = """
import sys
from plantid_cli.guards.lazy_imports import portalocker, pybreaker
pybreaker().CircuitBreaker
portalocker().Lock
hidden = "redis" not in sys.modules
import redis  # still importable afterwards: nothing was poisoned
print(hidden, redis.Redis.__name__)
"""


def test_guard_libraries_load_without_redis_and_leave_it_importable():
    out = subprocess.run(
        [sys.executable, "-c", CODE], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["True", "Redis"]


def test_with_redis_already_loaded_nothing_is_hidden():
    code = "import redis, sys\n" + CODE.replace('"redis" not in', '"redis" in')
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["True", "Redis"]
