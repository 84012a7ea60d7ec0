"""A local stand-in for Plant.id v3 and Pl@ntNet v2, for tests, demos and benchmarks.

It speaks both services' documented protocols (shapes, status codes, error bodies) on one
socket and sends no traffic anywhere else. Answers are deterministic from the image bytes.
Request parsing and answer shapes live in `sandbox_protocol`, the species table in `sandbox_data`.

Endpoints
    POST /api/v3/identification            Plant.id (JSON, or multipart with `images` files); 201
    GET  /api/v3/identification/{token}    the stored identification (re-rendered for the query)
    GET  /api/v3/usage_info                credits (free, never faulted)
    POST /v2/identify/{project}?api-key=K  Pl@ntNet (multipart `images` + `organs`); 200
    GET  /v2/projects                      a short list of floras
    GET  /_sandbox/stats   POST /_sandbox/reset   GET|POST /_sandbox/config (JSON)

Not-a-plant rule (both services): decode every image, take its mean R, G, B (over a 32 px
thumbnail), average over the request's images; "not a plant" when max(R, B) - G >= 3 (green
trails red or blue). A solid magenta/red/blue image is not a plant, a solid green or grey one
is. Plant.id then answers is_plant {probability 0.05, binary false} with low-probability
suggestions; Pl@ntNet answers 404 `Species not found` (unless `no-reject=true`).

Credits: Plant.id starts with `credits` (100) and charges 1 per successful identification (2
with `health`); at 0 it answers 429. Pl@ntNet starts with `plantnet_quota` (500) and charges
every processed identification (200 and 404); at 0 it answers 429 JSON.

Faults (`mode`, applied to identification endpoints only, after `latency_ms`): error500 and
error503 (HTML body), hang (no answer for `hang_seconds`, then close), credits (429), auth (401),
badjson (success status, truncated JSON), badshape (JSON without `result`/`results`), drip (the
real answer one byte every `drip_interval` s), reset (TCP reset, no answer), echo_key (500 whose
body holds the received key). `fail_rate` answers that fraction of calls error500 (seeded).
`mode_plantid` / `mode_plantnet` set a fault for one API only (they win over `mode`), e.g. to
fail Plant.id while Pl@ntNet answers.

Settings (constructor, `configure(**changes)`, `POST /_sandbox/config`): key, latency_ms,
fail_rate, mode, mode_plantid, mode_plantnet, credits, plantnet_quota, seed, hang_seconds,
drip_interval, retry_after (seconds; when > 0, error503 answers carry `Retry-After`).

Stats (`stats()`, `GET /_sandbox/stats`): counters plantid_identify, plantid_identify_images,
plantid_get, plantid_usage, plantnet_identify, plantnet_identify_images, connections (TCP
connections accepted: keep-alive shows as 1); statuses {"201": n, "None": n dropped}; credits
{total, used}; plantnet_remaining; config (key hidden, key_required); calls: the last 10,000
identification calls, each {api, kind, method, path (api-key redacted), t_start, t_end, status,
fault, images, image_sizes [[w, h]], image_bytes, latitude, longitude, datetime, organs, project,
details, language}. Every call that reached the handler counts, failed or faulted.
"""

from __future__ import annotations

import json
import os
import random
import re
import socket
import struct
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from plantid_cli import sandbox_data as data
from plantid_cli import sandbox_plantnet as pn
from plantid_cli import sandbox_protocol as proto
from plantid_cli.sandbox_plantnet import plantnet_error
from plantid_cli.sandbox_protocol import (
    CREDITS_TEXT,
    KEY_NOT_FOUND,
    MODES,
    Reply,
    html_reply,
    json_reply,
    text_reply,
)

MAX_BODY = 64 * 1024 * 1024
CALLS_CAP = 10_000
_COUNTERS = (
    "plantid_identify plantid_identify_images plantid_get plantid_usage plantnet_identify"
    " plantnet_identify_images connections"
).split()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    sandbox: SandboxServer

    def handle_error(self, request, client_address):
        if self.sandbox.verbose:
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "plantid-sandbox/1"
    timeout = 60  # idle keep-alive connections are dropped after a minute
    server: _HTTPServer

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms stalls
        self.sb = self.server.sandbox
        self.sb._connection(self.connection, opened=True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.sb._connection(self.connection, opened=False)

    def log_message(self, format, *args):
        if self.sb.verbose:
            line = re.sub(r"(api-key=)[^&\s\"]*", r"\1***", format % args)
            sys.stderr.write(f"{self.address_string()} - {line}\n")

    def do_GET(self):
        self._route("GET")

    def do_POST(self):
        self._route("POST")

    def do_DELETE(self):
        self._route("DELETE")

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks, total = [], 0
            while size := int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16):
                total += size
                if total > MAX_BODY:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
            while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return None
        return None if length > MAX_BODY or length < 0 else self.rfile.read(length)

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        path, query = url.path.rstrip("/") or "/", parse_qs(url.query, keep_blank_values=True)
        body = self._read_body()
        if body is None:
            self.close_connection = True
            return self._send(text_reply(413, "Request entity too large"))
        ctype, sb = self.headers.get("Content-Type", ""), self.sb
        if path.startswith("/_sandbox/"):
            return self._send(sb._control(method, path, body))
        if path == "/api/v3/identification" and method == "POST":
            fields, count, blobs, error = proto.parse_plantid(body, ctype)
            call = sb._begin("plantid_identify", method, self.path, count, blobs, fields, query)
            answer = lambda: self._plantid_post(fields, blobs, error, query, call)  # noqa: E731
            return self._faulted(call, self._key(), answer)
        if match := re.fullmatch(r"/api/v3/identification/([^/]+)", path):
            call = sb._begin("plantid_get", method, self.path, 0, [], {}, query)
            answer = lambda: self._plantid_get(method, match.group(1), query)  # noqa: E731
            return self._faulted(call, self._key(), answer)
        if path == "/api/v3/usage_info" and method == "GET":
            sb._count("plantid_usage")
            return self._send(sb._auth(self._key()) or json_reply(200, sb._usage()))
        if (match := re.fullmatch(r"/v2/identify/([^/]+)", path)) and method == "POST":
            project = match.group(1)
            files, organs, error = pn.parse_plantnet(body, ctype)
            blobs = [raw for _, raw in files]
            fields = {"organs": organs, "project": project}
            call = sb._begin(
                "plantnet_identify", method, self.path, len(files), blobs, fields, query
            )
            key = query.get("api-key", [""])[-1].strip()
            answer = lambda: self._plantnet_post(project, files, organs, error, query, key, call)  # noqa: E731
            return self._faulted(call, key, answer)
        if path == "/v2/projects" and method == "GET":
            return self._send(json_reply(200, [{"id": "k-world-flora", "title": "World flora"}]))
        if path.startswith("/v2/"):
            return self._send(plantnet_error(404, "Not Found"))
        if path == "/":
            return self._send(text_reply(200, f"plantid sandbox: Plant.id at {sb.plantid_url}"))
        return self._send(text_reply(404, "Not found"))

    def _key(self) -> str:
        return self.headers.get("Api-Key", "").strip()

    def _send(self, reply: Reply, call: dict | None = None, drip: float | None = None) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.ctype)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if call is not None:
            self.sb._finish(call, reply.status)
        try:
            if drip is None:
                self.wfile.write(reply.body)
            else:  # one byte at a time, giving up when the server stops
                for i in range(len(reply.body)):
                    if self.sb._stopping.wait(drip):
                        self.close_connection = True
                        break
                    self.wfile.write(reply.body[i : i + 1])
        except OSError:
            self.close_connection = True
        if call is not None:
            call["t_end"] = time.time()

    def _drop(self, call: dict, reset: bool) -> None:
        """Close the connection without an answer (an RST when `reset`)."""
        self.close_connection = True
        if reset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        self.sb._finish(call, None)
        call["t_end"] = time.time()

    def _faulted(self, call: dict, key: str, answer) -> None:
        """Run one identification call through latency and the configured fault, then reply."""
        sb, plantid = self.sb, call["api"] == "plantid"
        cfg = sb.config()
        if cfg["latency_ms"] and sb._stopping.wait(cfg["latency_ms"] / 1000):
            return self._drop(call, reset=False)
        fault = cfg[f"mode_{call['api']}"] or cfg["mode"] or sb._roll_failure(cfg["fail_rate"])
        call["fault"] = fault
        if fault in ("reset", "hang"):
            if fault == "hang":
                sb._stopping.wait(cfg["hang_seconds"])
            return self._drop(call, reset=fault == "reset")
        if fault in ("error500", "error503"):
            reply = html_reply(int(fault[-3:]))
            if fault == "error503" and cfg["retry_after"]:
                reply.headers["Retry-After"] = f"{cfg['retry_after']:g}"
        elif fault == "credits":
            reply = (
                text_reply(429, CREDITS_TEXT) if plantid else plantnet_error(429, "Quota exceeded")
            )
        elif fault == "auth":
            reply = (
                text_reply(401, KEY_NOT_FOUND)
                if plantid
                else plantnet_error(401, "Invalid API key")
            )
        elif fault == "echo_key":
            text = f"internal error for key {key}"
            reply = text_reply(500, text) if plantid else plantnet_error(500, text)
        else:
            reply = answer()
            if fault and reply.payload is not None and 200 <= reply.status < 300:
                if fault == "badjson":
                    reply = Reply(reply.status, reply.body[: len(reply.body) // 2], reply.ctype)
                elif fault == "badshape":
                    shape = {
                        k: v for k, v in reply.payload.items() if k not in ("result", "results")
                    }
                    reply = json_reply(reply.status, shape, reply.headers)
        self._send(reply, call, cfg["drip_interval"] if fault == "drip" else None)

    def _plantid_post(self, fields, blobs, error, query, call) -> Reply:
        sb = self.sb
        if denied := sb._auth(self._key()):
            return denied
        cost = 2 if fields.get("health") else 1
        if sb.remaining_credits() < cost:
            return text_reply(429, CREDITS_TEXT)
        if error := error or proto.check_plantid(fields, query):
            return text_reply(400, error)
        infos = [proto.inspect_image(blob) for blob in blobs]
        call["image_sizes"] = [[i[0], i[1]] for i in infos if i]
        if None in infos:
            return text_reply(400, "Invalid image data")
        if not sb._charge(cost):
            return text_reply(429, CREDITS_TEXT)
        key, plant = proto.digest(blobs), proto.looks_like_plant(infos)
        ident = proto.plantid_identification(sb._token(key), fields, blobs, sb.url)
        stored = {
            "ident": ident,
            "picks": data.plantid_picks(key, plant),
            "plant": plant,
            "health": bool(fields.get("health")),
            "digest": key,
        }
        sb._store(ident["access_token"], stored)
        answer = proto.render_plantid(stored, query, sb.url)
        if proto.flag_param(query, "async"):
            answer.pop("result")
            answer.update(status="CREATED", completed=None)
        return json_reply(201, answer)

    def _plantid_get(self, method, token, query) -> Reply:
        if denied := self.sb._auth(self._key()):
            return denied
        stored = self.sb._identifications.get(token)
        if stored is None or method != "GET":
            return text_reply(404 if stored is None else 405, "Not found")
        return json_reply(200, proto.render_plantid(stored, query, self.sb.url))

    def _plantnet_post(self, project, files, organs, error, query, key, call) -> Reply:
        sb = self.sb
        expected = sb.config()["key"]
        if not key or (expected is not None and key != expected):
            return plantnet_error(401, "Invalid API key" if key else "Missing API key")
        if sb.plantnet_remaining() <= 0:
            return plantnet_error(429, "Quota exceeded", sb._rate_headers())
        if error := error or pn.check_plantnet(files, organs, query):
            return plantnet_error(400, error)
        if sum(len(raw) for _, raw in files) > 50_000_000:
            return plantnet_error(413, "Payload too large: 50 MB at most")
        infos = [proto.inspect_image(raw) for _, raw in files]
        call["image_sizes"] = [[i[0], i[1]] for i in infos if i]
        if None in infos:
            return plantnet_error(400, "Invalid image data")
        if any(info[2] not in ("JPEG", "PNG") for info in infos):
            return plantnet_error(400, "Unsupported file type: JPEG and PNG only")
        remaining = sb._charge_plantnet()
        if remaining is None:
            return plantnet_error(429, "Quota exceeded", sb._rate_headers())
        headers = sb._rate_headers()
        payload = pn.plantnet_payload(project, files, organs, infos, query, remaining, sb.url)
        if payload is None:
            return plantnet_error(404, "Species not found", headers)
        return json_reply(200, payload, headers)


class SandboxServer:
    """The sandbox in a background thread: `with SandboxServer() as sb: ... sb.url`."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        key: str | None = None,
        latency_ms: float = 0,
        fail_rate: float = 0.0,
        mode: str | None = None,
        seed: int = 0,
        credits: int = 100,
        plantnet_quota: int = 500,
        hang_seconds: float = 300.0,
        drip_interval: float = 0.5,
        verbose: bool = False,
    ) -> None:
        self.verbose = verbose
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._config: dict = dict(proto.DEFAULT_SETTINGS)
        self._connections: set = set()
        self._identifications: dict[str, dict] = {}
        self.configure(**{k: v for k, v in locals().items() if k in proto.DEFAULT_SETTINGS})
        self.reset()
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.sandbox = self
        self.host, self.port = host, self._httpd.server_address[1]
        shown = "127.0.0.1" if host in ("", "0.0.0.0") else host
        self.url = f"http://{shown}:{self.port}"
        self.plantid_url, self.plantnet_url = f"{self.url}/api/v3", f"{self.url}/v2"
        self._thread: threading.Thread | None = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> SandboxServer:
        serve = self._httpd.serve_forever
        self._thread = threading.Thread(target=serve, args=(0.02,), name="sandbox", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Answer in the calling thread until Ctrl-C, then stop."""
        try:
            self._httpd.serve_forever(0.2)
        except KeyboardInterrupt:
            pass
        finally:
            self._thread = None
            self.stop()

    def stop(self) -> None:
        """Stop serving: wakes hanging/dripping calls and drops open connections."""
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(5)
            self._thread = None
        with self._lock:
            open_connections = list(self._connections)
        for connection in open_connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._httpd.server_close()

    def configure(self, **changes) -> dict:
        """Change settings on the fly (keys: see `config()`); ValueError on a bad one."""
        unknown = set(changes) - set(self._config)
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        new = {name: proto.check_setting(name, value) for name, value in changes.items()}
        with self._lock:
            self._config.update(new)
            if "seed" in new:
                self._random = random.Random(new["seed"])
        return self.config()

    def config(self) -> dict:
        with self._lock:
            return dict(self._config)

    def reset(self) -> None:
        """Zero the counters, the call log, used credits and quota, and re-seed fail_rate."""
        with self._lock:
            self._counters = dict.fromkeys(_COUNTERS, 0)
            self._statuses: dict[str, int] = {}
            self._calls: deque[dict] = deque(maxlen=CALLS_CAP)
            self._used = self._plantnet_used = self._tokens = 0
            self._random = random.Random(self._config["seed"])
            self._identifications.clear()

    def stats(self) -> dict:
        with self._lock:
            config = {k: v for k, v in self._config.items() if k != "key"}
            return {
                **self._counters,
                "statuses": dict(self._statuses),
                "credits": {"total": self._config["credits"], "used": self._used},
                "plantnet_remaining": self._config["plantnet_quota"] - self._plantnet_used,
                "config": {**config, "key_required": self._config["key"] is not None},
                "calls": [dict(call) for call in self._calls],
            }

    def remaining_credits(self) -> int:
        with self._lock:
            return max(0, self._config["credits"] - self._used)

    def plantnet_remaining(self) -> int:
        with self._lock:
            return max(0, self._config["plantnet_quota"] - self._plantnet_used)

    # -- used by the handler ------------------------------------------------------------------
    def _connection(self, connection, opened: bool) -> None:
        with self._lock:
            if opened:
                self._connections.add(connection)
                self._counters["connections"] += 1
            else:
                self._connections.discard(connection)

    def _count(self, name: str) -> None:
        with self._lock:
            self._counters[name] += 1

    def _begin(self, kind, method, path, count, blobs, fields, query) -> dict:
        call = proto.call_record(kind, method, path, count, blobs, fields, query)
        with self._lock:
            self._counters[kind] += 1
            if kind.endswith("identify"):
                self._counters[f"{kind}_images"] += count
            self._calls.append(call)
        return call

    def _finish(self, call: dict, status: int | None) -> None:
        with self._lock:
            call["status"] = status
            self._statuses[str(status)] = self._statuses.get(str(status), 0) + 1

    def _roll_failure(self, rate: float) -> str | None:
        with self._lock:
            return "error500" if rate and self._random.random() < rate else None

    def _auth(self, key: str) -> Reply | None:
        if not key:
            return text_reply(401, "No api key provided.")
        expected = self.config()["key"]
        if expected is not None and key != expected:
            return text_reply(401, KEY_NOT_FOUND)
        return None

    def _charge(self, cost: int) -> bool:
        with self._lock:
            if self._config["credits"] - self._used < cost:
                return False
            self._used += cost
            return True

    def _charge_plantnet(self) -> int | None:
        with self._lock:
            if self._config["plantnet_quota"] - self._plantnet_used <= 0:
                return None
            self._plantnet_used += 1
            return self._config["plantnet_quota"] - self._plantnet_used

    def _rate_headers(self) -> dict:
        quota, remaining = self._config["plantnet_quota"], self.plantnet_remaining()
        reset = 86400 - int(time.time()) % 86400
        return {
            "RateLimit-Policy": f'"daily";q={quota};w=86400',
            "RateLimit": f'"daily";r={remaining};t={reset}',
        }

    def _token(self, digest: bytes) -> str:
        with self._lock:
            self._tokens += 1
            serial = self._tokens
        return proto.access_token(b"%d:%d:" % (id(self), serial) + digest)

    def _store(self, token: str, stored: dict) -> None:
        with self._lock:
            self._identifications[token] = stored
            if len(self._identifications) > 100_000:
                self._identifications.pop(next(iter(self._identifications)))

    def _usage(self) -> dict:
        with self._lock:
            return proto.usage_payload(self._config["credits"], self._used)

    def _control(self, method: str, path: str, body: bytes) -> Reply:
        if path == "/_sandbox/stats" and method == "GET":
            return json_reply(200, self.stats())
        if path == "/_sandbox/reset" and method == "POST":
            self.reset()
            return json_reply(200, {"ok": True})
        if path == "/_sandbox/config" and method in ("GET", "POST"):
            try:
                changes = json.loads(body or b"{}") if method == "POST" else {}
                if not isinstance(changes, dict):
                    raise ValueError("send a JSON object")
                config = self.configure(**changes)
            except ValueError as exc:
                return json_reply(400, {"error": str(exc)})
            return json_reply(200, {k: v for k, v in config.items() if k != "key"})
        return text_reply(404, "Not found")


def serve(
    host: str = "127.0.0.1", port: int = 8765, *, port_file: str | None = None, **options
) -> int:
    """Run the sandbox in the foreground until Ctrl-C (`plantid sandbox`)."""
    try:
        server = SandboxServer(host, port, **options)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"plantid sandbox: cannot start on {host}:{port}: {exc}") from None
    if port_file:
        with open(f"{port_file}.tmp", "w") as handle:
            handle.write(f"{server.port}\n")
        os.replace(f"{port_file}.tmp", port_file)
    print(
        f"plantid sandbox listening on {server.url} (Plant.id: {server.plantid_url}, "
        f"Pl@ntNet: {server.plantnet_url})",
        file=sys.stderr,
        flush=True,
    )
    server.serve_forever()
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m plantid_cli.sandbox",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--port-file", help="write the chosen port to this file")
    parser.add_argument("--key", help="accept only this API key (default: any non-empty key)")
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--fail-rate", type=float, default=0.0)
    parser.add_argument("--mode", choices=sorted(MODES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--credits", type=int, default=100)
    parser.add_argument("--plantnet-quota", type=int, default=500)
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    options = vars(parser.parse_args(argv))
    return serve(options.pop("host"), options.pop("port"), **options)


if __name__ == "__main__":
    sys.exit(main())
