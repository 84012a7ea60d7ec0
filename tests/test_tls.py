"""TLS: certifi's CA bundle is loaded once per process, at the first handshake, and a server
whose certificate it does not vouch for is refused (verification is never off).

The server here is a local https listener with a self-signed certificate for 127.0.0.1
(tests/tls/, valid to 2126): no test reaches the network. A certificate the bundle does trust
cannot be had offline, so "verification on" is shown by the refusal, and "the bundle is used" by
its certificates being in the context's store after the first handshake and not before.
"""

from __future__ import annotations

import http.server
import json
import ssl
import threading
from pathlib import Path

import pytest
from photos import green_photo
from test_fastpath import count_tls_setup

TLS = Path(__file__).parent / "tls"


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # a client that trusted the certificate would get this
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_POST = do_GET

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def https_url():
    """https://127.0.0.1:PORT of a listener serving the self-signed certificate."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(TLS / "self-signed.pem", TLS / "self-signed.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    handshakes = threading.Thread(target=server.serve_forever, daemon=True)
    handshakes.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_client_loads_the_bundle_at_its_first_handshake_and_verifies(https_url):
    import httpx

    from plantid_cli.providers import http as plantid_http

    plantid_http._made_tls_context.cache_clear()  # this process's context, made fresh here
    try:
        with plantid_http.new_client(10) as first, plantid_http.new_client(10) as second:
            context = plantid_http._tls_context()
            assert context.cert_store_stats()["x509_ca"] == 0  # made, not loaded
            for client in (first, second):
                with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                    client.get(https_url + "/api/v3/usage_info")
            # certifi's bundle (well over 100 authorities), loaded by the first handshake
            assert context.cert_store_stats()["x509_ca"] > 100
            assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)
    finally:
        plantid_http._made_tls_context.cache_clear()


def test_the_context_is_configured_as_the_stdlib_default_on_this_python(https_url):
    """The context mirrors `ssl.create_default_context(cafile=certifi.where())`, which is what
    httpx builds for `verify=True`, on whichever Python runs it: before, Python 3.13's stricter
    defaults (VERIFY_X509_STRICT, VERIFY_X509_PARTIAL_CHAIN) were missing from it, so plantid
    accepted certificates that httpx's own client would refuse. Compared after the first
    handshake, when the bundle is in."""
    import certifi
    import httpx

    from plantid_cli.providers import http as plantid_http

    plantid_http._made_tls_context.cache_clear()
    try:
        with plantid_http.new_client(10) as client:
            with pytest.raises(httpx.ConnectError):
                client.get(https_url + "/api/v3/usage_info")
            ours = plantid_http._tls_context()
        stdlib = ssl.create_default_context(cafile=certifi.where())

        def settings(context: ssl.SSLContext) -> dict:
            return {
                "protocol": context.protocol,
                "verify_mode": context.verify_mode,
                "check_hostname": context.check_hostname,
                "verify_flags": context.verify_flags,
                "options": context.options,
                "minimum_version": context.minimum_version,
                "maximum_version": context.maximum_version,
                "post_handshake_auth": context.post_handshake_auth,
                "ciphers": [cipher["name"] for cipher in context.get_ciphers()],
                "authorities": len(context.get_ca_certs()),
            }

        assert settings(ours) == settings(stdlib)
    finally:
        plantid_http._made_tls_context.cache_clear()


def test_a_run_against_an_untrusted_https_service_loads_the_bundle_once_and_refuses(
    tmp_path, https_url, cli_env
):
    env = dict(cli_env, PLANTID_API_URL=https_url + "/api/v3")
    photos = [green_photo(tmp_path / f"p{i}.jpg", seed=40 + i) for i in range(2)]
    line, result = count_tls_setup(["identify", *photos, "-f", "json"], env)
    assert "Traceback" not in result.stderr
    code, contexts, bundles = map(int, line.split()[1:])
    # usage_info's client and the run's share one context: one bundle, no default contexts
    assert (contexts, bundles) == (0, 1), result.stderr
    records = json.loads(result.stdout)
    assert [r["status"] for r in records] == ["error", "error"]
    assert all("CERTIFICATE_VERIFY_FAILED" in r["error"]["message"] for r in records), records
    assert code != 0
