"""The sandbox's HTTP side (`plantid_cli.sandbox.server`): routing and the endpoints' replies.

How a reply (or a fault) goes on the wire is `sandbox.wire`; what the handler asks of the
server it belongs to is `sandbox.contract`.

`SandboxHandler` parses each request with `sandbox_protocol` / `sandbox_plantnet`, runs
identification calls through latency and the configured fault mode, and keeps counts, credits
and stored identifications on the `SandboxServer` it belongs to (`self.server.sandbox`).
The endpoints, faults and settings are documented in `plantid_cli.sandbox.server`.
"""

from __future__ import annotations

import re
import socket
import sys
import time
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from plantid_cli.sandbox import data
from plantid_cli.sandbox import plantid_api as proto
from plantid_cli.sandbox import plantid_kb as kb
from plantid_cli.sandbox import plantnet_api as pn
from plantid_cli.sandbox.contract import Sandbox
from plantid_cli.sandbox.plantid_api import (
    CREDITS_TEXT,
    Reply,
    json_reply,
    text_reply,
)
from plantid_cli.sandbox.plantnet_api import plantnet_error
from plantid_cli.sandbox.wire import Wire

MAX_BODY = 64 * 1024 * 1024


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    sandbox: Sandbox

    def handle_error(self, request, client_address):
        if self.sandbox.verbose:
            super().handle_error(request, client_address)


class SandboxHandler(Wire):
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
            cfg = sb.config()
            if cfg["usage_hang"]:  # a free call that never answers (run/budget.py)
                sb._stopping.wait(cfg["hang_seconds"])
                self.close_connection = True
                return None
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
        if path == "/":
            return self._send(text_reply(200, f"plantid sandbox: Plant.id at {sb.plantid_url}"))
        sb._count("unrouted")
        if path.startswith("/v2/"):
            return self._send(plantnet_error(404, "Not Found"))
        return self._send(text_reply(404, "Not found"))

    def _key(self) -> str:
        return self.headers.get("Api-Key", "").strip()

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
        if not pn.known_project(project):  # free: nothing was identified
            return plantnet_error(404, "Not Found")
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
