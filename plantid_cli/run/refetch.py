"""`plantid refetch`: last month's identifications read again, free, in other languages or
with more details, and written as records of the same shape.

Why not a run of the engine: nothing is uploaded and nothing is bought. Each Plant.id record
carries the service's `access_token`; `GET /identification/{token}` re-reads that stored
identification with this run's `--details` and `--language` and costs no credit. So there is
no cache look-up, no single-flight lock, no credits check (an account out of credits may still
re-read) and no cost count: `credits_used` stays 0 whatever happens. The call still goes through
the account's circuit breaker and rate limit (ProviderGuards.call), like every call this tool
makes, so a refetch of 10,000 records is as polite to the service as an identify run.

A record with nothing to re-read (Pl@ntNet's, an error, one written before records carried a
token) is written unchanged; a re-read that fails writes the original record unchanged too and
counts toward the exit code, so the output always holds every input record.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from plantid_cli.config import Settings
from plantid_cli.errors import PlantidError, exit_code_for
from plantid_cli.events import EventBus
from plantid_cli.guards.provider_guards import ProviderGuards
from plantid_cli.outputs.readback import exact_paths
from plantid_cli.outputs.writers import Writer
from plantid_cli.providers import validate
from plantid_cli.providers.base import IdentifyRequest
from plantid_cli.providers.http import new_client
from plantid_cli.providers.plantid import PlantIdProvider
from plantid_cli.records import Record, build_record, now_iso, stored_answer
from plantid_cli.run.batch import build_request
from plantid_cli.run.options import IdentifyOptions

if TYPE_CHECKING:
    import httpx

    from plantid_cli.providers.base import Answer

log = logging.getLogger("plantid")


@dataclass
class RefetchResult:
    """What a refetch did: records read, re-read, kept as they were, failed; never a credit."""

    total: int = 0
    refetched: int = 0
    kept: int = 0
    failed: int = 0
    interrupted: bool = False
    codes: set[int] = field(default_factory=set)
    credits_used: int = 0  # always 0: a re-read is free, and this says so in the summary

    @property
    def exit_code(self) -> int:
        return exit_code_for(self.codes)

    def summary(self) -> str:
        parts = [f"{self.total} record{'s' * (self.total != 1)}", f"{self.refetched} re-read"]
        if self.kept:
            parts.append(f"{self.kept} kept as they were")
        if self.failed:
            parts.append(f"{self.failed} failed (kept as they were)")
        parts.append(f"{self.credits_used} credits used")
        return ", ".join(parts)


def refetchable(record: Mapping[str, Any]) -> str | None:
    """The access token to re-read `record` by, or None when there is nothing to re-read."""
    token = record.get("access_token")
    if record.get("provider") != "plantid" or record.get("status") == "error":
        return None
    return token if validate.valid_token(token) else None


def refetch_records(
    settings: Settings,
    records: Iterable[Mapping[str, Any]],
    writer: Writer,
    *,
    top: int | None = None,
    bus: EventBus | None = None,
    stop: threading.Event | None = None,
) -> RefetchResult:
    """Re-read every Plant.id record of `records` and write each (updated or as it was).
    `top`: suggestions per record (None: as many as the record had)."""
    bus = bus or EventBus()
    request = build_request(settings, IdentifyOptions())
    provider = PlantIdProvider(settings.url_for("plantid"), settings.key_for("plantid"))
    guards = ProviderGuards(settings, "plantid", provider.api_key, bus)
    if stop is not None:
        guards.stop = stop
    result = RefetchResult()
    with new_client(settings.timeout) as client:
        for record in records:
            result.total += 1
            if stop is not None and stop.is_set():  # stopped: the rest written as they were
                result.interrupted = True
                result.kept += 1
                writer.write(cast("Record", dict(record)))
                continue
            writer.write(_one(record, client, provider, guards, request, top, result))
    writer.close()
    return result


def _one(
    record: Mapping[str, Any],
    client: httpx.Client,
    provider: PlantIdProvider,
    guards: ProviderGuards,
    request: IdentifyRequest,
    top: int | None,
    result: RefetchResult,
) -> Record:
    token = refetchable(record)
    if token is None:
        result.kept += 1
        return cast("Record", dict(record))
    path = str(record.get("path", ""))
    try:
        answer = guards.call(lambda: provider.refetch(client, token, request), path)
    except PlantidError as exc:
        log.warning("%s: not re-read (%s); the record is kept as it was", path, exc.message)
        result.failed += 1
        result.codes.add(exc.exit_code)
        return cast("Record", dict(record))
    result.refetched += 1
    count = top or len(record.get("suggestions") or []) or 1
    return refetched_record(record, answer, count)


def refetched_record(record: Mapping[str, Any], answer: Answer, top: int) -> Record:
    """The record of a re-read identification: the service's new answer, the photo's own
    facts (index, path, sha256, position, date, when it was identified) from the old record,
    `refetched_at` saying when it was read again. Built by records.build_record, as all are."""
    stored = stored_answer("plantid", answer, record.get("location"), record.get("taken_at"))
    stored["identified_at"] = record.get("identified_at")  # the identification is the old one
    stored["refetched_at"] = now_iso()
    for name in ("degraded", "providers", "agreement", "paths"):
        if name in record:  # how the record was made (`--provider both`, a specimen)
            stored[name] = record[name]
    files = exact_paths(record)
    specimen = isinstance(record.get("paths"), list)
    shown = str(record.get("path", ""))
    return build_record(
        int(record.get("index") or 0),
        shown,
        str(record.get("sha256") or ""),
        "plantid",
        file=_exact_unit(record, shown) if specimen or not files else files[0],
        stored=stored,
        top=top,
        location=record.get("location"),
        photos=record.get("paths") if specimen else None,
        photo_files=tuple(files) if specimen else (),
    )


def _exact_unit(record: Mapping[str, Any], shown: str) -> str:
    """A specimen folder's own name: `path_b64` decoded when the record has it."""
    raw = record.get("path_b64")
    if isinstance(raw, str):
        try:
            return os.fsdecode(base64.b64decode(raw, validate=True))
        except ValueError:  # binascii.Error is one
            pass
    return shown
