"""Read the tool's own output back (for `plantid report` and `plantid tag`).

Input is NDJSON as written by `plantid identify` (also a `--format json` array), one record per
line, any schema_version this plantid knows. A line that is not a record is an error with its
line number, never silently skipped: a report that quietly misses photos would mislead. The one
exception is a last record cut short by a killed run: skipped with a warning naming the line.
Stdlib only.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plantid_cli.constants import NESTED_TOO_DEEPLY
from plantid_cli.errors import PlantidError, UsageError
from plantid_cli.images.prepare import file_sha256
from plantid_cli.inputs.specimens import specimen_sha256
from plantid_cli.records import SCHEMA_VERSION

log = logging.getLogger("plantid")

KNOWN_SCHEMA_VERSIONS = frozenset({1, SCHEMA_VERSION})


def read_records(source: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """All records of an NDJSON (or JSON array) file, or of stdin for "-", in input order.

    A last record cut short (the run was killed while writing it) is skipped with one warning
    naming its line: everything before it was written whole and is worth reporting. A damaged
    line anywhere else is still an error - that file was not merely cut, and a report that
    quietly misses photos would mislead.
    """
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
        numbered = _array_items(text, name)
    else:
        numbered = _ndjson_items(text, name)
    records = [_checked(record, name, number) for number, record in numbered]
    records.sort(key=lambda record: record["index"] if isinstance(record["index"], int) else 0)
    return records


class _NotFinite(ValueError):
    """NaN, Infinity or a number past a float's range: Python's json reads them, JSON has
    none, and every reader would carry them on (checklist -f json printed `NaN`, invalid for
    jq; the DwC-A said `probability nan`)."""


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _NotFinite(text)
    return number


def _no_constant(text: str) -> Any:
    raise _NotFinite(text)


#: No field of a record is past a 64-bit integer (an index, an id, a count): 10**400 read
#: fine and ended checklist, report and export in an OverflowError (float() of it).
_MOST_INT = 2**63


def _bounded_int(text: str) -> int:
    number = int(text)
    if abs(number) >= _MOST_INT:
        raise _NotFinite(text if len(text) <= 24 else f"{text[:20]}... ({len(text)} digits)")
    return number


_DECODER = json.JSONDecoder(
    parse_float=_finite, parse_int=_bounded_int, parse_constant=_no_constant
)


def _number_problem(exc: ValueError) -> str:
    if isinstance(exc, _NotFinite):
        return (
            f"{exc} is not a number a record can hold (NaN, Infinity, numbers past 1e308 and "
            "integers past 2**63)"
        )
    return f"not a JSON record ({exc})"  # int(): an integer past Python's digit limit


def _cut_short(number: int, name: str) -> None:
    log.warning("line %d of %s is not a complete record; skipped", number, name)


def _ndjson_items(text: str, name: str) -> list[tuple[int, Any]]:
    # "\n" only: str.splitlines() also splits at U+2028, U+2029 and U+0085, which JSON keeps
    # raw in a string (a photo named with one made the tool's own output unreadable to it)
    lines = [(n, line) for n, line in enumerate(text.split("\n"), start=1) if line.strip()]
    numbered = []
    for position, (number, line) in enumerate(lines):
        try:
            numbered.append((number, _DECODER.decode(line)))
        except json.JSONDecodeError as exc:
            # a last line cut short is a killed run's; a file whose only line is not JSON is
            # no results file at all (`plantid refetch photo.txt` ended in "0 records", exit 0)
            if position == len(lines) - 1 and position > 0:
                _cut_short(number, name)
                break
            raise UsageError(f"{name} line {number}: not a JSON record ({exc.msg})") from None
        except ValueError as exc:  # NaN, 1e999, an integer of 5,000 digits
            raise UsageError(f"{name} line {number}: {_number_problem(exc)}") from None
        except RecursionError:  # the decoder recurses per level: no record is that deep
            raise UsageError(f"{name} line {number}: {NESTED_TOO_DEEPLY}") from None
    return numbered


def _array_items(text: str, name: str) -> list[tuple[int, Any]]:
    """The items of a ``[...]`` file, one at a time, so a cut tail loses only its last item."""
    try:
        items = _DECODER.decode(text)
    except (ValueError, RecursionError):  # item by item below says which one
        pass
    else:
        return list(enumerate(items if isinstance(items, list) else [items], start=1))
    decoder = _DECODER
    position = text.index("[") + 1
    numbered: list[tuple[int, Any]] = []
    while True:
        position = _skip(text, position, " \t\r\n")
        if position >= len(text) or text[position] == "]":
            # "]" with trailing junk, or the end: whatever is left is not a record either
            if text[position:].strip() not in ("", "]"):
                raise UsageError(f"{name}: not valid JSON after item {len(numbered)}")
            return numbered
        try:
            item, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            rest = text[position:]
            # ended by its "]": damage inside a whole file, not a run cut short (which never
            # wrote the "]"); on one line (`jq -c`) as on many
            one_line = "\n" not in text.strip()
            if rest.rstrip().endswith("]") and (one_line or rest.count("\n") > 1):
                raise UsageError(f"{_line_at(name, text, position)}: not a JSON record") from None
            _cut_short(text.count("\n", 0, position) + 1, name)
            return numbered
        except ValueError as exc:
            raise UsageError(f"{_line_at(name, text, position)}: {_number_problem(exc)}") from None
        except RecursionError:
            raise UsageError(f"{_line_at(name, text, position)}: {NESTED_TOO_DEEPLY}") from None
        numbered.append((len(numbered) + 1, item))
        position = _skip(text, end, " \t\r\n")
        if position < len(text) and text[position] == ",":
            position += 1


def _line_at(name: str, text: str, position: int) -> str:
    """`FILE line N` for the item that starts at `position`."""
    return f"{name} line {text.count(chr(10), 0, position) + 1}"


def _is_file(path: Path) -> bool:
    """Path.is_file, but a name the system refuses (too long: ENAMETOOLONG, which is_file
    raises) is a photo not found, not an internal error of `tag` and `report`."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _skip(text: str, position: int, chars: str) -> int:
    while position < len(text) and text[position] in chars:
        position += 1
    return position


#: The fields the readers use and the JSON types they must have (null: absent). A record with
#: `"best": "x"` or `"index": "x"` was an internal error in every command that reads results.
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "path": (str,),
    "status": (str,),
    "index": (int,),
    "sha256": (str,),
    "provider": (str,),
    "paths": (list,),
    "suggestions": (list,),
    "best": (dict,),
    "location": (dict,),
    "verification": (dict,),
    "error": (dict,),
}
#: ... and within `best` and each suggestion.
_SUGGESTION_TYPES: dict[str, tuple[type, ...]] = {
    "scientific_name": (str,),
    "probability": (int, float),
    "common_names": (list,),
}


def _wrong_type(where: str, field: str, value: Any, types: tuple[type, ...]) -> UsageError:
    words = {int: "a number", float: "a number", str: "a string", list: "a list", dict: "an object"}
    names = " or ".join(dict.fromkeys(words[t] for t in types))  # int and float: one "number"
    shown = "true/false" if isinstance(value, bool) else type(value).__name__
    return UsageError(f"{where}: {field} must be {names}, not {shown}")


def _check_fields(where: str, record: dict[str, Any], types: dict[str, tuple[type, ...]],
                  prefix: str = "") -> None:  # fmt: skip
    for field, allowed in types.items():
        value = record.get(field)
        if value is not None and (isinstance(value, bool) or not isinstance(value, allowed)):
            raise _wrong_type(where, prefix + field, value, allowed)


def _checked(record: Any, name: str, number: int) -> dict[str, Any]:
    where = f"{name} line {number}"
    if not isinstance(record, dict) or "status" not in record or "path" not in record:
        raise UsageError(f"{where}: not a plantid record (no status/path)")
    version = record.get("schema_version")
    if type(version) is not int or version not in KNOWN_SCHEMA_VERSIONS:
        known = ", ".join(str(v) for v in sorted(KNOWN_SCHEMA_VERSIONS))
        raise UsageError(
            f"{where}: schema_version {version!r} is not one this plantid knows ({known}); "
            "a newer plantid wrote it"
        )
    _check_fields(where, record, _FIELD_TYPES)
    if record.get("best") is not None:
        _check_fields(where, record["best"], _SUGGESTION_TYPES, "best.")
    for position, suggestion in enumerate(record.get("suggestions") or []):
        if not isinstance(suggestion, dict):
            raise _wrong_type(where, f"suggestions[{position}]", suggestion, (dict,))
        _check_fields(where, suggestion, _SUGGESTION_TYPES, f"suggestions[{position}].")
    record.setdefault("index", number - 1)
    return record


def photo_paths(record: Mapping[str, Any]) -> list[str]:
    """The photo(s) a record is about, as shown: `paths` for a multi-photo specimen, else `path`."""
    paths = record.get("paths")
    if isinstance(paths, list) and paths:
        return [str(p) for p in paths if isinstance(p, str) and p]
    path = record.get("path")
    return [path] if isinstance(path, str) and path else []


def exact_paths(record: Mapping[str, Any]) -> list[str]:
    """The photo(s) as names that reopen them: ``paths_b64``/``path_b64`` decoded where the
    record has them (names with non-UTF-8 bytes or control characters), else the shown ones."""
    shown = photo_paths(record)
    key = "paths_b64" if isinstance(record.get("paths"), list) else "path_b64"
    raw = record.get(key)
    raws = raw if isinstance(raw, list) else [raw] if isinstance(raw, str) else []
    if len(raws) != len(shown):
        return shown
    try:
        return [os.fsdecode(base64.b64decode(item, validate=True)) for item in raws]
    except (ValueError, TypeError):  # binascii.Error is a ValueError
        return shown


MISMATCH = "content changed or not the same file"
NOT_FOUND = "photo not found"


@dataclass
class Located:
    """The record's photos on disk, checked against its `sha256`; or why they are not."""

    files: list[Path]
    problem: str | None = None  # None, NOT_FOUND, MISMATCH, or "no sha256 to check"


def locate(record: Mapping[str, Any], base: Path | None = None) -> Located:
    """Find the record's photo(s) and prove they are the ones identified (same sha256).

    Relative names are tried from the current folder, then from `base` (the results file's
    folder, or --base); the first place whose content matches wins, so a results file moved
    with its photos, or read from another folder, still finds them - and a same-named photo
    elsewhere is never mistaken for them. A specimen's `sha256` is over its photos' sha256s."""
    names = exact_paths(record)
    expected = record.get("sha256")
    specimen = isinstance(record.get("paths"), list)
    seen = False
    for root in _roots(names, base) if names else []:
        candidates = [Path(name) if root is None else root / name for name in names]
        if not all(_is_file(candidate) for candidate in candidates):
            continue
        seen = True
        if not isinstance(expected, str) or not expected:
            return Located([], "no sha256 in the record to check it against")
        if _digest(candidates, specimen) == expected:
            return Located(candidates)
    return Located([], MISMATCH if seen else NOT_FOUND)


def _roots(names: list[str], base: Path | None) -> list[Path | None]:
    if base is None or all(Path(name).is_absolute() for name in names):
        return [None]
    return [None, base]


def _digest(files: list[Path], specimen: bool) -> str | None:
    try:
        hashes = [file_sha256(path) for path in files]
    except (PlantidError, OSError):
        return None
    return specimen_sha256(hashes) if specimen else hashes[0]
