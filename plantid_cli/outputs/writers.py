"""Record writers: ndjson (streamed, completion order), json, csv (Darwin Core), table.

stdout carries data only. ndjson and csv are flushed whenever the run has no record ready
(`flush`, called by run/batch.py before it waits), so `plantid ... | jq` sees each answer the
moment it exists while a cached rerun writes thousands of records per write call. json and
csv keep input order with a small reorder buffer (records arrive in completion order), so
they still stream instead of holding the whole run in memory.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO

from plantid_cli.constants import OUTPUT_FORMATS, PROVIDER_LABELS, STATUS_WORDS
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
    """Emits records in input order as soon as every earlier index has arrived."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self._pending: dict[int, Record] = {}
        self._next = 0

    def write(self, record: Record) -> None:
        self._pending[record["index"]] = record
        while self._next in self._pending:
            self.emit(self._pending.pop(self._next))
            self._next += 1

    def close(self) -> None:
        for index in sorted(self._pending):  # gaps (interrupted runs): keep what we have
            self.emit(self._pending.pop(index))
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


def darwin_core_row(record: Mapping[str, Any], threshold: float = 0.5) -> dict[str, Any]:
    """One Darwin Core row; empty cells where the record has nothing to say."""
    best = record.get("best") or {}
    location = record.get("location") or {}
    error = record.get("error") or {}
    name = best.get("scientific_name") or ""
    authorship = best.get("authorship") or ""
    probability = best.get("probability")
    provider = record.get("provider") or ""
    remarks = []
    if probability is not None:
        remarks.append(f"probability {probability:.3f}")
    if name:
        remarks.append(f"provider {PROVIDER_LABELS.get(provider, provider)}")
        if record.get("organs"):
            remarks.append("organs " + ",".join(record["organs"]))
    return {
        "scientificName": f"{name} {authorship}".strip() if name else "",
        "scientificNameAuthorship": authorship,
        "family": best.get("family") or "",
        "genus": best.get("genus") or "",
        "vernacularName": "; ".join(best.get("common_names") or []),
        "taxonID": f"https://www.gbif.org/species/{best['gbif_id']}" if best.get("gbif_id") else "",
        "identificationQualifier": "cf."
        if name and probability is not None and probability < threshold
        else "",
        "identifiedBy": (
            f"{PROVIDER_LABELS.get(provider, provider)} {record.get('model_version') or ''}".strip()
            if name
            else ""
        ),
        "dateIdentified": (record.get("identified_at") or "") if name else "",
        "identificationRemarks": "; ".join(remarks),
        "eventDate": record.get("taken_at") or "",
        "decimalLatitude": location.get("latitude", ""),
        "decimalLongitude": location.get("longitude", ""),
        "geodeticDatum": "EPSG:4326" if location else "",
        # a specimen's photos, separated as Darwin Core lists are (" | ")
        "associatedMedia": " | ".join(record.get("paths") or []) or record.get("path") or "",
        "basisOfRecord": "MachineObservation",
        "index": record.get("index"),
        "status": record.get("status"),
        "probability": "" if probability is None else probability,
        "provider": provider,
        "cached": str(bool(record.get("cached"))).lower(),
        "degraded": str(bool(record.get("degraded"))).lower(),
        "sha256": record.get("sha256") or "",
        "error_code": error.get("code", ""),
        "error_message": error.get("message", ""),
    }


class TableWriter(OrderedWriter):
    """A Rich table for people at a terminal; rows printed as they come in input order."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self._rows: list[Record] = []

    def emit(self, record: Record) -> None:
        self._rows.append(record)

    def finish(self) -> None:
        import os.path

        from rich.console import Console
        from rich.table import Table

        if not self._rows:
            return  # no photos: nothing to tabulate (stderr already says so)
        paths = [record["path"] for record in self._rows]
        try:
            folder = (
                os.path.commonpath(paths) if len(paths) > 1 else os.path.dirname(paths[0] or "")
            )
        except ValueError:  # absolute and relative paths mixed: show them as given
            folder = ""
        if folder in paths:  # one photo given twice: its own folder, not the file
            folder = os.path.dirname(folder)
        shown = [os.path.relpath(p, folder) if folder else p for p in paths]
        notes = [self._notes(record) for record in self._rows]
        table = Table(
            header_style="bold",
            title=f"in {folder}" if folder and len(paths) > 1 else None,
            title_justify="left",
            title_style="dim",
        )
        table.add_column("#", justify="right")
        table.add_column("photo", overflow="fold")
        table.add_column("status")
        table.add_column("species", overflow="fold")
        table.add_column("common name", overflow="fold")
        table.add_column("family", overflow="fold")
        table.add_column("prob.", justify="right")
        if any(notes):
            table.add_column("", overflow="fold")
        for record, photo, note in zip(self._rows, shown, notes, strict=True):
            best: Mapping[str, Any] = record.get("best") or {}
            status = record["status"]
            style = {"ok": "green", "not_plant": "yellow"}.get(status, "red")
            species = f"[italic]{_escape(best.get('scientific_name', ''))}[/italic]" if best else ""
            if status == "error":
                error = record.get("error")
                species = _escape(error["message"] if error else "")
            probability = best.get("probability")
            cells = [
                str(record["index"] + 1),
                _escape(photo),
                f"[{style}]{STATUS_WORDS.get(status, status)}[/{style}]",
                species,
                _escape((best.get("common_names") or [""])[0]),
                _escape(best.get("family") or ""),
                f"{probability:.0%}" if probability is not None else "",
            ]
            if any(notes):
                cells.append(note)
            table.add_row(*cells)
        Console(file=self.stream, soft_wrap=False).print(table)

    @staticmethod
    def _notes(record: Mapping[str, Any]) -> str:
        notes = []
        if record.get("cached"):
            notes.append("cached")
        if record.get("degraded"):
            notes.append(f"degraded: {PROVIDER_LABELS.get(record['provider'], record['provider'])}")
        return ", ".join(notes)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(str(text))


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
