"""Shared fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture
def sandbox():
    """A fresh local sandbox (Plant.id v3 + Pl@ntNet v2) on a free 127.0.0.1 port, per test."""
    from plantid_cli.sandbox.server import SandboxServer

    server = SandboxServer("127.0.0.1", 0).start()
    try:
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------
# Isolation: no test reads the real user's config, keys or cache, or inherits PLANTID_* values.

import os  # noqa: E402
import select  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
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
    # No test may reach a real service: a subprocess that is not given the sandbox's URLs talks
    # to a closed loopback port, and this process refuses any connection off loopback.
    monkeypatch.setenv("PLANTID_API_URL", CLOSED_LOOPBACK)
    monkeypatch.setenv("PLANTNET_API_URL", CLOSED_LOOPBACK)
    monkeypatch.setattr(socket.socket, "connect", _loopback_only(socket.socket.connect))
    return home


#: Port 9 (discard) on loopback: nothing listens there, a connection is refused at once.
CLOSED_LOOPBACK = "http://127.0.0.1:9"


def _loopback_only(connect):
    def guarded(sock, address):
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and host not in ("127.0.0.1", "::1", "localhost"):
            raise OSError(f"test tried to reach {host}: tests talk to the sandbox on loopback")
        return connect(sock, address)

    return guarded


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


def wait_for(predicate, *, timeout: float = 60.0, interval: float = 0.02):
    """Poll until `predicate()` is truthy and return its value. `timeout` is hang protection
    only (never an assertion about speed): tests wait for an event, then assert on counts."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:.0f}s waiting for {predicate}")
        time.sleep(interval)


def busiest_window(stamps, window: float) -> int:
    """The most stamps in any half-open window [t, t + window) (a window opening at a stamp
    holds at least as many as any other)."""
    ordered = sorted(stamps)
    return max((sum(1 for u in ordered if t <= u < t + window) for t in ordered), default=0)


def assert_each_call_had_a_slot(arrivals, stamps) -> None:
    """Every call reached the service after a rate-limit slot was recorded for it: the k-th
    arrival is no earlier than the k-th slot (one clock: the limiter's and the sandbox's)."""
    assert len(arrivals) == len(stamps), (len(arrivals), len(stamps))
    late = [(a, s) for a, s in zip(sorted(arrivals), sorted(stamps), strict=True) if a < s]
    assert late == [], late


class Lines:
    """Lines of a child's pipe as they come, each awaited with select (hang protection only: a
    line that never comes fails the test instead of blocking it). Reads the file descriptor
    itself, so what is left can still be read with communicate(): whatever came after the last
    line taken is in `buffer`, and belongs before communicate()'s output."""

    def __init__(self, pipe) -> None:
        self.fd, self.buffer = pipe.fileno(), b""

    def next(self, timeout: float = 60.0) -> bytes:
        while b"\n" not in self.buffer:
            ready, _, _ = select.select([self.fd], [], [], timeout)
            chunk = os.read(self.fd, 65536) if ready else b""
            assert chunk, "no line came"
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line

    def until(self, text: str) -> bytes:
        """Skip lines up to the first that holds `text`; return it."""
        while text.encode() not in (line := self.next()):
            pass
        return line
