"""The run's HTTP pool never closes a connection under a request, and holds every request the
run may have out.

DEFECT (session 18, found at -j 400): httpcore's pool (1.0.9, encode/httpcore#1110) hands an
idle connection to a waiting request under its lock; the request's thread starts on it later,
and another thread's pass over the pool in between could still close it - past its keep-alive
expiry (5 s), or over the keep-alive count. Closed under a request already sent, the
service's 201 was charged and read `ReadError: [Errno 9] Bad file descriptor`, and the retry
bought the photo again: 1-8 photos in 400 at -j 400, in most runs. Correct: the pool keeps
every connection it may open and never expires one itself (providers/http.py).

DEFECT (same class): the run's pool was sized for one service's requests (-j + 2), so
`--provider both -j 4` had 6 connections for its 8 slots: two of them always waited for a
connection, and a pool that is full closes an idle connection of one service to open one
for the other - the same close under a request.

Counts, not clocks: the sandbox counts the TCP connections it accepted, and its call log says
how many requests were out at once.
"""

from __future__ import annotations

import pytest
from conftest import run_plantid
from photos import green_photo
from runs import peak_overlap


def test_a_pool_idle_for_seconds_is_replaced_before_its_next_request(cli_env, sandbox, tmp_path):
    """Two calls 6 s apart (past IDLE_POOL): the second goes on a new connection, opened
    before it is sent (the pool with nothing out was replaced whole), never a connection
    closed under it; both answered."""
    photos = [green_photo(tmp_path / f"p{i}.jpg", (160, 120), seed=i) for i in range(2)]
    env = {**cli_env, "PLANTID_RATE_LIMIT": "1/6s", "PLANTID_RETRIES": "0"}
    before = sandbox.stats()["connections"]
    result = run_plantid(["identify", *photos, "-j", "1", "-f", "ndjson"], env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert sandbox.stats()["plantid_identify"] == 2
    assert sandbox.stats()["connections"] - before == 2


class ForgetfulMiddlebox:
    """A TCP relay in front of the sandbox that forgets a connection idle for `forget`
    seconds, as a NAT or a firewall does, without telling either end: the next bytes the
    client sends on it are answered with a reset (SO_LINGER 0), nothing is forwarded."""

    def __init__(self, upstream_port: int, forget: float) -> None:
        import socket
        import threading

        self.forget, self.upstream, self.resets = forget, upstream_port, 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import threading

        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client) -> None:
        import select
        import socket
        import struct
        import time

        upstream = socket.create_connection(("127.0.0.1", self.upstream))
        last = time.monotonic()
        try:
            while True:
                ready, _, _ = select.select([client, upstream], [], [], 1.0)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is client and time.monotonic() - last >= self.forget:
                        self.resets += 1  # forgotten: reset, as a NAT does
                        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                          struct.pack("ii", 1, 0))  # fmt: skip
                        return
                    (upstream if sock is client else client).sendall(data)
                    last = time.monotonic()
        except OSError:
            return
        finally:
            client.close()
            upstream.close()

    def close(self) -> None:
        self.server.close()


def test_a_connection_a_middlebox_forgot_is_never_used_again(cli_env, sandbox, tmp_path):
    """DEFECT (red team, session 19): connections were kept however long they sat idle (the
    pool expires none: session 18's fix above). A NAT or firewall that forgot an idle flow
    reset the next request on it (`ReadError: Connection reset by peer`), and its retry met
    the next forgotten connection: good photos reported failed in runs with gaps between calls.
    Correct: a pool with nothing out for IDLE_POOL seconds is replaced before its next request,
    so no request goes on a connection idle that long. Here a middlebox forgets after 5.5 s,
    calls are 6 s apart, no retries: every photo answered, no reset."""
    from urllib.parse import urlsplit

    port = urlsplit(sandbox.plantid_url).port
    middlebox = ForgetfulMiddlebox(port, forget=5.5)
    try:
        photos = [green_photo(tmp_path / f"n{i}.jpg", (160, 120), seed=40 + i) for i in range(3)]
        through = sandbox.plantid_url.replace(f":{port}", f":{middlebox.port}")
        env = {**cli_env, "PLANTID_RATE_LIMIT": "1/6s", "PLANTID_RETRIES": "0",
               "PLANTID_API_URL": through}  # fmt: skip
        result = run_plantid(["identify", *photos, "-j", "1", "-f", "ndjson"], env, timeout=120)
    finally:
        middlebox.close()
    assert result.returncode == 0, result.stderr
    assert sandbox.stats()["plantid_identify"] == 3
    assert middlebox.resets == 0


def test_both_services_get_their_concurrency_each(cli_env, sandbox, tmp_path):
    sandbox.configure(latency_ms=200)  # every request out long enough to overlap
    photos = [green_photo(tmp_path / f"b{i}.jpg", (160, 120), seed=100 + i) for i in range(24)]
    before = sandbox.stats()["connections"]
    result = run_plantid(
        ["identify", *photos, "-j", "4", "--provider", "both", "-f", "ndjson"], cli_env,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    stats = sandbox.stats()
    assert (stats["plantid_identify"], stats["plantnet_identify"]) == (24, 24)
    kinds = ("plantid_identify", "plantnet_identify")
    calls = [c for c in stats["calls"] if c.get("kind") in kinds]
    assert peak_overlap(calls) == 8  # 4 to each service (was 6: the pool's size)
    assert stats["connections"] - before == 8


def test_four_hundred_requests_out_at_once_each_photo_paid_once(cli_env, sandbox, tmp_path):
    """DEFECT (red team, session 19): at `-j 400` one httpcore pool of 402 connections cost the
    square of its size in bookkeeping each time a request started or ended: 1,000 photos took
    58 s of CPU (5 s at -j 100), and on two cores the threads reading the answers starved past
    their deadlines: 201s the service had delivered were cut as timeouts and bought again (2-27
    photos paid twice a run), or stored as unusable. Correct: the connections are spread over
    pools of at most POOL_SHARD (providers/pools.py); every photo is paid once. Counts from the
    sandbox's call log."""
    import hashlib
    import json
    import resource

    from PIL import Image

    from plantid_cli.run.openfiles import FILES_BASE, FILES_PER_SLOT

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < FILES_BASE + FILES_PER_SLOT * 400:
        pytest.skip(f"this machine's open-files limit ({hard}) cannot carry -j 400")
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(1000):  # small, each different (the sandbox's answer depends on the bytes)
        picture = Image.new("RGB", (48, 36), (40 + i % 50, 120 + i % 97, 40 + i % 43))
        picture.putpixel((i % 48, i // 48 % 36), (255, 255, 255))
        picture.save(folder / f"p{i:04d}.jpg", quality=90)
    sandbox.configure(latency_ms=1500)
    result = run_plantid(["identify", folder, "-j", "400", "-f", "ndjson"], cli_env, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["status"] for r in records].count("ok") == 1000
    calls = [c for c in sandbox.stats()["calls"] if c.get("kind") == "plantid_identify"]
    uploads = [digest for call in calls for digest in call["image_sha256"]]
    assert len(uploads) == 1000 and len(set(uploads)) == 1000  # each photo paid once
    assert peak_overlap(calls) <= 400  # never more out than -j
    assert len({hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}) == 1000
