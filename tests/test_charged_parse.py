"""Answers no sandbox mode makes: whatever a 2xx body holds, the record is `bad_response` (never
an internal error), the answer is stored and not bought again; `usage_info` types are checked.

A throwaway server of the test's own on 127.0.0.1 answers every identification with the bytes
under test (and every re-read with 404, so the re-read path fails too) and counts the calls.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import run_plantid
from photos import green_photo

from plantid_cli.outputs.report.page import estimated_credits

DEEP = b"[" * 100_000 + b"]" * 100_000
GOOD_SUGGESTION = {"name": "Ficus lyrata", "probability": 0.9}


def plantid_body(suggestion=None, **result) -> bytes:
    answer = {
        "access_token": "tok123",
        "result": {
            "is_plant": {"probability": 0.99, "binary": True},
            "classification": {"suggestions": [suggestion or GOOD_SUGGESTION]},
            **result,
        },
    }
    return json.dumps(answer).encode()


PLANTID_BODIES = {
    "deep-nesting": DEEP,
    "huge-int": b'{"access_token": "tok123", "result": ' + b"9" * 5000 + b"}",
    "not-utf8": b'{"access_token": "tok\xff\xfe", "result": {}}',
    "null": b"null",
    "top-level-list": b"[1, 2]",
    "suggestion-a-string": plantid_body("Ficus lyrata"),
    "details-a-list": plantid_body({**GOOD_SUGGESTION, "details": ["x"]}),
    "common-names-a-string": plantid_body({**GOOD_SUGGESTION, "details": {"common_names": "fig"}}),
    "taxonomy-a-number": plantid_body({**GOOD_SUGGESTION, "details": {"taxonomy": 5}}),
    "probability-over-1": plantid_body({**GOOD_SUGGESTION, "probability": 7}),
    "probability-true": plantid_body({**GOOD_SUGGESTION, "probability": True}),
    "empty-name": plantid_body({**GOOD_SUGGESTION, "name": " "}),
    "is-plant-a-list": plantid_body(is_plant=[True]),
}
PLANTNET_BODIES = {
    "deep-nesting": DEEP,
    "results-null": b'{"results": null}',
    "species-a-string": b'{"results": [{"score": 0.5, "species": "Ficus"}]}',
    "genus-a-list": json.dumps(
        {
            "results": [
                {"score": 0.5, "species": {"scientificNameWithoutAuthor": "A b", "genus": []}}
            ]
        }
    ).encode(),
    "score-infinite": b'{"results": [{"score": Infinity, "species": {}}]}',
}


class Upstream(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.status, self.body, self.posts, self.gets = status, body, 0, 0
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()


class _Handler(BaseHTTPRequestHandler):
    server: Upstream

    def log_message(self, *args):
        pass

    def _reply(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.posts += 1
        self._reply(self.server.status, self.server.body, "application/json")

    def do_GET(self):
        if self.path.startswith("/usage_info"):  # the free credit check before a run: not a re-read
            return self._reply(200, self.server.body, "application/json")
        self.server.gets += 1
        self._reply(404, b"Not found", "text/plain")


@pytest.fixture
def upstream():
    servers = []

    def start(status: int, body: bytes) -> Upstream:
        servers.append(Upstream(status, body))
        return servers[-1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def run_twice(upstream_server, cli_env, photo, provider):
    url = {"plantid": "PLANTID_API_URL", "plantnet": "PLANTNET_API_URL"}[provider]
    env = {**cli_env, url: upstream_server.url, "PLANTID_RETRIES": "2"}
    if provider == "plantnet":
        env[url] += "/v2"
    records = []
    for _ in range(2):
        result = run_plantid(["identify", "--provider", provider, photo], env, timeout=120)
        assert "Traceback" not in result.stderr, result.stderr
        assert "internal error" not in result.stdout + result.stderr
        assert result.returncode == 4
        [record] = [json.loads(line) for line in result.stdout.splitlines()]
        records.append(record)
    return records


@pytest.mark.parametrize("body", PLANTID_BODIES.values(), ids=PLANTID_BODIES.keys())
def test_any_unusable_plantid_answer_is_bad_response(upstream, cli_env, tmp_path, body):
    server = upstream(201, body)
    photo = green_photo(tmp_path / "leaf.jpg", (160, 120))
    first, second = run_twice(server, cli_env, photo, "plantid")
    assert first["error"]["code"] == second["error"]["code"] == "bad_response"
    assert (first["cached"], second["cached"]) == (False, True)
    assert server.posts == 1  # not retried, not asked again
    assert server.gets == (1 if b'"tok123"' in body else 0)  # the one re-read, when a token


@pytest.mark.parametrize("body", PLANTNET_BODIES.values(), ids=PLANTNET_BODIES.keys())
def test_any_unusable_plantnet_answer_is_bad_response(upstream, cli_env, tmp_path, body):
    server = upstream(200, body)
    photo = green_photo(tmp_path / "leaf.jpg", (160, 120))
    first, second = run_twice(server, cli_env, photo, "plantnet")
    assert first["error"]["code"] == second["error"]["code"] == "bad_response"
    assert (first["cached"], second["cached"]) == (False, True)
    assert (server.posts, server.gets) == (1, 0)


def test_damaged_metadata_does_not_cost_the_identification(upstream, cli_env, tmp_path):
    """A quota count or version of the wrong type is dropped; the paid species is kept."""
    body = {
        "results": [{"score": 0.8, "species": {"scientificNameWithoutAuthor": "Ficus lyrata"}}],
        "remainingIdentificationRequests": "497",
        "version": 7,
        "predictedOrgans": {"organ": "leaf"},
    }
    server = upstream(200, json.dumps(body).encode())
    env = {**cli_env, "PLANTNET_API_URL": server.url + "/v2"}
    photo = green_photo(tmp_path / "leaf.jpg", (160, 120))
    result = run_plantid(["identify", "--provider", "plantnet", photo], env)
    [record] = [json.loads(line) for line in result.stdout.splitlines()]
    assert (result.returncode, record["status"]) == (0, "ok"), result.stderr
    assert record["best"]["scientific_name"] == "Ficus lyrata"
    assert record["model_version"] is None


def test_a_lone_surrogate_in_a_name_does_not_cost_the_answer(upstream, cli_env, tmp_path):
    """`"\\ud800"` is valid JSON but no UTF-8 text: it used to fail the cache write and stdout."""
    body = plantid_body({"name": "Ficus \ud800lyrata", "probability": 0.9})
    assert b"\\ud800" in body
    server = upstream(201, body)
    env = {**cli_env, "PLANTID_API_URL": server.url}
    photo = green_photo(tmp_path / "leaf.jpg", (160, 120))
    for cached in (False, True):
        result = run_plantid(["identify", photo], env)
        assert "Traceback" not in result.stderr and "internal error" not in result.stdout
        [record] = [json.loads(line) for line in result.stdout.splitlines()]
        assert (result.returncode, record["status"], record["cached"]) == (0, "ok", cached)
        assert record["best"]["scientific_name"] == "Ficus \ufffdlyrata"
    assert server.posts == 1


@pytest.mark.parametrize(
    "usage",
    [
        {"remaining": {"total": "lots"}},
        {"remaining": ["86"]},
        {"can_use_credits": "yes"},
        {"can_use_credits": {"value": "true"}},
        {"credit_limits": {"total": float("inf")}},
        [],
    ],
    ids=["count-a-string", "period-list", "can-use-a-string", "value-a-string", "inf", "list"],
)
def test_usage_info_with_wrong_types_is_a_clear_error(upstream, cli_env, usage):
    server = upstream(200, json.dumps(usage).encode())
    result = run_plantid(["usage", "--format", "json"], {**cli_env, "PLANTID_API_URL": server.url})
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert result.returncode == 4
    assert "usage_info answer cannot be used" in result.stderr


def test_usage_info_whole_floats_end_the_credits_cool_down(upstream, cli_env, tmp_path):
    """The real service sends `"total": 86.0`: read as the count 86, so a top-up is noticed."""
    server = upstream(429, b"The specified api key does not have sufficient number of credits.")
    env = {**cli_env, "PLANTID_API_URL": server.url}
    photo = green_photo(tmp_path / "leaf.jpg", (160, 120))
    result = run_plantid(["identify", photo], env)
    assert result.returncode == 4 and json.loads(result.stdout)["error"]["code"] == "credits"
    usage = {"remaining": {"total": 86.0}, "can_use_credits": {"value": True, "reason": None}}
    server.body = json.dumps(usage).encode()
    result = run_plantid(["usage", "--format", "json"], env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["remaining"]["total"] == 86
    assert "credits available again" in result.stderr
    server.status, server.body = 201, plantid_body()
    result = run_plantid(["identify", photo], env)
    assert (result.returncode, json.loads(result.stdout)["status"]) == (0, "ok"), result.stderr
    assert server.posts == 2


def test_a_report_counts_the_credit_of_an_unusable_answer():
    records = [
        {"status": "ok", "cached": False},
        {"status": "error", "cached": False, "error": {"code": "bad_response"}},
        {"status": "error", "cached": True, "error": {"code": "bad_response"}},
        {"status": "error", "cached": False, "error": {"code": "unavailable"}},
    ]
    assert estimated_credits(records) == 2
