"""Every HTTP client plantid opens is made here.

Why one place: httpx loads the CA bundle into a fresh SSL context for each client (about 50 ms
of CPU on this project's 2-core machine), and one run opens two or three (usage_info's, the
run's, a re-read's). One context per process, made with the first client and shared by all of
them (an `ssl.SSLContext` is safe to share between threads and clients), with the settings
every client here had: certifi's bundle, verification on, nothing read from the environment
(`trust_env=False`: no proxy, no SSL_CERT_FILE). The same timeouts for every client: a connect
wait of at most 10 s inside the total. httpx is imported when the first client is made.
"""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING

from plantid_cli.constants import HTTP_USER_AGENT, MAX_CONNECT_SECONDS

if TYPE_CHECKING:
    import ssl

    import httpx

_context_lock = threading.Lock()


def new_client(timeout: float, max_connections: int | None = None) -> httpx.Client:
    """A keep-alive client for one run or one command; the caller closes it."""
    import httpx  # lazy: a run answered from the cache never imports the HTTP stack

    if max_connections is None:  # httpx's own default pool
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
    else:
        limits = httpx.Limits(max_connections=max_connections)
    return httpx.Client(
        timeout=httpx.Timeout(timeout, connect=min(timeout, MAX_CONNECT_SECONDS)),
        limits=limits,
        headers={"User-Agent": HTTP_USER_AGENT},
        verify=_tls_context(),
        trust_env=False,
    )


def _tls_context() -> ssl.SSLContext:
    with _context_lock:  # two threads warming clients at once still load the bundle once
        return _made_tls_context()


@functools.cache
def _made_tls_context() -> ssl.SSLContext:
    import httpx

    return httpx.create_ssl_context(verify=True, trust_env=False)
