"""How the sandbox's replies go on the wire, and the faults that live there: latency, holds,
hangs, resets, a dripped body or dripped headers, a cut body, gzip bombs.

Why apart from the handler: routing decides *what* an endpoint answers (`sandbox.handler`);
this decides *how* it reaches the client, which is where real networks and proxies break a
paid answer. A base of `SandboxHandler` (it uses the request handler's socket and writer).
"""

from __future__ import annotations

import gzip
import select
import socket
import struct
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler

from plantid_cli.sandbox import plantid_api as proto
from plantid_cli.sandbox.contract import Sandbox
from plantid_cli.sandbox.faults import ANSWER_FAULTS, spoil
from plantid_cli.sandbox.plantid_api import (
    CREDITS_TEXT,
    KEY_NOT_FOUND,
    Reply,
    html_reply,
    text_reply,
)
from plantid_cli.sandbox.plantnet_api import plantnet_error

_GZIP_FAULTS = ("gzip_bomb", "gzip_bomb_stacked", "bad_gzip")


class Wire(BaseHTTPRequestHandler):
    """Sending one reply, faulted as configured (`SandboxHandler` routes on top of it)."""

    sb: Sandbox
    _arrived: float | None

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
            if not readable:
                return False
            # socket.socket's own recv: an ssl.SSLSocket refuses MSG_PEEK (ValueError, which
            # killed the handler over https); the raw bytes say end-of-stream all the same
            return socket.socket.recv(self.connection, 1, socket.MSG_PEEK) == b""
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
