"""One HTTP exchange within one total deadline, its answer capped by *decoded* size.

Why a helper thread: httpx applies its read timeout to each socket read, also while it waits
for the response headers, so an upstream that drips one header byte per read timeout holds
`client.send()` as long as it likes (a run hung 40 s at `--timeout 2`). The exchange runs in a
daemon helper thread (kept for the next exchange: `_Helpers`); the caller waits at most the
deadline (connect, upload, headers and body together), then shuts down the sockets this request
opened, so that the helper's blocked read ends at once and the connection is dropped, and
raises ReadTimeout - unless the request already gave its connection back to the pool, where it
is the next request's (`_RELEASING`). A hang on a reused keep-alive connection (whose socket
an earlier request opened) is shut down the same way: left to drip on, its 201 completed 13 s
later, after the retry had bought the photo again (soak). Finding that connection's socket is
the one use of a dependency's internals here: httpcore's HTTP11Connection keeps it as
`_network_stream`, read from the frame that starts sending the request (`_reused_stream`);
pyproject pins httpcore's tested range and tests/test_charged_cut.py fails the moment the shim
stops taking effect.

Why the caller waits for the helper after the deadline (up to SETTLE_SECONDS): on a loaded
machine an answer can reach this machine before the deadline while the helper thread, starved of
CPU, has not parsed it yet. Judging at once called that paid 201 a timeout with no status, and
the retry bought the photo again (the soak found 3 in 1,189). Shutting a socket down does not
discard what it has received, so once the sockets are shut the helper cannot block on the
network: it reads what had arrived and ends, and the caller judges on what really came. (A
bound on CPU scheduling, SETTLE_SECONDS, counted in every attempt's span.)

Why decoded bytes: a gzip answer of 1 MB can decode to 1 GB. The body is read decoded, a step
(DECODE_STEP) at a time, and abandoned once it passes the cap, so memory stays near cap + one
step per request in flight whatever the encoding (httpx's own decoding undid each 64 kB network
read whole: 64 MB at once). Stacked
encodings (`gzip, gzip`) multiply those ratios — a 3 kB answer decoded to 2 GB in one chunk
(MemoryError under a 1.5 GB limit, after a paid 201) — so they are refused unread.

Why a charged exchange ends in `UnusableAnswer`: once the status line of an identification says
2xx, the service has charged. A body then cut (the total deadline, a reset, the size cap, a
gzip that does not decode) is a paid answer that cannot be used: retrying it would buy it
again. So it is raised as `UnusableAnswer` with the text read so far, which the engine stores
and never re-buys (`run/charged.py`). The status is known from the status line itself, among
the first bytes the answer brings (`_watch`): a 201 whose headers are then dripped past the
deadline is paid too. Before any status line (a hang, a service slower than the deadline)
nothing says the service charged, and the exchange stays a timeout, retried.
"""

from __future__ import annotations

import os
import queue
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from plantid_cli.constants import SETTLE_SECONDS
from plantid_cli.errors import BadResponse, UnusableAnswer
from plantid_cli.providers.validate import MAX_RAW_CHARS, unusable

if TYPE_CHECKING:
    from types import FrameType

    import httpx

#: Most decoded bytes one step of a compressed answer yields (`_decoded`).
DECODE_STEP = 1 << 20
_OPENED = (".connect_tcp.complete", ".start_tls.complete")
#: The first event of a request on a connection, opened now or earlier.
_SENDING = "http11.send_request_headers.started"
#: The request is done with its connection: right after, the connection is back in the pool,
#: another request's, and an abandon must not shut its socket.
_RELEASING = "http11.response_closed.started"
#: How much of an answer's start is kept to read its status line from (paid()).
_HEAD_BYTES = 32
_STATUS_LINE = re.compile(rb"HTTP/\d(?:\.\d)? ([1-5]\d{0,2})")


class _Exchange:
    def __init__(
        self,
        client: httpx.Client,
        request: httpx.Request,
        max_bytes: int,
        charged_by: str | None,
    ) -> None:
        self.client, self.request, self.max_bytes = client, request, max_bytes
        self.charged_by = charged_by  # the provider that charges a 2xx to this request
        self.status: int | None = None  # set once the response headers are in
        self.head = b""  # the answer's first bytes as they came, before any parsing (paid())
        self._watched: list[tuple[Any, Any]] = []  # (stream, our reader on it)
        self.chunks: list[bytes] = []  # the decoded body read so far
        self.streams: list[Any] = []  # network streams opened for this request
        self.abandoned = threading.Event()
        self.released = False  # its connection went back to the pool (under _shutting)
        self._shutting = threading.Lock()
        self.done = threading.Event()
        self.response: httpx.Response | None = None
        self.error: BaseException | None = None
        chained = request.extensions.get("trace")

        def trace(event: str, info: dict[str, Any]) -> None:
            if event == _RELEASING:
                with self._shutting:  # an abandon now would shut the next request's socket
                    self.released = True
                self._unwatch()  # the connection is the next request's, and so its reads
            opened = info.get("return_value") if event.endswith(_OPENED) else None
            if opened is None and event == _SENDING and not self.streams:
                opened = _reused_stream()  # a keep-alive connection: its socket is older
            if opened is not None:
                self.streams.append(opened)
                self._watch(opened)
                if self.abandoned.is_set():
                    self._shut()
            if chained is not None:
                chained(event, info)

        request.extensions["trace"] = trace

    def run(self, then: Callable[[], None] | None = None) -> None:
        """Read the exchange; `then` (the helper going back to its pool) runs before the
        caller is woken, so that the caller's next request finds the helper free."""
        try:
            self.response = self._read()
        except BaseException as exc:  # handed to the caller (or dropped once it has left)
            self.error = exc
        finally:
            self._unwatch()
            if then is not None:
                then()
            self.done.set()

    def _read(self) -> httpx.Response:
        import httpx

        response = self.client.send(self.request, stream=True)
        self.status = response.status_code
        try:
            self._body(response)
        except (httpx.HTTPError, BadResponse) as exc:
            if self.paid():  # the service has charged: never a retry (module doc)
                raise self.cut(_why(exc)) from None
            raise
        finally:
            response.close()
        headers = [
            (name, value)
            for name, value in response.headers.multi_items()
            if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(
            response.status_code,
            headers=headers,
            content=b"".join(self.chunks),
            request=self.request,
        )

    def _body(self, response: httpx.Response) -> None:
        import httpx

        codings = [c.strip() for c in response.headers.get("content-encoding", "").split(",")]
        if len([c for c in codings if c.lower() not in ("", "identity")]) > 1:
            # stacked codings multiply: one 64 kB read of `gzip, gzip` decodes to gigabytes
            # before the cap sees a byte (module doc); neither service sends them
            raise BadResponse(f"answer in stacked encodings ({', '.join(codings)}): refused")
        size = 0
        try:
            for chunk in _decoded(response):  # gzip/deflate undone here, a step at a time
                # past the deadline, a shut socket yields only what had arrived (then ends);
                # a reused one (not shut) could drip on: stop at its next chunk
                if self.abandoned.is_set() and not self.streams:
                    raise httpx.ReadTimeout("abandoned at the deadline", request=self.request)
                size += len(chunk)
                if size > self.max_bytes:
                    raise BadResponse(f"answer larger than {self.max_bytes} bytes: abandoned")
                self.chunks.append(chunk)
        except httpx.DecodingError:  # the service's fault, like invalid JSON
            encoding = response.headers.get("content-encoding", "")
            raise BadResponse(f"answer not valid {encoding} (cannot be decoded)") from None

    def paid(self) -> bool:
        """Whether the service has answered this charged request with 2xx (it has charged):
        the parsed status, or, when the headers never ended (dripped past the deadline), the
        status line among the first bytes that came."""
        status = self.status if self.status is not None else _status_in(self.head)
        return self.charged_by is not None and status is not None and 200 <= status < 300

    def _watch(self, stream: Any) -> None:
        """Keep the first _HEAD_BYTES this request reads from `stream`: the status line of a
        201 whose headers then came slower than the deadline was taken for a timeout with no
        status, retried and bought again (red team: 6 credits for one photo over two runs).
        httpcore's network streams (`read(max_bytes, timeout)`, its documented interface) are
        plain objects: the reader is set on the instance and taken off again once the request
        is done with the connection (`_unwatch`), so a keep-alive connection never gathers
        readers (tests/test_charged_cut.py checks both)."""
        read = getattr(stream, "read", None)
        if read is None or self.charged_by is None:  # a free request: paid() is False anyway
            return

        def reading(max_bytes: int, timeout: float | None = None) -> bytes:
            data: bytes = read(max_bytes, timeout)
            self.head += data[: _HEAD_BYTES - len(self.head)]
            if len(self.head) >= _HEAD_BYTES:
                self._unwatch()  # the status line is in: the body's reads go straight
            return data

        try:
            stream.read = reading
        except (AttributeError, TypeError):  # a stream that takes no attributes: unwatched
            return
        self._watched.append((stream, reading))

    def _unwatch(self) -> None:
        for stream, reading in self._watched:
            if vars(stream).get("read") is reading:  # ours, not the next request's
                del stream.read
        self._watched.clear()

    def cut(self, why: str) -> UnusableAnswer:
        """The paid answer whose body could not be read whole, with the text read so far."""
        if self.status is None:  # headers cut: the status line is all there is
            self.status = _status_in(self.head)
        kept, wanted = [], MAX_RAW_CHARS * 4  # the start only: never a copy of the whole cap
        for chunk in list(self.chunks):
            if wanted <= 0:
                break
            kept.append(chunk[:wanted])
            wanted -= len(kept[-1])
        raw = b"".join(kept).decode("utf-8", "replace")
        return unusable(str(self.charged_by), f"HTTP {self.status}, then {why}", raw, None)

    def _shut(self) -> None:
        with self._shutting:
            if not self.released:  # a released connection is another request's (found by a
                self._shut_streams()  # red-team: that request's paid 201 was bought again)

    def _shut_streams(self) -> None:
        for stream in list(self.streams):
            try:
                sock = stream.get_extra_info("socket")
                if sock is not None:  # wakes a recv() blocked in the helper; socket.socket's
                    # own shutdown, for an ssl.SSLSocket too: SSLSocket.shutdown drops the TLS
                    # state first, and the helper then read the answer that had arrived as
                    # ciphertext (a paid 201 taken for a timeout and bought again)
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except (OSError, AttributeError, ValueError):
                pass

    def abandon(self) -> None:
        self.abandoned.set()
        self._shut()


def exchange(
    client: httpx.Client,
    method: str,
    url: str,
    kwargs: dict[str, Any],
    max_bytes: int,
    *,
    charged_by: str | None = None,
    stop: threading.Event | None = None,
) -> httpx.Response:
    """The whole answer of one request, read within its read timeout's seconds in all
    (ReadTimeout after that), or BadResponse once its decoded body passes `max_bytes`. With
    `charged_by` (a provider), a 2xx whose body cannot be read whole is an UnusableAnswer.

    `stop`, for a free request only: once it is set the request is given up at once (the
    run's credit check: Ctrl-C or SIGTERM waited out a hung usage_info, 10 s). A charged one
    never is: its answer, once the service has charged, is the run's to keep."""
    import httpx

    if stop is not None and charged_by is not None:
        raise ValueError("a charged request is never given up on a stop")
    request = client.build_request(method, url, **kwargs)
    work = _Exchange(client, request, max_bytes, charged_by)
    # the request's own timeout (httpx fills it in from the client's when none is given)
    limit = (request.extensions.get("timeout") or {}).get("read", client.timeout.read)
    if limit is None:
        work.run()
    else:
        started = time.monotonic()
        _HELPERS.give(work)
        if not _done_within(work.done, limit, stop):
            work.abandon()
            if stop is not None and stop.is_set():
                raise httpx.ReadTimeout("given up: the run was stopped", request=request)
            finished = work.done.wait(SETTLE_SECONDS)
            if not (finished and (work.response is not None or _own_timeout(work.error))):
                waited = time.monotonic() - started
                why = f"no complete answer within {limit:g}s ({waited:.1f}s)"
                if work.paid():  # headers in, body cut: a paid answer (module doc)
                    raise work.cut(why)
                raise httpx.ReadTimeout(why, request=request)
    if work.error is not None:
        raise work.error
    assert work.response is not None
    return work.response


def _done_within(done: threading.Event, seconds: float, stop: threading.Event | None) -> bool:
    """Whether `done` is set within `seconds`; False as soon as `stop` is (polled: an Event
    cannot wait for two)."""
    if stop is None:
        return done.wait(seconds)
    deadline = time.monotonic() + seconds
    while not stop.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return done.is_set()
        if done.wait(min(left, 0.05)):
            return True
    return done.is_set()


class _Helpers:
    """The helper threads exchanges run in, each kept for the next exchange once its own ends.

    Why kept: a thread started per request cost each call of a `-j 8` run about 0.7 ms in
    front of its request (the caller waits until the new thread runs), a round at a time. A
    helper whose exchange was abandoned stays out of the pool until that exchange ends (its
    sockets shut, it ends at once); the next exchange then gets another thread. Daemon threads:
    one waiting for work never holds the process's exit."""

    #: Idle helpers kept; more (after a burst) end once their exchange does.
    KEEP = 64

    def __init__(self) -> None:
        self.forget()

    def forget(self) -> None:
        """No idle helper (a forked child has none of its parent's threads)."""
        self._idle: list[queue.SimpleQueue[_Exchange]] = []
        self._lock = threading.Lock()

    def give(self, work: _Exchange) -> None:
        with self._lock:
            inbox = self._idle.pop() if self._idle else None
        if inbox is None:
            inbox = queue.SimpleQueue()
            threading.Thread(target=self._serve, args=(inbox,), name="plantid-http",
                             daemon=True).start()  # fmt: skip
        inbox.put(work)

    def _serve(self, inbox: queue.SimpleQueue[_Exchange]) -> None:
        kept = True

        def back() -> None:
            nonlocal kept
            with self._lock:
                kept = len(self._idle) < self.KEEP
                if kept:
                    self._idle.append(inbox)

        while kept:
            work = inbox.get()
            work.run(then=back)
            del work  # its answer belongs to the caller, not to an idle thread


_HELPERS = _Helpers()
if hasattr(os, "register_at_fork"):  # a forked child has none of its parent's helper threads
    os.register_at_fork(after_in_child=_HELPERS.forget)


def _decoded(response: httpx.Response) -> Iterator[bytes]:
    """The body of `response`, gzip or deflate undone at most DECODE_STEP bytes at a time.

    Why not `iter_bytes()`: httpx decodes each network read whole, and one 64 kB read of a
    gzip bomb is 64 MB at once, per request in flight (`-j 8` peaked at 668 MB with the cap at
    32 MB). Here zlib is asked for at most DECODE_STEP per call and keeps the rest of its input
    (`unconsumed_tail`), so a request holds the cap plus one step. Other codings (none, or
    what httpx alone knows) go through httpx as before.
    """
    import zlib

    import httpx

    coding = response.headers.get("content-encoding", "").strip().lower()
    if coding in ("gzip", "x-gzip"):
        modes = [zlib.MAX_WBITS | 16]
    elif coding == "deflate":  # zlib-wrapped as the RFC says, or raw as some servers send it
        modes = [zlib.MAX_WBITS, -zlib.MAX_WBITS]
    else:
        yield from response.iter_bytes()
        return
    unpack, fresh = zlib.decompressobj(modes[0]), True
    try:
        for data in response.iter_raw():
            while data:
                try:
                    out = unpack.decompress(data, DECODE_STEP)
                except zlib.error:
                    if not (fresh and len(modes) > 1):
                        raise
                    unpack, fresh, modes = zlib.decompressobj(modes[1]), False, modes[1:]
                    continue
                fresh, data = False, unpack.unconsumed_tail
                if out:
                    yield out
        tail = unpack.flush()
        if tail:
            yield tail
    except zlib.error as exc:
        raise httpx.DecodingError(str(exc), request=response.request) from None


def _reused_stream() -> Any:
    """The network stream of the httpcore connection that is starting to send a request: the
    `_network_stream` of the `self` of a calling frame (module doc; httpcore pinned)."""
    frame: FrameType | None = sys._getframe(2)
    for _ in range(6):
        if frame is None:
            break
        stream = getattr(frame.f_locals.get("self"), "_network_stream", None)
        if stream is not None and hasattr(stream, "get_extra_info"):
            return stream
        frame = frame.f_back
    return None


def _status_in(head: bytes) -> int | None:
    """The status an answer's first bytes give (`HTTP/1.1 201 Cre...`); from its first digit
    alone when only that came (a 2 is enough to say the service has charged)."""
    found = _STATUS_LINE.match(head)
    if found is None:
        return None
    digits = found.group(1)
    return int(digits) if len(digits) == 3 else int(digits[:1]) * 100  # bytes: [:1], not [0]


def _why(exc: BaseException) -> str:
    if isinstance(exc, BadResponse):
        return exc.message
    return f"the body was cut ({type(exc).__name__})"


def _own_timeout(error: BaseException | None) -> bool:
    import httpx

    return isinstance(error, httpx.TimeoutException) and "abandoned" not in str(error)
