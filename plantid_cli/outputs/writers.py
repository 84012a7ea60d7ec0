"""Record writers: ndjson (streamed, completion order), json, csv (Darwin Core), table
(outputs/table.py).

stdout carries data only. ndjson and csv are flushed whenever the run has no record ready
(`flush`, called by run/batch.py before it waits), so `plantid ... | jq` sees each answer the
moment it exists while a cached rerun writes thousands of records per write call. json and
csv keep input order with a small reorder buffer (records arrive in completion order), so
they still stream instead of holding the whole run in memory.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO

from plantid_cli.constants import (
    BASIS_OF_RECORD,
    OUTPUT_FORMATS,
    PROVIDER_LABELS,
    UNVERIFIED,
    VERIFIED,
)
from plantid_cli.errors import OutputError

if TYPE_CHECKING:
    from plantid_cli.records import Record

DWC_COLUMNS = (
    "scientificName",
    "scientificNameAuthorship",
    "family",
    "genus",
    "vernacularName",
    "taxonID",
    "identificationQualifier",
    "identifiedBy",
    "dateIdentified",
    "identificationRemarks",
    "eventDate",
    "decimalLatitude",
    "decimalLongitude",
    "geodeticDatum",
    "associatedMedia",
    "basisOfRecord",
    # the herbarium workflow (issue 15): which specimen, and whether a person verified it
    "catalogNumber",
    "occurrenceID",
    "identificationVerificationStatus",
)
TOOL_COLUMNS = (
    "index",
    "status",
    "probability",
    "provider",
    "cached",
    "degraded",
    "sha256",
    "error_code",
    "error_message",
    "agreement",  # --provider both: species, genus or differ (empty otherwise)
    "specimen",
    "decision",
)


class Writer:
    def __init__(self, stream: TextIO | None = None) -> None:
        stream = stream or sys.stdout
        if stream is None:  # started with stdout closed (`>&-`): refuse before any call
            raise OutputError.from_os_error(None)
        self.stream = stream

    def write(self, record: Record) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        """Push what was written out (the run calls this whenever it has no record ready)."""
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


class NdjsonWriter(Writer):
    def write(self, record: Record) -> None:
        self.stream.write(json.dumps(record, ensure_ascii=False) + "\n")


class OrderedWriter(Writer):
    """Emits records in input order as soon as every earlier index has arrived.

    Records read back from several runs (`cat a.ndjson b.ndjson | plantid export csv -`)
    share indexes: each index holds a list, and one already passed goes out at once. A dict
    of one record per index kept the last of each and dropped the rest, with exit 0."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self._pending: dict[int, list[Record]] = {}
        self._next = 0

    def write(self, record: Record) -> None:
        index = record["index"]
        if type(index) is not int or index < self._next:  # (bool is no index either)
            self.emit(record)
            return
        self._pending.setdefault(index, []).append(record)
        while self._next in self._pending:
            for ready in self._pending.pop(self._next):
                self.emit(ready)
            self._next += 1

    def close(self) -> None:
        for index in sorted(self._pending):  # gaps (interrupted runs): keep what we have
            for record in self._pending.pop(index):
                self.emit(record)
        self.finish()
        super().close()

    def emit(self, record: Record) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        pass


class JsonWriter(OrderedWriter):
    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self._count = 0

    def emit(self, record: Record) -> None:
        self.stream.write(
            ("[\n" if self._count == 0 else ",\n") + json.dumps(record, ensure_ascii=False)
        )
        self._count += 1

    def finish(self) -> None:
        self.stream.write("[]\n" if self._count == 0 else "\n]\n")


class CsvWriter(OrderedWriter):
    def __init__(self, stream: TextIO | None = None, confidence_threshold: float = 0.5) -> None:
        super().__init__(stream)
        self.threshold = confidence_threshold
        # lazy: only the CSV writer needs it
        import csv

        self._csv = csv.DictWriter(self.stream, fieldnames=DWC_COLUMNS + TOOL_COLUMNS)
        self._csv.writeheader()

    def emit(self, record: Record) -> None:
        row = darwin_core_row(record, self.threshold)
        self._csv.writerow({column: csv_safe(value) for column, value in row.items()})


# OWASP "CSV Injection": a cell starting with one of these is a formula to Excel, LibreOffice
# and Google Sheets (tab and CR too: some strip them and then see the next character).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> Any:
    """`value`, with a leading ``'`` when a spreadsheet would run it as a formula.

    Why: file names, service-supplied names and error messages end up in cells; a photo named
    ``=HYPERLINK(...)`` must not become a live link. Numbers (``-12.5`` latitudes) are data and
    stay as they are, so the columns still sort and sum."""
    if not isinstance(value, str) or not value.startswith(_FORMULA_STARTS):
        return value
    try:
        float(value)
    except ValueError:
        return "'" + value
    return value


def csv_unguarded(value: str) -> str:
    """A cell as it was before `csv_safe` (or the report's review export, which guards the
    same way) put a ``'`` in front of it: what reads such a CSV back (`review apply`) takes
    the mark off, so a remark "=1+1" stays "=1+1", not "'=1+1"."""
    if value.startswith("'") and csv_safe(value[1:]) == value:
        return value[1:]
    return value


def occurrence_id(record: Mapping[str, Any]) -> str:
    """A stable occurrenceID: from the catalogue number when there is one (the same sheet keeps
    its ID across runs, services and re-scans), else from the photo's (or specimen's) sha256."""
    number = record.get("catalog_number")
    if isinstance(number, str) and number:
        return f"urn:catalog:plantid:{number}"
    sha256 = record.get("sha256")
    return f"urn:plantid:sha256:{sha256}" if isinstance(sha256, str) and sha256 else ""


def media_paths(record: Mapping[str, Any]) -> list[str]:
    """Every photo of the record: a specimen's `paths`, else its one `path`."""
    paths = record.get("paths") or []
    if paths:
        return [str(p) for p in paths]
    return [str(record["path"])] if record.get("path") else []


def _remarks(
    record: Mapping[str, Any], found: Any, probability: float | None, service: str
) -> list[str]:
    """identificationRemarks: the service's figures, or what the reviewer decided and why."""
    verification = record.get("verification") or {}
    decision = verification.get("decision")
    by = verification.get("by") or "a reviewer"
    machine = (record.get("best") or {}).get("scientific_name") or ""
    said = f"{service} said {machine}" if machine else ""
    if probability is not None and said:
        said += f" (probability {probability:.3f})"
    remarks = []
    if decision == "accepted" and found is not None:
        remarks.append(f"machine identification accepted by {by}; {said}".strip("; "))
    elif decision == "corrected" and found is not None:
        remarks.append(f"corrected by {by}; {said}".strip("; "))
    elif decision == "rejected":
        remarks.append(f"machine identification rejected by {by}; {said}".strip("; "))
    else:
        if probability is not None:
            remarks.append(f"probability {probability:.3f}")
        if found is not None:
            remarks.append(f"provider {service}")
            if record.get("organs"):
                remarks.append("organs " + ",".join(record["organs"]))
    if decision and verification.get("remarks"):
        remarks.append(str(verification["remarks"]))
    return remarks


def darwin_core_row(record: Mapping[str, Any], threshold: float = 0.5) -> dict[str, Any]:
    """One Darwin Core row; empty cells where the record has nothing to say.

    The identification is the reviewed one (outputs/review/verify.py): a verified name is
    identified by the person, a rejected one leaves the identification columns empty."""
    # lazy: the review layer is paid by the formats that write Darwin Core rows, not by json
    from plantid_cli.outputs.review.verify import identification

    found = identification(record)
    best = record.get("best") or {}
    location = record.get("location") or {}
    error = record.get("error") or {}
    verification = record.get("verification") or {}
    name = found.scientific_name if found else ""
    authorship = found.authorship if found else ""
    probability = best.get("probability")
    provider = record.get("provider") or ""
    service = PROVIDER_LABELS.get(provider, provider)
    remarks = _remarks(record, found, probability, service)
    unverified_low = (
        found is not None and not found.verified and probability is not None
        and probability < threshold
    )  # fmt: skip
    return {
        "scientificName": f"{name} {authorship}".strip() if name else "",
        "scientificNameAuthorship": authorship,
        "family": found.family if found else "",
        "genus": found.genus if found else "",
        "vernacularName": "; ".join(found.common_names) if found else "",
        "taxonID": f"https://www.gbif.org/species/{found.gbif_id}"
        if found and found.gbif_id
        else "",
        "identificationQualifier": "cf." if unverified_low else "",
        "identifiedBy": found.identified_by if found else "",
        "dateIdentified": found.date if found else "",
        "identificationRemarks": "; ".join(remarks),
        "eventDate": record.get("taken_at") or "",
        "decimalLatitude": location.get("latitude", ""),
        "decimalLongitude": location.get("longitude", ""),
        "geodeticDatum": "EPSG:4326" if location else "",
        # a specimen's photos, separated as Darwin Core lists are (" | ")
        "associatedMedia": " | ".join(media_paths(record)),
        "basisOfRecord": BASIS_OF_RECORD,
        "catalogNumber": record.get("catalog_number") or "",
        "occurrenceID": occurrence_id(record),
        "identificationVerificationStatus": (
            "" if found is None else VERIFIED if found.verified else UNVERIFIED
        ),
        "index": record.get("index"),
        "status": record.get("status"),
        "probability": "" if probability is None else probability,
        "provider": provider,
        "cached": str(bool(record.get("cached"))).lower(),
        "degraded": str(bool(record.get("degraded"))).lower(),
        "sha256": record.get("sha256") or "",
        "error_code": error.get("code", ""),
        "error_message": error.get("message", ""),
        "agreement": record.get("agreement") or "",
        "specimen": record.get("specimen") or "",
        "decision": verification.get("decision") or "",
    }


class TableWriter(OrderedWriter):
    """A Rich table for people at a terminal (outputs/table.py), printed at the end in input
    order: its column widths depend on every row."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self._rows: list[Record] = []

    def emit(self, record: Record) -> None:
        self._rows.append(record)

    def finish(self) -> None:
        # lazy: the table (and Rich) only for a run that prints one
        from plantid_cli.outputs.table import print_table

        print_table(self._rows, self.stream)


def make_writer(
    fmt: str, stream: TextIO | None = None, confidence_threshold: float = 0.5
) -> Writer:
    """The writer for `fmt`. A stream that refuses the first bytes (the csv header) is an
    OutputError here, before any photo is sent; later failures are the run's (run.batch)."""
    try:
        if fmt == "ndjson":
            return NdjsonWriter(stream)
        if fmt == "json":
            return JsonWriter(stream)
        if fmt == "csv":
            return CsvWriter(stream, confidence_threshold)
        if fmt == "table":
            return TableWriter(stream)
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OutputError.from_os_error(exc) from None
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(OUTPUT_FORMATS)}")
