"""Red team: a paid answer behind a byte order mark.

DEFECT (a good answer paid for and thrown away): a 201 whose JSON starts with a UTF-8 byte
order mark (some proxies and gateways add one) was read with `json.loads(str)`, which refuses
the mark: the photo became `bad_response` (stored as unusable, so never asked again, and the
free re-read by token got the same), although the answer behind the mark was whole. httpx's own
`.json()` (used for the services' other answers) reads it. Correct: the mark is skipped and
the photo is `ok`, one call.

A proxy of the test's own on loopback in front of the real sandbox adds the mark.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import run_plantid
from photos import green_photo


def _bom_proxy(upstream: str) -> ThreadingHTTPServer:
    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self._relay(self.rfile.read(int(self.headers.get("Content-Length", 0))))

        def do_GET(self) -> None:
            self._relay(None)

        def _relay(self, body: bytes | None) -> None:
            wanted = ("api-key", "content-type")
            headers = {k: v for k, v in self.headers.items() if k.lower() in wanted}
            request = urllib.request.Request(
                upstream + self.path, data=body, headers=headers, method=self.command
            )
            with urllib.request.urlopen(request) as answer:  # the sandbox's 201 (no error here)
                status, data = answer.status, answer.read()
            data = b"\xef\xbb\xbf" + data
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Proxy)


@pytest.fixture
def bom_proxy(sandbox):
    server = _bom_proxy(sandbox.url)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_answer_behind_a_byte_order_mark_is_read(cli_env, sandbox, bom_proxy, tmp_path):
    photo = green_photo(tmp_path / "leaf.jpg", (160, 120))
    env = {**cli_env, "PLANTID_API_URL": bom_proxy + "/api/v3"}
    result = run_plantid(["identify", photo, "--format", "ndjson"], env)
    [record] = [json.loads(line) for line in result.stdout.splitlines()]
    assert record["status"] == "ok", record["error"]
    assert record["best"]["scientific_name"]
    assert sandbox.stats()["plantid_identify"] == 1
    assert sandbox.stats()["plantid_get"] == 0
