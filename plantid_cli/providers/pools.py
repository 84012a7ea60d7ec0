"""A run's connections spread over several small httpcore pools instead of one large one.

Why: httpcore's pool (1.0.9) passes over all its connections each time a request starts or
ends, and for each idle one counts every connection again, so a pass costs the square of its
size, under the pool's lock. At `-j 400` (a pool of 402 connections) that was most of a run's
CPU: `python benchmarks/concurrency.py` (1,000 photos, 1.5 s a call) measured 73 s of CPU at
`-j 400` against 7 s at `-j 100` (docs/benchmarks.md, session 19). On a two-core machine the
helper threads reading the answers then starved past their deadlines: 201s the service had
delivered were cut as timeouts and bought again (5 photos paid twice in that run), or stored
as unusable.
A pool of at most POOL_SHARD connections keeps each pass small; a request goes to the pool
with the fewest requests out (each pool sized for its share), so no pool queues a request
while another has room. A client sized for fewer requests has one pool.

Why a pool with no request out for IDLE_POOL seconds is replaced before its next request: the
connections are kept as long as the service keeps them (providers/http.py says why none is
expired inside httpcore's pool), but a NAT, a firewall or a load balancer may forget a flow
that sat idle without telling either end; the next request on it was reset (`ReadError:
Connection reset by peer`), and its retry found the next forgotten connection: good photos
reported failed in runs with gaps between calls (`PLANTID_RATE_LIMIT=1/6s`; red team,
session 19). A pool with nothing out has only idle connections, so closing it closes none
under a request (what httpcore's own expiry did, encode/httpcore#1110).

The pools are httpx's own public transports (`httpx.HTTPTransport`) behind httpx's public
transport interface (`httpx.BaseTransport`): the same connections, limits and TLS context as
one transport would have, and every request still runs through httpcore as before (the
exchange's trace and reused-socket shim, providers/exchange.py, see the same frames).
Imported with httpx, only when a client is made.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from plantid_cli.constants import IDLE_POOL, POOL_SHARD


class SpreadPools(httpx.BaseTransport):
    """Several `httpx.HTTPTransport`s, each of at most POOL_SHARD connections."""

    def __init__(self, connections: int, **transport: Any) -> None:
        count = -(-max(1, connections) // POOL_SHARD)  # ceil
        share = -(-max(1, connections) // count)
        limits = httpx.Limits(  # every connection kept, none expired: see providers/http.py
            max_connections=share, max_keepalive_connections=share, keepalive_expiry=None
        )
        self._limits, self._transport = limits, transport
        self._pools = [self._new_pool() for _ in range(count)]
        self._out = [0] * count  # requests out on each pool, until their response is closed
        self._idle_since = [time.monotonic()] * count  # when each last had none out
        self._closed = False  # close() began: no pool is replaced any more (none left open)
        self._lock = threading.Lock()

    def _new_pool(self) -> httpx.HTTPTransport:
        return httpx.HTTPTransport(limits=self._limits, **self._transport)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        stale = None
        with self._lock:
            index = min(range(len(self._out)), key=self._out.__getitem__)
            idle = time.monotonic() - self._idle_since[index]
            if not self._closed and self._out[index] == 0 and idle > IDLE_POOL:
                # every connection of it idle that long: replaced, never closed under a request
                stale, self._pools[index] = self._pools[index], self._new_pool()
            self._out[index] += 1
            pool = self._pools[index]
        if stale is not None:
            stale.close()
        done = _Once(lambda: self._returned(index))
        try:
            response = pool.handle_request(request)
        except BaseException:
            done()
            raise
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_Counted(response.stream, done),
            extensions=response.extensions,
        )

    def _returned(self, index: int) -> None:
        with self._lock:
            self._out[index] -= 1
            if not self._out[index]:
                self._idle_since[index] = time.monotonic()

    def close(self) -> None:
        with self._lock:  # a request replacing a pool meanwhile must not leave a new one open
            self._closed = True
            pools = list(self._pools)
        for pool in pools:
            pool.close()


class _Once:
    def __init__(self, action: Callable[[], None]) -> None:
        self._action: Callable[[], None] | None = action
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            action, self._action = self._action, None
        if action is not None:
            action()


class _Counted(httpx.SyncByteStream):
    """A response body that tells its pool's count when it is closed (read or not)."""

    def __init__(self, stream: Any, done: _Once) -> None:
        self._stream = stream
        self._done = done

    def __iter__(self) -> Iterator[bytes]:
        yield from self._stream

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            self._done()


__all__ = ["SpreadPools"]
