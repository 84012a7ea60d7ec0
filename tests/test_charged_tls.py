"""A paid answer over https, as the real services speak: what had arrived before the deadline
is read whole, as over http (providers/exchange.py, "Why the caller waits for the helper").

Found by a red-team pass (session 10): the two https cases failed on a72213c; the http case is
the control that shows the defect was the TLS path's alone."""

from __future__ import annotations

import base64
import json
import ssl
import time
from pathlib import Path

import pytest
from conftest import TEST_KEY
from photos import green_photo

TLS = Path(__file__).parent / "tls"


def server_context() -> ssl.SSLContext:
    """A server side holding tests/tls's self-signed certificate for 127.0.0.1."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(TLS / "self-signed.pem", TLS / "self-signed.key")
    return context


@pytest.fixture
def tls_sandbox():
    """The real sandbox, served over TLS."""
    from plantid_cli.sandbox.server import SandboxServer

    with SandboxServer("127.0.0.1", 0, tls=server_context()) as server:
        assert server.plantid_url.startswith("https://")
        yield server


def trusting_client(timeout: float):
    """An httpx client as plantid's (new_client) but trusting the test certificate."""
    import httpx

    context = ssl.create_default_context(cafile=str(TLS / "self-signed.pem"))
    return httpx.Client(timeout=timeout, verify=context, trust_env=False)


def _starved_at(event: str, seconds: float):
    """A chained httpx trace (public extension) that holds the helper thread at `event`: the
    CPU-starved helper of exchange.py's module doc, made deterministic. The answer is already on
    this machine when the helper is held there (the sandbox answers at once)."""

    def trace(name: str, info: dict) -> None:
        if name == event:
            time.sleep(seconds)

    return trace


def identify_body(tmp_path: Path) -> dict:
    photo = green_photo(tmp_path / "leaf.jpg", (160, 120), seed=7)
    return {"images": [base64.b64encode(Path(photo).read_bytes()).decode()]}


@pytest.mark.parametrize(
    "event",
    [
        # held before the status line is parsed: a paid 201 becomes a retryable timeout
        "http11.receive_response_headers.started",
        # held before the body is read: the 201's body becomes TLS ciphertext
        "http11.receive_response_body.started",
    ],
)
def test_a_paid_answer_that_arrived_before_the_deadline_is_read_whole_over_https(
    tls_sandbox, tmp_path, event
):
    """exchange.py's SETTLE rule ("shutting a socket down does not discard what it has
    received ... the helper reads what had arrived") holds over http but not over https:
    `_shut` calls `SSLSocket.shutdown`, which sets the socket's `_sslobj` to None, so every
    later read of the helper returns the raw TLS records. The paid 201 that had arrived is then
    either an unparsable status line (-> ReadTimeout, retried: bought again) or a 201 whose
    body is ciphertext (-> stored as an unusable answer: the paid answer is lost)."""
    from plantid_cli.providers.exchange import exchange

    with trusting_client(timeout=1.0) as client:
        kwargs = {
            "json": identify_body(tmp_path),
            "headers": {"Api-Key": TEST_KEY},
            # held 1.5 s: past the 1 s deadline, well inside SETTLE_SECONDS (2 s)
            "extensions": {"trace": _starved_at(event, 1.5)},
        }
        url = tls_sandbox.plantid_url + "/identification"
        response = exchange(client, "POST", url, kwargs, 1 << 20, charged_by="plantid")
    stats = tls_sandbox.stats()
    assert stats["plantid_identify"] == 1 and stats["statuses"] == {"201": 1}
    assert stats["credits"]["used"] == 1
    assert response.status_code == 201
    assert response.content[:1] == b"{", response.content[:40]
    assert "access_token" in json.loads(response.content)


def test_control_the_same_starved_helper_over_http_reads_the_paid_answer(sandbox, tmp_path):
    """The same exchange over plain http: the answer that arrived is read whole (this is what
    the https test above expects, and why it is a defect of the TLS path alone)."""
    from plantid_cli.providers.exchange import exchange

    with trusting_client(timeout=1.0) as client:
        kwargs = {
            "json": identify_body(tmp_path),
            "headers": {"Api-Key": TEST_KEY},
            "extensions": {"trace": _starved_at("http11.receive_response_headers.started", 1.5)},
        }
        response = exchange(
            client,
            "POST",
            sandbox.plantid_url + "/identification",
            kwargs,
            1 << 20,
            charged_by="plantid",
        )
    assert sandbox.stats()["plantid_identify"] == 1
    assert response.status_code == 201
    assert "access_token" in json.loads(response.content)
