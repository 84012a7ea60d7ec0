"""The per-unit stages of a run: what happens to one photo (or specimen) between its path
and its record.

  A (CPU): hash the unit -> cache lookup -> fail-fast guards (credits, breaker) -> prepare
  B (network): in-run dedupe -> single flight across processes -> cache again -> the guarded,
    rate-limited, retried call -> store the answer at once
Every answer is stored the moment it arrives, so a killed batch re-run pays only for the rest.
The Engine only runs stages: the thread pools, bounded window and completion order that keep
several units in flight are run/concurrency.py (`run` hands the stages to it); what a unit
needs (hash, prepared photos, request) is run/units.py; how lanes' outcomes become one record
is run/combine.py. A unit is a file (`ImageJob`) or, with `--group-by folder`, a `Specimen`
(1-5 photos, one request). With `--provider auto|both` each provider is a `Lane` with its own
guards and cache namespace.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from plantid_cli.config import Settings
from plantid_cli.errors import (
    Interrupted,
    PlantidError,
    ProbeInFlight,
    ServiceUnavailable,
    UnusableAnswer,
)
from plantid_cli.events import Event, EventBus
from plantid_cli.guards.backend import Backend, open_backend
from plantid_cli.guards.provider_guards import ProviderGuards, deadlines
from plantid_cli.guards.wire import Turn, Wire
from plantid_cli.inputs.hash_index import open_index
from plantid_cli.inputs.specimens import Specimen
from plantid_cli.inputs.walk import ImageJob
from plantid_cli.providers.base import Answer, IdentifyRequest, Provider
from plantid_cli.records import Record, stored_answer
from plantid_cli.run import reread
from plantid_cli.run.charged import outcome_for, unusable_entry
from plantid_cli.run.combine import Outcome, internal_error, to_ask, unit_error
from plantid_cli.run.concurrency import run_concurrent, run_inline
from plantid_cli.run.hashing import Hasher
from plantid_cli.run.lane import Lane
from plantid_cli.run.lookup import Lookups
from plantid_cli.run.options import RunOptions
from plantid_cli.run.pending import Known, Pending
from plantid_cli.run.setups import RunSetups
from plantid_cli.run.summary import RunStats
from plantid_cli.run.units import exif_location, location_for, prepare_unit, request_for, taken_at

if TYPE_CHECKING:
    import httpx


class Engine(Lookups):
    def __init__(
        self,
        settings: Settings,
        request: IdentifyRequest,
        provider: Provider | Sequence[Provider],
        options: RunOptions,
        bus: EventBus | None = None,
        *,
        stop: threading.Event | None = None,
    ) -> None:
        """`provider` is one provider, or a list of them (first = primary) for auto/both;
        setting `stop` (or calling stop()) ends the run: no new work, answers in flight land."""
        providers = list(provider) if isinstance(provider, Sequence) else [provider]
        self.settings = settings
        self.request = request
        self.provider = providers[0]
        self.options = options
        self.mode = options.mode or self.provider.name
        self.bus = bus or EventBus()
        self.stats = RunStats()
        # one backend (one SQLite connection, or one Redis client) for every lane and the cache
        backend = open_backend(settings)
        self.cache = backend.cache() if options.use_cache else None
        # the hash index lives beside the cache: with --no-cache, every photo is read anyway
        index = open_index(settings.cache_path) if self.cache is not None else None
        self.hasher = Hasher(index, rehash=options.rehash)
        self._inflight: dict[str, Future[Any]] = {}
        self._inflight_lock = threading.Lock()
        self._stop = stop if stop is not None else threading.Event()
        #: requests the run may have out at once: each service's lane has its own
        #: `concurrency` slots, all on the run's one client (and each with its open files)
        self.requests_out = options.concurrency * max(1, len(providers))
        self.setups = RunSetups(settings.timeout, self.requests_out, self.cache,
                                backend.kind == "disk", self._stop)  # fmt: skip
        self._closed = False  # close() began: a call failing from now on failed locally
        self.lanes = {p.name: self._lane(p, backend) for p in providers}

    def _lane(self, provider: Provider, backend: Backend) -> Lane:
        guards = ProviderGuards(self.settings, provider.name, provider.api_key, self.bus, backend)
        guards.stop = self._stop  # retries and rate-limit waits end at the first stop
        # --concurrency requests out per service; the store opens once they all are
        return Lane(provider, guards, Wire(self.options.concurrency, self.setups.open_store_now))

    def refusing(self, provider: str) -> bool:
        """Whether `provider`'s guard refuses calls now (breaker open, credits cooling down),
        read from the shared state without any network."""
        lane = self.lanes.get(provider)
        if lane is None:
            return False
        try:
            lane.guards.check()
        except ProbeInFlight:
            return False  # a trial call is out: the run waits for it, its calls will go
        except ServiceUnavailable:
            return True
        return False

    # ----- resources -----
    def client(self) -> httpx.Client:
        """The run's one keep-alive HTTP client (run/setups.py)."""
        return self.setups.client()

    def close(self) -> None:
        self._closed = True
        self.setups.close()
        if self.cache is not None:
            self.cache.close()
        self.hasher.close()

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def stop_event(self) -> threading.Event:  # the free calls around the run give up on it
        return self._stop

    # ----- stage A -----
    def stage_prepare(self, item: ImageJob | Specimen | Known) -> Record | Pending | None:
        """Hash and look up a unit (unless `triage` already did: a `Known`), then prepare it."""
        if self._stop.is_set():
            return None
        job = item.job if isinstance(item, Known) else item
        if job.error is not None:
            return unit_error(job, None, self.provider.name, job.error)
        sha256 = None
        try:
            if isinstance(item, Known):
                sha256, keys, request, outcomes = (
                    item.sha256,
                    item.keys,
                    item.request,
                    item.outcomes,
                )
            else:
                sha256 = self.hasher.unit(job)
                request = request_for(self.request, job)
                keys = self.keys_for(sha256, request)
                outcomes = self._known(job, keys)
                if not to_ask(self.mode, outcomes):
                    return self._finish(job, sha256, outcomes)
            self.setups.warm()
            started = time.monotonic()
            prepared = prepare_unit(job, self.settings)
            self.bus.emit(
                Event.IMAGE_PREPARED, seconds=time.monotonic() - started, path=job.display
            )
        except PlantidError as exc:
            self._refused(self.provider.name, exc, job.display)
            return unit_error(job, sha256, self.provider.name, exc)
        location = location_for(self.request, prepared)
        return Pending(job, sha256, keys, prepared, location, request, outcomes)

    # ----- stage B -----
    def stage_call(self, pending: Pending) -> Record | None:
        job = pending.job
        if self._stop.is_set():
            return None
        with self._inflight_lock:
            leader = self._inflight.get(pending.key)
            mine: Future[Any] | None = None
            if leader is None:
                mine = self._inflight[pending.key] = Future()
        if mine is None:  # the same unit is already being asked for in this run
            assert leader is not None  # (one of the two is set under the lock)
            try:
                outcomes = leader.result()
            except PlantidError as exc:
                return unit_error(job, pending.sha256, self.provider.name, exc)
            if _stopped(outcomes):
                return None
            self.bus.emit(
                Event.CACHE_HIT, provider=self.provider.name, path=job.display, shared=True
            )
            return self._finish(job, pending.sha256, outcomes, follower=True)
        try:
            outcomes = self._resolve(pending)
        except BaseException as exc:
            mine.set_exception(exc)
            raise
        finally:
            # Forget finished keys so memory stays flat over any number of photos: a later
            # duplicate finds the answer in the cache (kept only when there is no cache).
            if self.cache is not None:
                with self._inflight_lock:
                    self._inflight.pop(pending.key, None)
        mine.set_result(outcomes)
        if _stopped(outcomes):  # stopped before its request left: no record, as if not begun
            return None
        return self._finish(job, pending.sha256, outcomes)

    def _resolve(self, pending: Pending) -> dict[str, Outcome]:
        """Ask lanes until the --provider mode is satisfied; `both` asks its lanes concurrently.
        Stage A looked up the lanes first asked here; a lane reached later (`auto` after a
        failed call) is looked up for the first time in `_fetch`."""
        outcomes = dict(pending.outcomes)
        looked_up = True
        while names := to_ask(self.mode, outcomes):
            for name in names:
                self._fell_back(name, outcomes, pending.job.display)
            side = {}
            if len(names) > 1:
                pool = self.setups.side_pool()
                side = {
                    name: pool.submit(self._ask, name, pending, looked_up) for name in names[1:]
                }
            outcomes[names[0]] = self._ask(names[0], pending, looked_up)
            for name, future in side.items():
                outcomes[name] = future.result()
            looked_up = False
        return outcomes

    def _ask(self, name: str, pending: Pending, looked_up: bool = True) -> Outcome:
        try:
            stored, cached = self._fetch(self.lanes[name], pending, looked_up)
        except PlantidError as exc:
            self._refused(name, exc, pending.job.display)
            return Outcome(name, error=exc)
        return outcome_for(name, stored, cached)

    def _fetch(
        self, lane: Lane, pending: Pending, looked_up: bool = True
    ) -> tuple[dict[str, Any], bool]:
        """Single flight across processes: lock, look again, call, store, release.
        `looked_up`: stage A already counted this lane's cache look-up (hit or miss)."""
        if self.cache is None:
            with lane.turn() as turn:
                return self._call(lane, pending, turn), False
        self.setups.open_store_soon()  # while this call is out (see there)
        path = pending.job.display
        key = pending.keys[lane.provider.name]
        wait = deadlines(self.settings).lock_wait  # None: for the holder's answer or death
        with lane.guards.backend.single_flight(key, wait, self._stop) as lock, lane.turn() as turn:
            self.bus.emit(
                Event.LOCK_WAITED,
                provider=lane.provider.name,
                path=path,
                seconds=lock.waited,
                acquired=lock.acquired,
            )
            if not lock.acquired:
                if not lock.stopped and not lock.unavailable:
                    self.bus.emit(Event.LOCK_TIMEOUT, path=path, seconds=lock.waited)
            elif lock.waited > 0.05:
                self.bus.emit(Event.LOCK_ACQUIRED, path=path, seconds=lock.waited)
            if not self.options.refresh or not lock.acquired:
                stored = lane.serving(self.cache.get(key), pending.request)
                if stored is not None and not (self.options.refresh and lock.acquired):
                    self.bus.emit(Event.CACHE_HIT, provider=lane.provider.name, path=path)
                    return stored, True
                if not looked_up and not self.options.refresh:
                    self.bus.emit(Event.CACHE_MISS, provider=lane.provider.name, path=path)
            if not lock.acquired and lock.stopped:  # Ctrl-C / SIGTERM while waiting
                raise Interrupted("stopped while another process was asking for this photo")
            stored = self._call(lane, pending, turn)
            self.cache.set(key, stored)  # before the turn ends: paid and unstored, at most -j
            return stored, False

    def _call(self, lane: Lane, pending: Pending, turn: Turn) -> dict[str, Any]:
        location = pending.location
        position = (location["latitude"], location["longitude"]) if location else None
        when = taken_at(pending.prepared)
        request = pending.request
        # Build the client (imports httpx) before the rate limit stamps this call's start, so
        # the stamp and the request leaving the machine are milliseconds apart.
        client = self.client()

        def attempt() -> Answer:
            try:
                return lane.provider.identify(client, pending.prepared, request, position, when)
            except ServiceUnavailable as exc:
                if not self._closed or isinstance(exc, UnusableAnswer):
                    raise
                # the run tore its client down under this call (an abort): a local end,
                # never a service failure for the shared breaker
                raise Interrupted("the run ended before this answer arrived") from None

        if "location" not in lane.provider.cache_params(request):
            location = exif_location(pending.prepared)  # not sent: keep the photo's own
        # Everything the stored answer needs is known before the call: once it is paid for,
        # nothing but building a dict stands between the answer and the cache.
        # This service's slot first (a re-read is a request out too), then the checks: what
        # other photos' answers taught while this one waited refuses it here (and a fallback
        # lane was not checked in stage A; credits may be gone).
        while True:
            turn.take(self._stop)
            try:
                lane.check()
                if self.cache is not None and not self.options.refresh:  # bought before: free
                    known = (self.cache, lane, pending, client, self.settings.max_image_side)
                    if (free := reread.reread(*known, location, when)) is not None:
                        return free
                answer = lane.gate.call(
                    lambda: lane.guards.call(attempt, pending.job.display, turn)
                )
            except ProbeInFlight as trial:  # refused before anything was sent: a trial is out
                turn.give_back()  # a photo waiting for the trial sends nothing meanwhile
                lane.waiting_for_trial(trial)
                lane.guards.breaker.wait_for_probe(self._stop)
                if self._stop.is_set():  # (a free slot is taken without a look at the stop)
                    raise Interrupted("stopped before the request was sent") from None
                continue
            except UnusableAnswer as exc:  # charged all the same: stored, never bought again
                self._charged(lane.provider)
                return unusable_entry(lane.provider.name, exc, location, when)
            self._charged(lane.provider)
            return stored_answer(lane.provider.name, answer, location, when)

    def _charged(self, provider: Provider) -> None:
        """Count what the service bills for this call (2 for an identification with health)."""
        with self._inflight_lock:
            self.stats.credits_used += getattr(provider, "credits_per_call", 1)

    # ----- the run -----
    def run(
        self, jobs: Iterable[ImageJob], on_idle: Callable[[], None] | None = None
    ) -> Iterator[Record]:
        """Yield one record per job, in completion order, keeping a bounded window in flight
        (`run_concurrent`, with batches looked up by `triage`), or one job at a time in this
        thread with `inline`. `on_idle`: called when no record is ready (flush the output)."""
        stages: dict[str, Any] = {  # the same stages for both runners
            "prepare": self.stage_prepare,
            "call": self.stage_call,
            "needs_call": lambda outcome: isinstance(outcome, Pending),
            "on_record": self.stats.add,
            "stop": self._stop,
            "on_idle": on_idle,
        }
        if self.options.inline:
            yield from run_inline(jobs, **stages)
            return
        yield from run_concurrent(
            jobs,
            failed=lambda job, exc: internal_error(job, self.provider.name, exc),
            concurrency=self.options.concurrency,
            triage=self.triage,
            **stages,
        )


def _stopped(outcomes: dict[str, Outcome]) -> bool:
    return any(isinstance(outcome.error, Interrupted) for outcome in outcomes.values())
