"""What a run can know of a unit without the network: its hash, its cache entries, the
fail-fast guards' word - for one unit, or for a whole batch at once (`triage`).

Why a batch: a cached rerun is nothing but this, and per photo it used to cost a read of the
file, a write transaction in the cache (diskcache counts every hit in one) and two thread hops.
`triage` takes a batch from the walk in the feeder thread: one stat per photo and one hash-index
query (run/hashing.py), one cache read for the batch (`get_many`), and the records of the hits
built right there - they never enter a thread pool. What is left goes on to stage A as `Known`
(hash and look-ups done: only preparation left) or as the job itself (the index did not know
the file: stage A hashes it, in parallel). Split from engine.py (the stages), which mixes it in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from plantid_cli.errors import PlantidError, ProbeInFlight
from plantid_cli.events import Event, EventBus
from plantid_cli.guards.disk.cache import cache_key
from plantid_cli.inputs.specimens import Specimen
from plantid_cli.inputs.walk import ImageJob
from plantid_cli.providers.base import IdentifyRequest, Provider
from plantid_cli.records import Record
from plantid_cli.run.charged import outcome_for
from plantid_cli.run.combine import Outcome, to_ask, unit_error, unit_record
from plantid_cli.run.hashing import Hasher
from plantid_cli.run.options import RunOptions
from plantid_cli.run.pending import Known
from plantid_cli.run.units import request_for

if TYPE_CHECKING:
    from plantid_cli.config import Settings
    from plantid_cli.guards.backend import AnswerCache
    from plantid_cli.run.lane import Lane

Stored = dict[str, Any] | None
#: What `triage` makes of a job: its record, a `Known`, or the job itself (stage A hashes it).
Triaged = Record | Known | ImageJob | Specimen


class Lookups:
    """The engine's look-ups (mixed into `Engine`, which sets these attributes)."""

    settings: Settings
    request: IdentifyRequest
    provider: Provider
    options: RunOptions
    mode: str
    bus: EventBus
    lanes: dict[str, Lane]
    cache: AnswerCache | None
    hasher: Hasher

    def cache_key_for(
        self, sha256: str, provider: Any = None, request: IdentifyRequest | None = None
    ) -> str:
        provider = provider or self.provider
        request = request or self.request
        # the parameters' part of the key is the same for every photo of the run's request: a
        # digest of JSON computed once, not once per photo (a cached rerun makes thousands)
        memo: dict[str, str] = self.__dict__.setdefault("_key_prefix", {})
        prefix = memo.get(provider.name) if request is self.request else None
        if prefix is None:
            params = provider.cache_params(request)
            params["max_side"] = self.settings.max_image_side
            prefix = cache_key(provider.name, provider.api_version, "{sha256}", params)
            if request is self.request:
                memo[provider.name] = prefix
        return prefix.replace("{sha256}", sha256, 1)

    def keys_for(self, sha256: str, request: IdentifyRequest) -> dict[str, str]:
        return {
            name: self.cache_key_for(sha256, lane.provider, request)
            for name, lane in self.lanes.items()
        }

    def _cached(
        self, provider: str, key: str, path: str, request: IdentifyRequest, stored: Any = ...
    ) -> Stored:
        """The cache entry for `key` (`stored`: already read by a batch) if it answers
        `request` (Lane.serving: Pl@ntNet's --top and related images), with its event."""
        if self.cache is None or self.options.refresh:
            return None
        if stored is ...:
            stored = self.cache.get(key)
        assert stored is None or isinstance(stored, dict)
        served: Stored = self.lanes[provider].serving(stored, request)
        self.bus.emit(
            Event.CACHE_MISS if served is None else Event.CACHE_HIT, provider=provider, path=path
        )
        return served

    def lookup(self, job: ImageJob | Specimen) -> tuple[str, str, Record | None]:
        """Hash one unit and look it up for the primary provider: (sha256, key, record|None)."""
        sha256, request = self.hasher.unit(job), request_for(self.request, job)
        key = self.cache_key_for(sha256, self.provider, request)
        stored = self._cached(self.provider.name, key, job.display, request)
        if stored is None:
            return sha256, key, None
        outcomes = {self.provider.name: outcome_for(self.provider.name, stored, cached=True)}
        return sha256, key, self._finish(job, sha256, outcomes)

    def _known(
        self,
        job: ImageJob | Specimen,
        keys: dict[str, str],
        prefetched: dict[str, Stored] | None = None,
    ) -> dict[str, Outcome]:
        """What can be known without the network: cache hits and fail-fast guard refusals.
        Stops at the first lane that needs a call (in `auto`, the fallback is only looked at
        once the primary has failed, so a cached Plant.id answer never touches Pl@ntNet).
        `prefetched`: entries a batch already read, by provider."""
        outcomes: dict[str, Outcome] = {}
        prefetched = prefetched or {}
        request = request_for(self.request, job)
        while names := to_ask(self.mode, outcomes):
            for name in names:
                stored = self._cached(
                    name, keys[name], job.display, request, prefetched.get(name, ...)
                )
                if stored is not None:
                    self._fell_back(name, outcomes, job.display)
                    outcomes[name] = outcome_for(name, stored, cached=True)
                    continue
                try:
                    self.lanes[name].check()
                except ProbeInFlight:
                    pass  # a trial call is out: the call stage waits for its outcome
                except PlantidError as exc:
                    self._fell_back(name, outcomes, job.display)
                    self._refused(name, exc, job.display)
                    outcomes[name] = Outcome(name, error=exc)
            if any(name not in outcomes for name in names):
                break
        return outcomes

    def triage(self, jobs: Sequence[ImageJob | Specimen]) -> list[Triaged]:
        """One batch of the walk, in order: records for what needs no call (cache hits, jobs
        the walk already failed, refusals), `Known` for what needs one, the job itself when
        its hash is not known yet (see the module doc)."""
        plain = [i for i, job in enumerate(jobs) if isinstance(job, ImageJob) and job.error is None]
        hashes = self.hasher.known([jobs[i].path for i in plain])
        sha_of = {i: sha for i, sha in zip(plain, hashes, strict=True) if sha is not None}
        requests = {i: request_for(self.request, jobs[i]) for i in sha_of}
        keys = {i: self.keys_for(sha_of[i], requests[i]) for i in sha_of}
        first = to_ask(self.mode, {})  # the lanes `_known` looks at before any outcome
        wanted = [keys[i][name] for i in sha_of for name in first]
        stored: dict[str, Stored] = {}
        if self.cache is not None and wanted:
            stored = dict(zip(wanted, self.cache.get_many(wanted), strict=True))
        out: list[Triaged] = []
        for i, job in enumerate(jobs):
            if job.error is not None:
                out.append(unit_error(job, None, self.provider.name, job.error))
            elif i not in sha_of:
                out.append(job)
            else:
                sha256, unit_keys = sha_of[i], keys[i]
                outcomes = self._known(job, unit_keys, {n: stored[unit_keys[n]] for n in first})
                if to_ask(self.mode, outcomes):
                    out.append(Known(job, sha256, unit_keys, requests[i], outcomes))
                else:
                    out.append(self._finish(job, sha256, outcomes))
        return out

    def _fell_back(self, name: str, outcomes: dict[str, Outcome], path: str) -> None:
        """`auto` turns to `name` because the primary failed: say so once per unit (a lane's
        outcome is set once, in `_known` or `_resolve`), for the log and the fallbacks metric."""
        primary = self.provider.name
        failed = outcomes.get(primary)
        if self.mode != "auto" or name == primary or failed is None or failed.error is None:
            return
        self.bus.emit(
            Event.FALLBACK,
            from_provider=primary,
            to_provider=name,
            reason=failed.error.reason or failed.error.code,
            path=path,
        )

    def _refused(self, provider: str, exc: PlantidError, path: str) -> None:
        if exc.reason == "circuit-open":
            self.bus.emit(Event.CIRCUIT_OPEN, provider=provider, path=path)

    def _finish(
        self, job: Any, sha256: str, outcomes: dict[str, Outcome], *, follower: bool = False
    ) -> Record:
        """The record for a unit from its providers' outcomes (`strategy.unit_record`)."""
        return unit_record(
            self.mode, job, sha256, outcomes, request=self.request, top=self.options.top,
            follower=follower,
        )  # fmt: skip


__all__ = ["Lookups", "Triaged"]
