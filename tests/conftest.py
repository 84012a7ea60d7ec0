"""Shared fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture
def sandbox():
    """A fresh local sandbox (Plant.id v3 + Pl@ntNet v2) on a free 127.0.0.1 port, per test."""
    from plantid_cli.sandbox import SandboxServer

    server = SandboxServer("127.0.0.1", 0).start()
    try:
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------
# Isolation: no test reads the real user's config, keys or cache, or inherits PLANTID_* values.

import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO.parent / "shared" / "samples"
TEST_KEY = "test-key-4f9a7c2e81"


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, tmp_path_factory, monkeypatch):
    """Point every plantid location at tmp_path and drop inherited PLANTID_*/PLANTNET_* vars."""
    for name in list(os.environ):
        if name.startswith(("PLANTID_", "PLANTNET_")):
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "plantid-home"
    # PLANTID_CONFIG must name a file that exists: an empty one, outside tmp_path (tests list it)
    config = tmp_path_factory.mktemp("plantid-config") / "config.toml"
    config.write_text("")
    monkeypatch.setenv("PLANTID_CACHE_DIR", str(home / "cache"))
    monkeypatch.setenv("PLANTID_CONFIG", str(config))
    monkeypatch.setenv("PLANTID_KEYS_FILE", str(home / "config" / "keys.json"))
    monkeypatch.setenv("NO_COLOR", "1")
    return home


@pytest.fixture
def cli_env(sandbox, isolated_env):
    """Environment for `plantid` subprocesses talking to the test's sandbox, rate limit off."""
    env = {k: v for k, v in os.environ.items()}
    env.update(
        PLANTID_API_URL=sandbox.plantid_url,
        PLANTNET_API_URL=sandbox.plantnet_url,
        PLANTID_API_KEY=TEST_KEY,
        PLANTNET_API_KEY=TEST_KEY + "-pn",
        PLANTID_RATE_LIMIT="off",
        PLANTID_RETRIES="0",
        PYTHONUNBUFFERED="1",
    )
    return env


def run_plantid(args, env, *, input=None, timeout=60, cwd=None):
    """Run the real CLI in a subprocess, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "plantid_cli", *map(str, args)],
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or REPO,
    )


def spawn(args, env, *, text=True, **kwargs) -> subprocess.Popen:
    """Start the real CLI in a subprocess with its output piped (text unless told otherwise)."""
    return subprocess.Popen(
        [sys.executable, "-m", "plantid_cli", *map(str, args)],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=text,
        **kwargs,
    )


@pytest.fixture
def samples():
    if not SAMPLES.is_dir():
        pytest.skip(f"sample photos not found at {SAMPLES}")
    return SAMPLES
