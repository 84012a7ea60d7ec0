"""The decisions file (the report's export) and `plantid review apply`.

A decisions file is CSV with the header ``sha256,decision,scientific_name,identified_by,remarks``
(DECISION_COLUMNS): one row per reviewed card, ``decision`` one of DECISIONS, ``sha256`` the
record's (a photo's, or a specimen's identity over its photos). Applying it gives each matching
record a `verification` object::

    {"decision": "corrected", "scientific_name": "Aloe arborescens", "by": "A. Botanist",
     "date": "2026-12-02", "remarks": "leaf margin"}

Why by sha256 and not by path: the results file may be moved, the photos renamed, and a record
is the same identification as long as the photos are the same bytes. A decision that matches no
record (a decisions file from another run, a typo) is returned, never dropped in silence; a row
that cannot be a decision is a UsageError naming its line, before anything is written.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date as Date
from pathlib import Path
from typing import Any

from plantid_cli.constants import DECISION_COLUMNS, DECISIONS
from plantid_cli.errors import UsageError
from plantid_cli.outputs.writers import csv_unguarded
from plantid_cli.records import Verification

_SHA256 = re.compile(r"[0-9a-f]{64}")
#: A decisions file is small (one short row per card): anything far larger is not one.
MAX_DECISIONS_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Decision:
    line: int  # in the decisions file (the header is line 1)
    sha256: str
    decision: str
    scientific_name: str
    identified_by: str
    remarks: str


def read_decisions(source: str | Path, text: str | None = None) -> list[Decision]:
    """Every decision in the file (or in `text`), checked; UsageError names the first bad line."""
    name = str(source)
    if text is None:
        try:
            if Path(source).stat().st_size > MAX_DECISIONS_BYTES:
                raise UsageError(f"{name}: too large to be a decisions file")
            text = Path(source).read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise UsageError(f"no such decisions file: {name}") from None
        except IsADirectoryError:
            raise UsageError(f"{name} is a folder, not a decisions file") from None
        except UnicodeDecodeError:
            raise UsageError(f"{name}: not UTF-8 text (a decisions file is CSV)") from None
        except OSError as exc:
            raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from None
    # strict: an unclosed quote is an error, not a field that swallows every later row (which
    # applied one decision of seven, exit 0); a field may be as large as the file may be
    # (csv's default limit of 128 KiB made a long remark an internal error); the limit is the
    # process's, so it is put back: a program using plantid as a library keeps its own
    previous = csv.field_size_limit(max(csv.field_size_limit(), MAX_DECISIONS_BYTES))
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        return _checked_rows(name, reader)
    except csv.Error as exc:
        raise UsageError(f"{name} line {reader.line_num}: not valid CSV ({exc})") from None
    finally:
        csv.field_size_limit(previous)


def _checked_rows(name: str, reader: csv.DictReader[str]) -> list[Decision]:
    header = [column.strip() for column in reader.fieldnames or []]
    missing = [column for column in DECISION_COLUMNS if column not in header]
    if missing:
        raise UsageError(
            f"{name}: not a decisions file (needs the columns {','.join(DECISION_COLUMNS)}; "
            f"missing {', '.join(missing)})"
        )
    reader.fieldnames = header
    found = []
    for row in reader:
        line = reader.line_num
        cells = {
            key: csv_unguarded((value or "").strip())
            for key, value in row.items()
            if key is not None
        }
        sha256 = cells.get("sha256", "").lower()
        decision = cells.get("decision", "").lower()
        if not any(cells.values()):
            continue  # a blank line
        if not _SHA256.fullmatch(sha256):
            raise UsageError(f"{name} line {line}: sha256 {sha256!r} is not 64 hex digits")
        if decision not in DECISIONS:
            raise UsageError(
                f"{name} line {line}: decision {decision!r} is not one of {', '.join(DECISIONS)}"
            )
        scientific_name = cells.get("scientific_name", "")
        if decision == "corrected" and not scientific_name:
            raise UsageError(f"{name} line {line}: a correction needs the scientific_name")
        found.append(
            Decision(
                line, sha256, decision, scientific_name,
                cells.get("identified_by", ""), cells.get("remarks", ""),
            )
        )  # fmt: skip
    return found


def apply_decisions(
    records: Iterable[Mapping[str, Any]], decisions: list[Decision], today: Date | None = None
) -> tuple[list[dict[str, Any]], list[Decision]]:
    """(records with `verification` where a decision names their sha256, unmatched decisions).

    A later decision for the same sha256 replaces an earlier one (the last word counts); every
    record with that sha256 gets it (the same photo given twice is one identification)."""
    day = (today or Date.today()).isoformat()
    latest = {decision.sha256: decision for decision in decisions}
    matched: set[str] = set()
    out = []
    for record in records:
        copy = dict(record)
        decision = latest.get(str(record.get("sha256") or ""))
        if decision is not None:
            matched.add(decision.sha256)
            copy["verification"] = verification_for(record, decision, day)
        out.append(copy)
    unmatched = [d for d in latest.values() if d.sha256 not in matched]
    return out, sorted(unmatched, key=lambda d: d.line)


def verification_for(record: Mapping[str, Any], decision: Decision, day: str) -> Verification:
    best = record.get("best") or {}
    name: str | None
    if decision.decision == "corrected":
        name = decision.scientific_name
    elif decision.decision == "accepted":
        name = best.get("scientific_name") or None
    else:
        name = None
    return {
        "decision": decision.decision,
        "scientific_name": name,
        "by": decision.identified_by or None,
        "date": day,
        "remarks": decision.remarks or None,
    }
