"""The sandbox's HTTP side (`plantid_cli.sandbox.server`): routing, fault injection, the replies.

`SandboxHandler` parses each request with `sandbox_protocol` / `sandbox_plantnet`, runs
identification calls through latency and the configured fault mode, and keeps counts, credits
and stored identifications on the `SandboxServer` it belongs to (`self.server.sandbox`).
The endpoints, faults and settings are documented in `plantid_cli.sandbox.server`.
"""

from __future__ import annotations

import gzip
import re
import select
import socket
import struct
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from plantid_cli.sandbox import data
from plantid_cli.sandbox import plantid_api as proto
from plantid_cli.sandbox import plantid_kb as kb
from plantid_cli.sandbox import plantnet_api as pn
from plantid_cli.sandbox.faults import ANSWER_FAULTS, spoil
from plantid_cli.sandbox.plantid_api import (
    CREDITS_TEXT,
    KEY_NOT_FOUND,
    Reply,
    html_reply,
    json_reply,
    text_reply,
)
from plantid_cli.sandbox.plantnet_api import plantnet_error

_GZIP_FAULTS = ("gzip_bomb", "gzip_bomb_stacked", "bad_gzip")


class Sandbox(Protocol):
    """What a handler needs of the sandbox it serves (server.SandboxServer is the one).

    A Protocol here because server.py imports this module to build its HTTP server: the handler
    must not import the server back.
    """

    url: str
    verbose: bool
    _stopping: threading.Event
    _identifications: dict[str, dict]

    def _connection(self, connection: socket.socket, opened: bool) -> None: ...

    def _finish(self, call: dict, status: int | None) -> None: ...

    def _auth(self, key: str) -> Reply | None: ...

    plantid_url: str

    def config(self) -> dict: ...

    def remaining_credits(self) -> int: ...

    def plantnet_remaining(self) -> int: ...

    def _control(self, method: str, path: str, body: bytes) -> Reply: ...

    def _begin(self, kind, method, path, count, blobs, fields, query) -> dict: ...

    def _count(self, name: str) -> None: ...

    def _usage(self) -> dict: ...

    def _hold(self, call: dict) -> bool: ...

    def _roll_failure(self, rate: float) -> str | None: ...

    def _charge(self, cost: float) -> bool: ...

    def _charge_plantnet(self) -> int | None: ...

    def _rate_headers(self) -> dict: ...

    def _token(self, digest: bytes) -> str: ...

    def _store(self, token: str, stored: dict) -> None: ...


MAX_BODY = 64 * 1024 * 1024


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    sandbox: Sandbox

    def handle_error(self, request, client_address):
        if self.sandbox.verbose:
            super().handle_error(request, client_address)


class SandboxHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "plantid-sandbox/1"
    timeout = 60  # idle keep-alive connections are dropped after a minute
    server: SandboxHTTPServer

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
        self._arrived = time.time()  # before the body is read: when the request reached us
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
        if path == "/api/v3/health_assessment" and method == "POST":
            fields, count, blobs, error = proto.parse_plantid(body, ctype)
            fields = {**fields, "health": "only"}  # what a health assessment is (the SDK's)
            call = sb._begin("plantid_health", method, self.path, count, blobs, fields, query)
            answer = lambda: self._plantid_post(fields, blobs, error, query, call)  # noqa: E731
            return self._faulted(call, self._key(), answer)
        if re.fullmatch(r"/api/v3/kb/plants/[^/]+", path) and method == "GET":
            search = path.endswith("/name_search")
            kind = "plantid_kb_search" if search else "plantid_kb_detail"
            call = sb._begin(kind, method, self.path, 0, [], {}, query)
            answer = lambda: kb.reply(sb, path, query, self._key())  # noqa: E731
            return self._faulted(call, self._key(), answer)
        if match := re.fullmatch(r"/api/v3/identification/([^/]+)", path):
            call = sb._begin("plantid_get", method, self.path, 0, [], {}, query)
            token = match.group(1)
            answer = lambda: self._plantid_get(method, token, query)  # noqa: E731
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
            call = sb._begin("plantnet_projects", method, self.path, 0, [], {}, query)
            key = query.get("api-key", [""])[-1].strip()
            answer = lambda: pn.plantnet_projects_reply(query, key, sb.config()["key"])  # noqa: E731
            return self._faulted(call, key, answer)
        if path.startswith("/v2/"):
            return self._send(plantnet_error(404, "Not Found"))
        if path == "/":
            return self._send(text_reply(200, f"plantid sandbox: Plant.id at {sb.plantid_url}"))
        return self._send(text_reply(404, "Not found"))

    def _key(self) -> str:
        return self.headers.get("Api-Key", "").strip()

    def _send(self, reply: Reply, call: dict | None = None, drip: float | None = None) -> None:
        if call is not None:
            call["delivered"] = not self._client_gone()
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
            else:  # one byte at a time, giving up when the server stops; the call counts
                # them (body_sent of body_bytes): a client that cut it short is seen afterwards
                progress = call if call is not None else {}
                progress.update(body_bytes=len(reply.body), body_sent=0)
                for i in range(len(reply.body)):
                    if self.sb._stopping.wait(drip):
                        self.close_connection = True
                        break
                    self.wfile.write(reply.body[i : i + 1])
                    progress["body_sent"] = i + 1
        except OSError:
            self.close_connection = True
        if call is not None:
            call["t_end"] = time.time()

    def _client_gone(self) -> bool:
        """Whether the client has hung up (its end-of-stream is waiting to be read): a status
        sent now reaches no one. A call records it as `delivered` (false: it gave up first)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _send_cut(self, reply: Reply, call: dict) -> None:
        """The status and headers, half the body, then a reset: charged, never delivered."""
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.ctype)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.sb._finish(call, reply.status)
        try:
            self.wfile.write(reply.body[: len(reply.body) // 2])
            self.wfile.flush()
        except OSError:
            pass
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
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
        call["t_arrival"] = self._arrived
        if not sb._hold(call):
            return self._drop(call, reset=False)
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
            spoiled = fault in ANSWER_FAULTS and (call["method"] == "POST" or cfg["fault_reread"])
            if spoiled and reply.payload is not None and 200 <= reply.status < 300:
                reply = spoil(str(fault), reply)  # in ANSWER_FAULTS: a name
            elif fault in _GZIP_FAULTS and reply.payload is not None:
                if 200 <= reply.status < 300:  # gigabytes once decoded / damaged
                    stacked = fault == "gzip_bomb_stacked"  # the bomb gzipped again: kB sent
                    coding = "gzip, gzip" if stacked else "gzip"
                    headers = {**reply.headers, "Content-Encoding": coding}
                    bomb = proto.gzip_bomb(cfg["bomb_mb"])
                    body = bomb if fault == "gzip_bomb" else bomb[:10] + b"\xff" * 64
                    body = gzip.compress(bomb, 9) if stacked else body
                    reply = Reply(reply.status, body, reply.ctype, headers)
        if fault == "header_drip":
            return self._send_header_drip(reply, call, cfg["drip_interval"])
        if fault == "cut_body" and (call["method"] == "POST" or cfg["fault_reread"]):
            return self._send_cut(reply, call)
        self._send(reply, call, cfg["drip_interval"] if fault == "drip" else None)

    def _send_header_drip(self, reply: Reply, call: dict, interval: float) -> None:
        """The status line and headers one byte every `interval` s (padded to 200+ bytes),
        then the body. The call records `header_bytes`, how many were sent (`header_sent`)
        and `client_gone` when the client hung up before the end."""
        lines = [f"HTTP/1.1 {reply.status} {HTTPStatus(reply.status).phrase}"]
        lines += [f"Content-Type: {reply.ctype}", f"Content-Length: {len(reply.body)}"]
        lines += [f"{name}: {value}" for name, value in reply.headers.items()]
        lines.append("X-Drip: " + "." * 160)
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        call.update(header_bytes=len(head), header_sent=0, client_gone=False)
        self.sb._finish(call, reply.status)
        self.close_connection = True
        try:
            for i in range(len(head)):
                if self.sb._stopping.wait(interval):
                    return
                self.wfile.write(head[i : i + 1])
                call["header_sent"] = i + 1
            self.wfile.write(reply.body)
        except OSError:
            call["client_gone"] = True
        finally:
            call["t_end"] = time.time()

    def _plantid_post(self, fields, blobs, error, query, call) -> Reply:
        sb = self.sb
        if denied := sb._auth(self._key()):
            return denied
        cost = 1 if fields.get("health") in (None, "only") else 2  # kindwise.com/faq
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
            "health": fields.get("health"),  # None, "all", "auto", "only" (an assessment)
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
        known = [info for info in infos if info is not None]
        if len(known) != len(infos):
            return plantnet_error(400, "Invalid image data")
        if any(info[2] not in ("JPEG", "PNG") for info in known):
            return plantnet_error(400, "Unsupported file type: JPEG and PNG only")
        remaining = sb._charge_plantnet()
        if remaining is None:
            return plantnet_error(429, "Quota exceeded", sb._rate_headers())
        headers = sb._rate_headers()
        payload = pn.plantnet_payload(project, files, organs, infos, query, remaining, sb.url)
        if payload is None:
            return plantnet_error(404, "Species not found", headers)
        return json_reply(200, payload, headers)
