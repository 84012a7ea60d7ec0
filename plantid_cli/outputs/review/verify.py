"""What a record identifies, once its `verification` (plantid review apply) is taken into account.

Why one function: the CSV, the Darwin Core Archive, the XMP sidecars (`plantid tag`), the report
and the checklist must agree on it. No machine identification enters a collection database as
if a person had made it, and a rejected one is not written as an identification at all:

* no verification: the service's best answer (whatever the status, as the CSV always wrote
  it; `plantid tag` and the checklist still take only status ok), ``verified`` False;
* accepted: the same name, ``verified`` True, identified by the person on the decision's date;
* corrected: the person's name; family, genus, common names and GBIF id come from the
  record's own suggestion of that name when the service offered it, else only the genus (the
  name's first word) is known;
* rejected, or nothing named: None.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from plantid_cli.constants import PROVIDER_LABELS, UNVERIFIED, VERIFIED


@dataclass(frozen=True, slots=True)
class Identification:
    scientific_name: str
    authorship: str = ""
    family: str = ""
    genus: str = ""
    rank: str = ""
    common_names: list[str] = field(default_factory=list)
    gbif_id: int | None = None
    probability: float | None = None  # the service's, when the name is the service's
    verified: bool = False
    identified_by: str = ""  # the person (verified) or "Plant.id <model>"
    date: str = ""  # ISO 8601
    remarks: str = ""
    machine_name: str = ""  # what the service said (a correction names it in the remarks)


def identification(record: Mapping[str, Any]) -> Identification | None:
    """The record's identification after review (see the module doc), or None."""
    verification = record.get("verification") or None
    best = record.get("best") or {}
    machine = best.get("scientific_name")  # (a not_plant record's best guess too, unreviewed)
    provider = str(record.get("provider") or "")
    service = PROVIDER_LABELS.get(provider, provider)
    if verification is None:
        if not machine:
            return None
        by = f"{service} {record.get('model_version') or ''}".strip()
        return _from_suggestion(best, by=by, date=str(record.get("identified_at") or ""))
    decision = verification.get("decision")
    person = str(verification.get("by") or "")
    date = str(verification.get("date") or "")
    remarks = str(verification.get("remarks") or "")
    if decision == "accepted" and machine:
        return _from_suggestion(best, by=person, date=date, verified=True, remarks=remarks)
    if decision == "corrected" and verification.get("scientific_name"):
        name = str(verification["scientific_name"]).strip()
        match = next(
            (
                s
                for s in [best, *(record.get("suggestions") or [])]
                if isinstance(s, Mapping) and _same_name(s.get("scientific_name"), name)
            ),
            None,
        )
        if match is not None:
            found = _from_suggestion(match, by=person, date=date, verified=True, remarks=remarks)
            return replace(found, machine_name=str(machine or ""))
        return Identification(
            scientific_name=name,
            genus=name.split()[0] if name.split() else "",
            verified=True,
            identified_by=person,
            date=date,
            remarks=remarks,
            machine_name=str(machine or ""),
        )
    return None  # rejected (or a decision that names nothing)


def _same_name(value: Any, name: str) -> bool:
    return isinstance(value, str) and value.strip().lower() == name.lower()


def _from_suggestion(
    suggestion: Mapping[str, Any],
    *,
    by: str,
    date: str,
    verified: bool = False,
    remarks: str = "",
) -> Identification:
    probability = suggestion.get("probability")
    gbif = suggestion.get("gbif_id")
    return Identification(
        scientific_name=str(suggestion.get("scientific_name") or ""),
        authorship=str(suggestion.get("authorship") or ""),
        family=str(suggestion.get("family") or ""),
        genus=str(suggestion.get("genus") or ""),
        rank=str(suggestion.get("rank") or ""),
        common_names=[str(c) for c in suggestion.get("common_names") or [] if c],
        gbif_id=gbif if isinstance(gbif, int) and not isinstance(gbif, bool) else None,
        probability=float(probability) if isinstance(probability, int | float) else None,
        verified=verified,
        identified_by=by,
        date=date,
        remarks=remarks,
        machine_name=str(suggestion.get("scientific_name") or ""),
    )


def verification_status(record: Mapping[str, Any]) -> str:
    """Darwin Core identificationVerificationStatus: verified, unverified, or "" (none)."""
    found = identification(record)
    if found is None:
        return ""
    return VERIFIED if found.verified else UNVERIFIED
