"""Every HTTP client plantid opens is made here.

Why one place: httpx loads the CA bundle into a fresh SSL context for each client (about 50 ms
of CPU on this project's 2-core machine), and one run opens two or three (usage_info's, the
run's, a re-read's). One context per process, shared by all of them (an `ssl.SSLContext` is
safe to share between threads and clients), with the settings every client here had: certifi's
bundle, verification on, nothing read from the environment (`trust_env=False`: no proxy, no
SSL_CERT_FILE). The same timeouts for every client: a connect wait of at most 10 s inside the
total. httpx is imported when the first client is made.

Why every connection is kept alive, for as long as the service keeps it: httpcore's pool
(1.0.9, encode/httpcore#1110) gives an idle connection to a waiting request under its lock,
but the request's thread starts on it only later; another thread's pass over the pool in
between could still close it as idle - over the keep-alive count (20 by default: httpcore
counts every connection, not the idle ones, so past 20 it closed each one going idle), past
its keep-alive expiry (5 s), or to make room for another service's connection (`--provider
both` on a pool sized for one) - and closed it under the request once that had been sent. At
`-j 400`, 1-8 photos in 400 were charged a 201 and read `ReadError: [Errno 9] Bad file
descriptor`, and the retry bought them again. So the pool keeps every connection it may open
(`max_keepalive_connections` = `max_connections`), never expires one itself (a connection
the service has closed is still found closed and dropped: a request given it before then
finds it closed before sending, and is queued again), and is sized by the caller for every
request it may have out. Kept so, connections are spread over pools of at most POOL_SHARD,
and a pool left with no request out for IDLE_POOL seconds is replaced whole before its next
request (providers/pools.py). tests/test_http_pool.py counts the connections.

Why the bundle is loaded at the first TLS handshake, not with the context: a run against a
plain-http endpoint (the sandbox, a proxy on this machine) never verifies a certificate, and
loading ~150 certificates it will not use was 48 ms in front of its first upload (issue 17).
`_TrustOnFirstUse` is an `ssl.SSLContext` (a public, subclassable stdlib class) configured as
`ssl.create_default_context(cafile=certifi.where())` configures one - what httpx builds for
`verify=True` - except that `load_verify_locations` runs, once, under a lock, right before the
first socket is wrapped. Verification is never off: until the bundle is in, no handshake has
started.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from typing import TYPE_CHECKING, Any

from plantid_cli.constants import HTTP_USER_AGENT, MAX_CONNECT_SECONDS

if TYPE_CHECKING:
    import ssl

    import httpx

_context_lock = threading.Lock()


def new_client(timeout: float, max_connections: int | None = None) -> httpx.Client:
    """A keep-alive client for one run or one command; the caller closes it."""
    import httpx  # lazy: a run answered from the cache never imports the HTTP stack

    pool = 100 if max_connections is None else max_connections  # 100: httpx's own default
    timeouts = httpx.Timeout(timeout, connect=min(timeout, MAX_CONNECT_SECONDS))
    headers = {"User-Agent": HTTP_USER_AGENT}
    # lazy, with httpx: small pools, none expired inside, an idle one replaced (pools.py)
    from plantid_cli.providers.pools import SpreadPools

    pools = SpreadPools(pool, verify=_tls_context(), trust_env=False)
    return httpx.Client(timeout=timeouts, headers=headers, transport=pools, trust_env=False)


def _tls_context() -> ssl.SSLContext:
    with _context_lock:  # two threads warming clients at once still load the bundle once
        return _made_tls_context()


@functools.cache
def _made_tls_context() -> ssl.SSLContext:
    import ssl

    class _TrustOnFirstUse(ssl.SSLContext):
        """Loads certifi's CA bundle right before its first handshake (see the module doc)."""

        _trust_loaded = False
        _trust_lock = threading.Lock()

        def _load_trust(self) -> None:
            if self._trust_loaded:
                return
            with self._trust_lock:
                if not self._trust_loaded:
                    import certifi  # lazy: only a TLS connection needs the bundle

                    self.load_verify_locations(cafile=certifi.where())
                    self._trust_loaded = True

        def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
            self._load_trust()
            return super().wrap_socket(*args, **kwargs)

        def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
            self._load_trust()
            return super().wrap_bio(*args, **kwargs)

    # what ssl.create_default_context(Purpose.SERVER_AUTH, cafile=...) sets, bundle aside
    context = _TrustOnFirstUse(ssl.PROTOCOL_TLS_CLIENT)
    context.verify_mode = ssl.CERT_REQUIRED
    context.check_hostname = True
    if sys.version_info >= (3, 13):  # create_default_context's stricter chain checks since 3.13
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN | ssl.VERIFY_X509_STRICT
    keylog = os.environ.get("SSLKEYLOGFILE")
    if keylog and not sys.flags.ignore_environment and hasattr(context, "keylog_filename"):
        context.keylog_filename = keylog  # as create_default_context does (debugging TLS)
    return context
