"""Writers for `plantid health` records: csv and table (ndjson and json are identify's).

Why not the Darwin Core CSV: a health record names no taxon (its `best` is null), so the
identification columns would all be empty; a health CSV has one row per photo with its
verdict, the top disease and the others by name, and the same tool columns as identify's.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO

from plantid_cli.constants import HEALTH_STATUS_WORDS
from plantid_cli.errors import OutputError
from plantid_cli.outputs.writers import OrderedWriter, Writer, csv_safe, make_writer

if TYPE_CHECKING:
    from plantid_cli.records import Record

HEALTH_COLUMNS = (
    "index",
    "path",
    "status",
    "is_healthy",
    "healthy_probability",
    "disease",
    "disease_probability",
    "disease_common_name",
    "other_diseases",
    "provider",
    "cached",
    "sha256",
    "error_code",
    "error_message",
)


def health_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """One CSV row: empty cells where the record has nothing to say."""
    healthy = record.get("is_healthy") or {}
    diseases = record.get("diseases") or []
    top = diseases[0] if diseases else {}
    error = record.get("error") or {}
    return {
        "index": record.get("index"),
        "path": record.get("path") or "",
        "status": record.get("status"),
        "is_healthy": "" if not healthy else str(bool(healthy.get("binary"))).lower(),
        "healthy_probability": healthy.get("probability", ""),
        "disease": top.get("name", ""),
        "disease_probability": top.get("probability", ""),
        "disease_common_name": (top.get("common_names") or [top.get("local_name") or ""])[0],
        "other_diseases": "; ".join(d.get("name", "") for d in diseases[1:]),
        "provider": record.get("provider") or "",
        "cached": str(bool(record.get("cached"))).lower(),
        "sha256": record.get("sha256") or "",
        "error_code": error.get("code", ""),
        "error_message": error.get("message", ""),
    }


class HealthCsvWriter(OrderedWriter):
    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self._csv = csv.DictWriter(self.stream, fieldnames=HEALTH_COLUMNS)
        self._csv.writeheader()

    def emit(self, record: Record) -> None:
        row = health_row(record)
        self._csv.writerow({column: csv_safe(value) for column, value in row.items()})
        self.stream.flush()


class HealthTableWriter(OrderedWriter):
    """A Rich table for people: photo, verdict, the most likely problem."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self._rows: list[Record] = []

    def emit(self, record: Record) -> None:
        self._rows.append(record)

    def finish(self) -> None:
        from rich.table import Table

        # lazy: Rich, only for a table (outputs/console.py)
        from plantid_cli.outputs.console import stdout_console
        from plantid_cli.outputs.table import shown  # markup and control characters as text

        if not self._rows:
            return
        table = Table(header_style="bold")
        for name in ("#", "photo", "status", "healthy", "most likely problem", "prob."):
            table.add_column(name, justify="right" if name in ("#", "prob.") else "left")
        for record in self._rows:
            row = health_row(record)
            status = record["status"]
            problem = row["disease"]
            if row["disease_common_name"] and row["disease_common_name"] != problem:
                problem = f"{problem} ({row['disease_common_name']})"
            error = record.get("error")
            if status == "error":
                problem = error["message"] if error else ""
            healthy = record.get("is_healthy")
            verdict = ""
            if healthy:
                word = "yes" if healthy["binary"] else "no"
                verdict = f"{word} ({healthy['probability']:.0%})"
            probability = row["disease_probability"]
            table.add_row(
                str(record["index"] + 1),
                shown(record["path"]),
                HEALTH_STATUS_WORDS.get(status, status)
                + (" (cached)" if record.get("cached") else ""),
                verdict,
                shown(str(problem)),
                f"{probability:.0%}" if isinstance(probability, float) else "",
            )
        stdout_console(self.stream, soft_wrap=False).print(table)


def make_health_writer(fmt: str, stream: TextIO | None = None) -> Writer:
    """The writer of health records for `fmt` (ndjson and json as identify writes them)."""
    try:
        if fmt == "csv":
            return HealthCsvWriter(stream)
        if fmt == "table":
            return HealthTableWriter(stream)
    except BrokenPipeError:
        raise
    except OSError as exc:  # the header refused: before any photo is sent (make_writer's)
        raise OutputError.from_os_error(exc) from None
    return make_writer(fmt, stream)
