"""A local stand-in for Plant.id v3 and Pl@ntNet v2, for tests, demos and benchmarks.

It speaks both services' documented protocols (shapes, status codes, error bodies) on one
socket and sends no traffic anywhere else. Answers are deterministic from the image bytes.
The HTTP handler and fault injection live in `sandbox_handler`, request parsing and answer
shapes in `sandbox_protocol` (Pl@ntNet's in `sandbox_plantnet`), the species table in
`sandbox_data`; this module holds the `SandboxServer` control object, its stats and the CLI.

Endpoints
    POST /api/v3/identification            Plant.id (JSON, or multipart with `images` files); 201
    GET  /api/v3/identification/{token}    the stored identification (re-rendered for the query)
    GET  /api/v3/usage_info                credits (free, never faulted; counts as floats)
    POST /api/v3/health_assessment         Plant.id health assessment (as identification); 201
    GET  /api/v3/kb/plants/name_search?q=  knowledge-base search (free; `sandbox.plantid_kb`)
    GET  /api/v3/kb/plants/{token}         one knowledge-base entry (0.5 credits)
    POST /v2/identify/{project}?api-key=K  Pl@ntNet (multipart `images` + `organs`); 200
    GET  /v2/projects?api-key=K&lat=&lon=  the floras (those covering a place with lat/lon)
    GET  /_sandbox/stats   POST /_sandbox/reset   GET|POST /_sandbox/config (JSON)

Not-a-plant rule (both services): decode every image, take its mean R, G, B (over a 32 px
thumbnail), average over the request's images; "not a plant" when max(R, B) - G >= 3 (green
trails red or blue). A solid magenta/red/blue image is not a plant, a solid green or grey one
is. Plant.id then answers is_plant {probability 0.05, binary false} with low-probability
suggestions; Pl@ntNet answers 404 `Species not found` (unless `no-reject=true`).

Credits: Plant.id starts with `credits` (10,000) and charges 1 per successful identification (2
with `health: all|auto`, 1 for a health assessment, 0.5 for a knowledge-base entry); short of the
cost it answers 429. Pl@ntNet starts with `plantnet_quota` (500) and charges
every processed identification (200 and 404); at 0 it answers 429 JSON.

Faults (`mode`, applied to identification endpoints and Pl@ntNet's projects, after
`latency_ms`): error500 and error503 (HTML body), hang (no answer for `hang_seconds`, then
close), credits (429), auth (401),
badjson (success status, truncated JSON), badshape (JSON without `result`/`results`), drip (the
real answer one byte every `drip_interval` s), reset (TCP reset, no answer), echo_key (500 whose
body holds the received key), gzip_bomb (the real answer's status, a gzip body decoding to
`bomb_mb` MiB of zeros), bad_gzip (the same, damaged after its header), gzip_bomb_stacked
(that bomb gzipped again, `Content-Encoding: gzip, gzip`: a few kB sent, so one network read
decodes to all of it), header_drip (the status line and headers one byte every
`drip_interval` s; the call records header_bytes, header_sent and client_gone), cut_body
(the real status and headers, half the body, then a TCP reset; POSTs only, a re-read too
with `fault_reread`), and the unusable charged answers of `sandbox_faults`:
badtypes, badlist, badnumber, hugelist (they spoil POSTs; Plant.id re-reads by token too only
with `fault_reread`).
`fail_rate` answers that fraction of calls error500 (seeded).
`mode_plantid` / `mode_plantnet` set a fault for one API only (they win over `mode`), e.g. to
fail Plant.id while Pl@ntNet answers.

Settings (constructor, `configure(**changes)`, `POST /_sandbox/config`): key, latency_ms,
fail_rate, mode, mode_plantid, mode_plantnet, credits, plantnet_quota, seed, hang_seconds,
drip_interval, retry_after (seconds; when > 0, error503 answers carry `Retry-After`),
bomb_mb, fault_reread, hold_after (null, or n: identification POSTs after the n-th of this
reset wait, marked `held`, until a `configure` raises or clears it; a gate that lets a test
order events without a clock).

Stats (`stats()`, `GET /_sandbox/stats`): counters plantid_identify, plantid_identify_images,
plantid_health, plantid_health_images, plantid_kb_search, plantid_kb_detail, plantid_get,
plantid_usage, plantnet_identify, plantnet_identify_images, plantnet_projects
(GET /v2/projects, faults applied as to identifications), unrouted (requests for a path
neither service has, answered 404), connections (TCP connections accepted: keep-alive shows
as 1); statuses {"201": n, "None": n dropped}; credits
{total, used}; plantnet_remaining; config (key hidden, key_required); calls: the last 10,000
identification calls, each {api, kind, seq (POSTs: 1, 2, ...), method, path (api-key redacted),
t_arrival (request line read, before the body), t_start, t_end, status, delivered (false: the
client had hung up before the status was sent), body_bytes and body_sent (drip: the answer's
length and how much of it went out before the client cut it or the server stopped),
fault, images, image_sizes [[w, h]], image_bytes, image_sha256 (one per image), latitude,
longitude, datetime, organs, project, details, language, classification_level, similar_images,
custom_id (Plant.id body fields; null when not sent)}. Every call that reached the handler
counts, failed or faulted.
"""

from __future__ import annotations

import json
import os
import random
import socket
import sys
import threading
import time
from collections import deque
from typing import TYPE_CHECKING

from plantid_cli.sandbox import plantid_api as proto
from plantid_cli.sandbox.handler import SandboxHandler, SandboxHTTPServer
from plantid_cli.sandbox.plantid_api import KEY_NOT_FOUND, Reply, json_reply, text_reply
from plantid_cli.sandbox.settings import DEFAULT_SETTINGS, KNOBS, MODES

if TYPE_CHECKING:
    import ssl

CALLS_CAP = 10_000
_COUNTERS = (
    "plantid_identify plantid_identify_images plantid_get plantid_usage plantnet_identify"
    " plantnet_identify_images plantnet_projects connections"
    " plantid_health plantid_health_images plantid_kb_search plantid_kb_detail"
    " unrouted"  # requests for a path neither service has (a wrong API URL): 404
).split()


#: The calls that carry images and a sequence number (`seq`, `hold_after`): the paid POSTs.
_POSTS = frozenset({"plantid_identify", "plantid_health", "plantnet_identify"})


class SandboxServer:
    """The sandbox in a background thread: `with SandboxServer() as sb: ... sb.url`."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        verbose: bool = False,
        tls: ssl.SSLContext | None = None,
        **settings,
    ) -> None:
        """`settings`: any of settings.KNOBS (key, latency_ms, credits, mode...), as given to
        `configure`; the rest keep their defaults. `tls`: a server-side context holding a
        certificate: the sandbox then speaks https, as the real services do."""
        self.verbose = verbose
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._released = threading.Condition(self._lock)  # wakes calls held by hold_after
        self._config: dict = dict(DEFAULT_SETTINGS)
        self._connections: set = set()
        self._identifications: dict[str, dict] = {}
        self.configure(**settings)
        self.reset()
        self._httpd = SandboxHTTPServer((host, port), SandboxHandler)
        self._httpd.sandbox = self
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self.host, self.port = host, self._httpd.server_address[1]
        shown = "127.0.0.1" if host in ("", "0.0.0.0") else host
        self.url = f"{'https' if tls else 'http'}://{shown}:{self.port}"
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
        """Answer in the calling thread until Ctrl-C or SIGTERM, then stop (hanging and
        dripping calls are woken, connections dropped)."""
        import signal

        def on_sigterm(signum: int, frame: object) -> None:
            raise KeyboardInterrupt

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, on_sigterm)
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
        with self._lock:
            self._released.notify_all()
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
            self._released.notify_all()
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
            self._plantnet_used = self._tokens = self._seq = 0
            self._used: float = 0  # a knowledge-base entry costs half a credit
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
            if kind in _POSTS:
                self._counters[f"{kind}_images"] += count
                self._seq += 1
                call["seq"] = self._seq
            self._calls.append(call)
        return call

    def _hold(self, call: dict) -> bool:
        """Wait while `hold_after` holds this call back; False when the server stopped."""
        with self._lock:
            while not self._stopping.is_set():
                limit = self._config["hold_after"]
                if limit is None or call.get("seq", 0) <= limit:
                    return True
                call["held"] = True
                self._released.wait()
            return False

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

    def _charge(self, cost: float) -> bool:
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
        if not 0 <= port <= 65535:
            raise ValueError("the port must be 0-65535 (0 picks a free one)")
        server = SandboxServer(host, port, **options)
    except (OSError, ValueError) as exc:
        print(f"plantid sandbox: cannot start on {host}:{port}: {exc}", file=sys.stderr)
        raise SystemExit(2 if isinstance(exc, ValueError) else 1) from None  # 2: a bad option
    if port_file:
        with open(f"{port_file}.tmp", "w") as handle:
            handle.write(f"{server.port}\n")
        os.replace(f"{port_file}.tmp", port_file)
    config = server.config()
    print(
        f"plantid sandbox listening on {server.url} (Plant.id: {server.plantid_url}, "
        f"Pl@ntNet: {server.plantnet_url}); {config['credits']:,} Plant.id credits, "
        f"{config['plantnet_quota']:,} Pl@ntNet identifications; answers are made from the "
        "image bytes, not real identifications",
        file=sys.stderr,
        flush=True,
    )
    server.serve_forever()
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m plantid_cli.sandbox`: every knob of settings.KNOBS is an option (as in
    `plantid sandbox`, cli/sandbox_cmd.py)."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m plantid_cli.sandbox",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--port-file", help="write the chosen port to this file")
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    for name, (default, help_text) in KNOBS.items():
        flag = "--" + name.replace("_", "-")
        if name.startswith("mode"):
            parser.add_argument(flag, choices=sorted(MODES), help=help_text)
        elif isinstance(default, bool):
            parser.add_argument(flag, action="store_true", help=help_text)
        else:
            kind = type(default) if default is not None else (int if name == "hold_after" else str)
            parser.add_argument(flag, type=kind, default=default, help=help_text)
    options = vars(parser.parse_args(argv))
    return serve(options.pop("host"), options.pop("port"), **options)


if __name__ == "__main__":
    sys.exit(main())
