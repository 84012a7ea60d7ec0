"""Which providers to ask for one image, and how their answers become one stored answer.

`--provider` modes:

* `plantid` / `plantnet`: one service, exactly as before.
* `auto`: Plant.id first. When it cannot answer for a reason that is not the photo's fault
  (breaker open, 5xx, timeout, credits gone, key rejected), the same upload goes to Pl@ntNet.
  Such a record says so: `degraded: true` and a `providers` object with each service's status
  and reason token. Nothing is silent (a previous system quietly ran on its second provider
  for weeks).
* `both`: both services asked concurrently; the record holds each one's best, `agreement`
  (`species`, `genus` or `differ`) and `best` is the agreed species or the more confident one.

The engine asks; this module only decides. Answers are cached per provider (a later
`--provider plantid` run reuses Plant.id's part of a `both` run), so the combined answer is
rebuilt here every time from per-provider stored answers and is never cached itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from plantid_cli.constants import PROVIDER_MODES, PROVIDERS
from plantid_cli.errors import (
    EXIT_AUTH,
    EXIT_IMAGE_FAILED,
    EXIT_UNAVAILABLE,
    ConfigError,
    PlantidError,
    ServiceUnavailable,
    UnusableAnswer,
)
from plantid_cli.inputs.specimens import Specimen
from plantid_cli.records import build_record
from plantid_cli.run.units import shown_location

if TYPE_CHECKING:
    from plantid_cli.records import Record

AGREEMENT = ("species", "genus", "differ")


def providers_for(mode: str) -> tuple[str, ...]:
    """The services a mode uses, in the order they are asked (the first one is primary)."""
    if mode in ("auto", "both"):
        return PROVIDERS  # Plant.id first: the primary
    if mode in PROVIDERS:
        return (mode,)
    raise ValueError(f"provider must be one of {', '.join(PROVIDER_MODES)}, not {mode!r}")


@dataclass
class Outcome:
    """What one provider gave for one image: a stored answer, or the error that stopped it."""

    provider: str
    stored: dict[str, Any] | None = None
    cached: bool = False
    error: PlantidError | None = None

    @property
    def answered(self) -> bool:
        return self.stored is not None


@dataclass
class Combined:
    """The record-to-be: a stored answer (possibly annotated) or an error, plus extra fields."""

    provider: str
    stored: dict[str, Any] | None = None
    cached: bool = False
    error: PlantidError | None = None
    fields: dict[str, Any] = field(default_factory=dict)  # for error records


def falls_back(error: PlantidError | None) -> bool:
    """Whether `auto` may try the next service: outages, credits and key problems yes; a photo
    the service refused (bad request, bad file) no — the next service would refuse it too."""
    return isinstance(error, ServiceUnavailable | ConfigError)


def to_ask(mode: str, outcomes: dict[str, Outcome]) -> list[str]:
    """The providers to ask next (concurrently) given what is known; [] when complete."""
    names = providers_for(mode)
    if mode == "both":
        return [name for name in names if name not in outcomes]
    for name in names:  # single and auto: in order, the next only after a fallback failure
        outcome = outcomes.get(name)
        if outcome is None:
            return [name]
        if outcome.answered or not falls_back(outcome.error):
            return []
    return []


def combine(mode: str, outcomes: dict[str, Outcome]) -> Combined:
    """The one answer for an image once `to_ask` says nothing more is needed."""
    names = [name for name in providers_for(mode) if name in outcomes]
    if mode == "both":
        return _both([outcomes[name] for name in names])
    first = outcomes[names[0]]
    if first.answered:
        return Combined(first.provider, first.stored, first.cached)
    answering = next((outcomes[n] for n in names if outcomes[n].answered), None)
    report = {"providers": {n: provider_status(outcomes[n]) for n in names}}
    if answering is None:
        error = most_serious([outcomes[n].error for n in names])
        fields = report if len(names) > 1 else {}
        return Combined(error_provider(outcomes, error), error=error, fields=fields)
    stored = dict(answering.stored or {})
    stored.update(degraded=True, **report)
    return Combined(answering.provider, stored, answering.cached)


def provider_status(outcome: Outcome, *, with_best: bool = False) -> dict[str, Any]:
    """Per-provider entry of `providers`: status (`ok`, `not_plant`, or the error code such as
    `unavailable`, `credits`, `auth`) and a reason token (`circuit-open`, `http-503` ...)."""
    if outcome.stored is not None:
        entry: dict[str, Any] = {
            "status": outcome.stored.get("status"),
            "reason": None,
            "cached": outcome.cached,
        }
        if with_best:
            entry["best"] = outcome.stored.get("best")
            entry["model_version"] = outcome.stored.get("model_version")
            token = (outcome.stored.get("extra") or {}).get("access_token")
            if token is not None:  # Plant.id's handle on its answer, whichever best was chosen
                entry["access_token"] = token  # (session 19: lost when Pl@ntNet's won)
        return entry
    error = outcome.error
    return {
        "status": getattr(error, "code", "error"),
        "reason": getattr(error, "reason", "error"),
        "message": getattr(error, "message", ""),
    }


def agreement(first: dict[str, Any] | None, second: dict[str, Any] | None) -> str:
    """`species` when both bests name the same species, `genus` the same genus, else `differ`."""
    if not first or not second:
        return "differ"
    if _norm(first.get("scientific_name")) and _norm(first.get("scientific_name")) == _norm(
        second.get("scientific_name")
    ):
        return "species"
    if _norm(first.get("genus")) and _norm(first.get("genus")) == _norm(second.get("genus")):
        return "genus"
    return "differ"


def _both(outcomes: list[Outcome]) -> Combined:
    answering = [o for o in outcomes if o.answered]
    report = {o.provider: provider_status(o, with_best=True) for o in outcomes}
    if not answering:
        error = most_serious([o.error for o in outcomes])
        by_name = {o.provider: o for o in outcomes}
        return Combined(error_provider(by_name, error), error=error, fields={"providers": report})
    if len(answering) < len(outcomes):  # one service failed: the other's answer, flagged
        only = answering[0]
        stored = dict(only.stored or {})
        stored.update(degraded=True, providers=report, agreement=None)
        return Combined(only.provider, stored, only.cached)
    first, second = (o.stored or {} for o in answering)
    with_best = [o for o in answering if (o.stored or {}).get("best")]
    if not with_best:  # neither saw a plant
        chosen, token = answering[0], None
    else:
        chosen = max(with_best, key=lambda o: (o.stored or {})["best"].get("probability") or 0)
        token = agreement(first.get("best"), second.get("best"))
    stored = dict(chosen.stored or {})
    stored.update(providers=report, agreement=token)
    _keep_health(stored, answering)
    return Combined(chosen.provider, stored, all(o.cached for o in answering))


def _keep_health(stored: dict[str, Any], answering: list[Outcome]) -> None:
    """`identify --health`: Plant.id's assessment stays on the record whichever service's best
    was chosen (Pl@ntNet assesses no health)."""
    for outcome in answering:
        health = ((outcome.stored or {}).get("extra") or {}).get("health")
        if health is not None:
            stored["extra"] = {**(stored.get("extra") or {}), "health": health}


def most_serious(errors: list[PlantidError | None]) -> PlantidError:
    """The error to report when every service failed: auth before outage before the rest."""
    present = [e for e in errors if e is not None]
    rank = {EXIT_AUTH: 0, EXIT_UNAVAILABLE: 1, EXIT_IMAGE_FAILED: 2}
    return min(present, key=lambda e: rank.get(e.exit_code, 3))


def error_provider(outcomes: dict[str, Outcome], error: PlantidError) -> str:
    return next((name for name, o in outcomes.items() if o.error is error), "")


def _norm(value: Any) -> str:
    return " ".join(str(value or "").lower().split())


# ----- records for a unit (a file or a specimen) ----------------------------------------------
def unit_record(
    mode: str,
    job: Any,
    sha256: str,
    outcomes: dict[str, Outcome],
    *,
    request: Any,
    top: int,
    follower: bool = False,
) -> Record:
    """The record for a unit from its providers' outcomes; `follower`: shared within the run.

    Everything the record shows is decided here, then built by one call to
    `records.build_record`; nothing patches it afterwards.
    """
    if not getattr(request, "related_images", False):  # `providers.*.best` too, with both
        outcomes = {
            name: replace(o, stored=_without_related_images(o.stored)) if o.stored else o
            for name, o in outcomes.items()
        }
    combined = combine(mode, outcomes)
    if combined.stored is None or combined.error is not None:
        cached = False
        if isinstance(combined.error, UnusableAnswer):  # a paid answer: stored, not re-bought
            cached = combined.error.cached or follower
        return unit_error(
            job, sha256, combined.provider, combined.error, fields=combined.fields, cached=cached
        )
    stored = combined.stored
    organs = predicted = None
    if combined.provider == "plantnet":
        extra = stored.get("extra") or {}
        organs = list(extra.get("organs") or [])
        predicted = _predicted_organs(extra.get("predicted_organs"))
    return build_record(
        job.index, job.display, sha256, combined.provider,
        stored=stored, cached=combined.cached or follower, top=top,
        location=shown_location(request, stored.get("location")), organs=organs,
        predicted_organs=predicted, **_unit_files(job),
    )  # fmt: skip


def _without_related_images(stored: dict[str, Any]) -> dict[str, Any]:
    """A cached Pl@ntNet answer asked with --related-images serves a run without it (it
    holds more than asked); its records then show what this run asked for, no more."""
    if not any("related_images" in s for s in stored.get("suggestions") or []):
        return stored
    slim = [{k: v for k, v in s.items() if k != "related_images"} for s in stored["suggestions"]]
    best = stored.get("best")
    if best is not None:
        best = {k: v for k, v in best.items() if k != "related_images"}
    return {**stored, "suggestions": slim, "best": best}


def _predicted_organs(value: Any) -> list[Any]:
    """Pl@ntNet's `predicted_organs` as records show them ({organ, score} per photo); answers
    cached before the scores were kept hold the organ names alone (score unknown: null)."""
    return [
        item if isinstance(item, dict) else {"organ": item, "score": None} for item in value or []
    ]


def unit_error(
    job: Any,
    sha256: str | None,
    provider: str,
    error: Any,
    *,
    fields: dict[str, Any] | None = None,
    cached: bool = False,
) -> Record:
    """An error record for a unit (a specimen's record names its photos too)."""
    return build_record(
        job.index, job.display, sha256, provider,
        error=error, fields=fields, cached=cached, **_unit_files(job),
    )  # fmt: skip


def _unit_files(job: Any) -> dict[str, Any]:
    """The record's file arguments: the unit's path, a specimen's photos, its identity."""
    if isinstance(job, Specimen):
        return {
            "file": job.path,
            "photos": job.paths,
            "photo_files": tuple(member.path for member in job.members),
            "specimen": job.specimen,
            "catalog_number": job.catalog_number,
        }
    if getattr(job, "catalog_number", None) is not None:  # --catalog-number ("": none found)
        return {"file": job.path, "catalog_number": job.catalog_number or None, "numbered": True}
    return {"file": job.path}


def internal_error(job: Any, provider: str, exc: BaseException) -> Record:
    """The record of a unit whose stage raised something unexpected: an error, never a crash."""
    if isinstance(exc, PlantidError):
        error = exc
    else:
        error = ServiceUnavailable(
            f"internal error: {type(exc).__name__}: {exc}", reason="internal"
        )
    return unit_error(job, None, provider, error)
