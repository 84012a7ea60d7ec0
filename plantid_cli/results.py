"""Read the tool's own output back (for `plantid report` and `plantid tag`).

Input is NDJSON as written by `plantid identify` (also a `--format json` array), one record per
line, any schema_version this plantid knows. A line that is not a record is an error with its
line number, never silently skipped: a report that quietly misses photos would mislead.
Stdlib only.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from .errors import UsageError
from .records import SCHEMA_VERSION

KNOWN_SCHEMA_VERSIONS = frozenset({1, SCHEMA_VERSION})


def read_records(source: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """All records of an NDJSON (or JSON array) file, or of stdin for "-", in input order."""
    name = str(source)
    if name == "-":
        text = sys.stdin.read()
        name = "<stdin>"
    else:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UsageError(f"no such file: {name}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read {name}: {exc}") from None
    stripped = text.lstrip()
    if stripped.startswith("["):  # --format json
        try:
            items = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{name}: not valid JSON ({exc})") from None
        numbered = list(enumerate(items if isinstance(items, list) else [items], start=1))
    else:
        numbered = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                numbered.append((number, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise UsageError(f"{name} line {number}: not a JSON record ({exc.msg})") from None
    records = [_checked(record, name, number) for number, record in numbered]
    records.sort(key=lambda record: record["index"] if isinstance(record["index"], int) else 0)
    return records


def _checked(record: Any, name: str, number: int) -> dict[str, Any]:
    where = f"{name} line {number}"
    if not isinstance(record, dict) or "status" not in record or "path" not in record:
        raise UsageError(f"{where}: not a plantid record (no status/path)")
    version = record.get("schema_version")
    if version not in KNOWN_SCHEMA_VERSIONS:
        known = ", ".join(str(v) for v in sorted(KNOWN_SCHEMA_VERSIONS))
        raise UsageError(
            f"{where}: schema_version {version!r} is not one this plantid knows ({known}); "
            "a newer plantid wrote it"
        )
    record.setdefault("index", number - 1)
    return record


def photo_paths(record: dict[str, Any]) -> list[str]:
    """The photo(s) a record is about: `paths` for a multi-photo specimen, else `path`."""
    paths = record.get("paths")
    if isinstance(paths, list) and paths:
        return [str(p) for p in paths if isinstance(p, str) and p]
    path = record.get("path")
    return [path] if isinstance(path, str) and path else []


def resolve_photo(path: str, base: Path | None = None) -> Path | None:
    """The photo on disk: the path as written (relative to the current folder), else relative to
    `base` (the results file's folder). None when neither is a file."""
    candidate = Path(path)
    if candidate.is_file():
        return candidate
    if base is not None and not candidate.is_absolute():
        other = base / candidate
        if other.is_file():
            return other
    return None
