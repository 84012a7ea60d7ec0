"""A run's one-time set-ups: its HTTP client, the pool for `--provider both`'s second service,
and the work done ahead of need in the background (the client and the lock files' import while
a photo is prepared; the cache's write side while its request is out), all ended in the right
order by `close`.

Why apart from the engine: these are the run's resources, not its stages; the engine asks for
them (`client`, `side_pool`, `warm`, `open_store_soon`) and ends them (`close`).
May import: the top-level modules, providers.http, guards.lazy_imports.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from plantid_cli.constants import STORE_OPEN_GRACE
from plantid_cli.providers.http import new_client

if TYPE_CHECKING:
    import httpx


class RunSetups:
    def __init__(
        self, timeout: float, concurrency: int, cache: Any, locks_on_disk: bool,
        stop: threading.Event,
    ) -> None:  # fmt: skip
        self._timeout, self._concurrency = timeout, concurrency
        self._cache, self._locks_on_disk, self._stop = cache, locks_on_disk, stop
        self._client: httpx.Client | None = None
        self._side: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()  # every set-up here is made once, under it
        self._warmer: threading.Thread | None = None
        self._store_opener: threading.Thread | None = None
        self._store_go = threading.Event()  # open the store now, without waiting out the grace
        self._closed = False

    def client(self) -> httpx.Client:
        """One keep-alive HTTP client per run (httpx imported only when a call is needed):
        a connection for each request the run may have out (`concurrency` here is every
        service's slots together), and one each for the credit check and a re-read."""
        with self._lock:
            if self._client is None:
                self._client = new_client(self._timeout, self._concurrency + 2)
                if self._closed:  # the warm-up built it as a stopped run closed: never left open
                    self._client.close()
            return self._client

    def warm(self) -> None:
        """Get ready to call as soon as a unit needs one, in the background, overlapped with
        preparing it, instead of in front of the first request: the lock files' portalocker
        (~13 ms of imports) and the HTTP client (httpx's import, an SSL context: a few hundred
        ms on a busy machine). A cached rerun pays for neither."""
        if self._warmer is not None:  # every photo asks: the lock only for the first ones
            return
        steps: list[Callable[[], object]] = []
        if self._locks_on_disk and self._cache is not None:
            from plantid_cli.guards.lazy_imports import portalocker  # lazy: as the locks

            steps.append(portalocker)
        if self._client is None:  # (the credit check may have built it already)
            steps.append(self.client)

        def build() -> None:
            for step in steps:
                with contextlib.suppress(Exception):  # each is done again where it is needed
                    if not self._closed:
                        step()

        with self._lock:  # two preparers at once start one warm-up (close joins that one)
            if self._warmer is None:
                self._warmer = threading.Thread(target=build, name="plantid-client", daemon=True)
                self._warmer.start()

    def side_pool(self) -> ThreadPoolExecutor:
        """The threads `--provider both` asks its second service in, made at its first use."""
        with self._lock:
            if self._side is None:
                self._side = ThreadPoolExecutor(
                    self._concurrency, thread_name_prefix="plantid-side"
                )
            return self._side

    def open_store_soon(self) -> None:
        """Open the cache's write side in the background once a unit is about to be asked
        for, while requests are out, instead of at the first answer's store (diskcache's
        import and ~80 SQLite statements, which every other call thread's first store waited
        for: issue 17, ~10 ms of a run's second round). Not before: a run whose photos all
        fail before a call, or are all answered from the cache, opens nothing. Not at once
        either: the first requests of a batch are still being sent, and the opening would
        hold them back; it starts when every slot of the run is out (`open_store_now`, the
        Wire's `on_full`), or STORE_OPEN_GRACE after this call (a run of fewer photos than
        slots), whichever comes first."""
        opened = getattr(self._cache, "opened", None)  # the disk cache (Redis's has none)
        if opened is None or self._store_opener is not None:
            return
        with self._lock:
            if self._store_opener is not None:
                return

            def open_store() -> None:
                self._store_go.wait(STORE_OPEN_GRACE)
                with contextlib.suppress(Exception):  # the first store opens it, and reports
                    if not self._closed:
                        opened()

            self._store_opener = threading.Thread(
                target=open_store, name="plantid-store", daemon=True
            )
            self._store_opener.start()

    def open_store_now(self) -> None:
        """Every slot of the run is out: open the cache's write side now (see above)."""
        self._store_go.set()
        self.open_store_soon()

    def close(self) -> None:
        """No set-up starts from now on. Unless the run was stopped, wait for those under way
        (never leave mid-import or mid-open at exit: an import's temporary-folder probe left
        its file behind; a store opened must be closed after) and for the second service's
        calls (once stopped, never for one that hangs); then close the client."""
        self._closed = True
        self._store_go.set()  # an opener still waiting out its grace ends without opening
        stopped = self._stop.is_set()
        if not stopped:
            for helper in (self._warmer, self._store_opener):
                if helper is not None:
                    helper.join()
        if self._side is not None:
            self._side.shutdown(wait=not stopped, cancel_futures=True)
        with self._lock:  # a warm-up building the client finishes it first
            if self._client is not None:
                self._client.close()
