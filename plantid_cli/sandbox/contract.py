"""What the sandbox's HTTP handler asks of the server it belongs to (`SandboxServer`).

Why a module: the handler (`sandbox.handler`) and the wire faults (`sandbox.wire`) both call
the server's counts, credits, holds and stored identifications; naming that surface once keeps
them from importing the server (which imports them) and says what a handler may touch.
"""

from __future__ import annotations

import socket
import threading
from typing import Protocol

from plantid_cli.sandbox.plantid_api import Reply


class Sandbox(Protocol):
    """What a handler needs of the sandbox it serves (server.SandboxServer is the one).

    A Protocol here because server.py imports this module to build its HTTP server: the handler
    must not import the server back.
    """

    url: str
    verbose: bool
    _stopping: threading.Event
    _identifications: dict[str, dict]

    def _connection(self, connection: socket.socket, opened: bool) -> None: ...

    def _finish(self, call: dict, status: int | None) -> None: ...

    def _auth(self, key: str) -> Reply | None: ...

    plantid_url: str

    def config(self) -> dict: ...

    def remaining_credits(self) -> int: ...

    def plantnet_remaining(self) -> int: ...

    def _control(self, method: str, path: str, body: bytes) -> Reply: ...

    def _begin(self, kind, method, path, count, blobs, fields, query) -> dict: ...

    def _count(self, name: str) -> None: ...

    def _usage(self) -> dict: ...

    def _hold(self, call: dict) -> bool: ...

    def _roll_failure(self, rate: float) -> str | None: ...

    def _charge(self, cost: float) -> bool: ...

    def _charge_plantnet(self) -> int | None: ...

    def _rate_headers(self) -> dict: ...

    def _token(self, digest: bytes) -> str: ...

    def _store(self, token: str, stored: dict) -> None: ...
