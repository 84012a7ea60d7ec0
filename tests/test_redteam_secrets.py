"""Red team: the key's bytes on disk, by way of an unusable paid answer.

DEFECT (a secret in a file): an unusable 201 is kept raw (size-capped) in the result cache so
that it is never bought again (issue 12). Its text was stored as it came: a service that
echoes the key it was sent (as error bodies do: sandbox `echo_key`) put the key's bytes into
`results/cache.db` — a cache that two accounts may share, and that Redis copies to every
machine. Records, stderr and the report were clean; the cache file was not. Correct: the raw
answer is redacted before it is stored, like every other text that leaves the process; the
answer is still kept (a rerun makes no call).

A throwaway server of the test's own on loopback: the sandbox never echoes a key in a 201.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import run_plantid
from photos import green_photo

KEY = "echoed-key-5b1e09d4c7a2"


class _EchoingService(BaseHTTPRequestHandler):
    """Plant.id that charges (201) and sends back an unusable body holding the key."""

    protocol_version = "HTTP/1.1"
    calls: list[str] = []
    shape = "badjson"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._answer()

    def do_GET(self) -> None:  # the free re-read by access token
        self._answer()

    def _answer(self) -> None:
        type(self).calls.append(f"{self.command} {self.path.split('?')[0]}")
        key = self.headers.get("Api-Key", "")
        if self.shape == "badjson":  # cut JSON that names the key
            body = f'{{"access_token": "tok1", "note": "answer for {key}", "result": '
        else:  # well-formed, wrong types: the key as a probability
            suggestion = {"name": key, "probability": key}
            result = {"classification": {"suggestions": [suggestion]}}
            body = json.dumps({"access_token": "tok1", "result": result})
        data = body.encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echoing_service():
    _EchoingService.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoingService)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _files_holding(folder: Path, needle: bytes) -> list[str]:
    return sorted(
        str(path) for path in folder.rglob("*") if path.is_file() and needle in path.read_bytes()
    )


@pytest.mark.parametrize("shape", ["badjson", "badtypes"])
def test_an_unusable_answer_that_echoes_the_key_is_stored_without_it(
    cli_env, isolated_env, tmp_path, echoing_service, shape
):
    _EchoingService.shape = shape
    port = echoing_service.server_address[1]
    env = {**cli_env, "PLANTID_API_KEY": KEY, "PLANTID_API_URL": f"http://127.0.0.1:{port}/api/v3"}
    photo = green_photo(tmp_path / "leaf.jpg", (160, 120))
    first = run_plantid(["identify", photo, "--format", "ndjson"], env)
    [record] = [json.loads(line) for line in first.stdout.splitlines()]
    assert record["error"]["code"] == "bad_response", first.stderr
    assert KEY not in first.stdout + first.stderr
    # (the free usage_info check before the run is not part of the story)
    assert [c for c in _EchoingService.calls if "usage_info" not in c] == [
        "POST /api/v3/identification",
        "GET /api/v3/identification/tok1",
    ]
    cache = Path(env["PLANTID_CACHE_DIR"])
    assert _files_holding(cache, b"tok1") != []  # the answer was stored (else no test)
    assert _files_holding(cache, KEY.encode()) == []
    again = run_plantid(["identify", photo, "--format", "ndjson"], env)
    [second] = [json.loads(line) for line in again.stdout.splitlines()]
    assert second["error"]["code"] == "bad_response" and second["cached"] is True
    assert len([c for c in _EchoingService.calls if "usage_info" not in c]) == 2
