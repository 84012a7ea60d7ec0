"""Pushgateway details for metrics.py: the `--job-name` grouping key, a URL safe to print, and
the push transport (no proxy for a loopback gateway)."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable

from plantid_cli.errors import UsageError


def parse_grouping_key(job_name: str | None) -> dict[str, str]:
    """`--job-name nightly` -> {"job_name": "nightly"}; `--job-name site=a,run=b` -> both labels."""
    if not job_name:
        return {}
    if "=" not in job_name:
        return {"job_name": job_name}
    key: dict[str, str] = {}
    for part in job_name.split(","):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or not name.replace("_", "a").isalnum() or name[0].isdigit() or not value:
            raise UsageError(
                f"--job-name: expected NAME or label=value[,label=value], not {part!r}"
            )
        key[name] = value.strip()
    return key


def safe_url(url: str) -> str:
    """The URL without any user:password part, for messages."""
    parts = urllib.parse.urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        if parts.port:
            host += f":{parts.port}"
        parts = parts._replace(netloc=host)
    return urllib.parse.urlunsplit(parts)


def push_handler(
    url: str,
    method: str,
    timeout: float | None,
    headers: list[tuple[str, str]],
    data: bytes,
) -> Callable[[], None]:
    """Like prometheus_client's default handler, but a loopback gateway never goes via a proxy."""
    import urllib.request

    def handle() -> None:
        request = urllib.request.Request(url, data=data, method=method)
        for name, value in headers:
            request.add_header(name, value)
        host = urllib.parse.urlsplit(url).hostname or ""
        loopback = host in ("localhost", "::1") or host.startswith("127.")
        opener = urllib.request.build_opener(
            *([urllib.request.ProxyHandler({})] if loopback else [])
        )
        with opener.open(request, timeout=timeout) as response:
            if response.status >= 400:
                raise OSError(f"pushgateway answered {response.status} {response.reason}")

    return handle


def push_failure(exc: BaseException) -> str:
    """Why a push failed, in words: urllib's `<urlopen error [Errno 111] Connection refused>`
    becomes `connection refused`, a timeout `no answer within the timeout`."""
    import socket
    import urllib.error

    reason: object = exc
    if isinstance(exc, urllib.error.HTTPError):
        return f"the gateway answered {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
    if isinstance(reason, TimeoutError | socket.timeout):
        return "no answer within the timeout"
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve the host ({reason.strerror or reason})"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror[:1].lower() + reason.strerror[1:]
    text = str(reason).strip() or type(reason).__name__
    return text
