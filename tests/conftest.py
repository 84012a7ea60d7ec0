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
