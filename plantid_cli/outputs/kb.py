"""How `plantid search` and `plantid about` print: the formats identify has (table for people,
json, ndjson, csv for scripts), on stdout only.

A search prints one row per matching name (`matched_in`, `matched_in_type`, `access_token`,
`match_position`, `match_length`); an entry prints its fields (run/kb.py, providers/plantid_kb.py)
with `cached`. CSV cells go through `csv_safe` like every other CSV the tool writes.
"""

from __future__ import annotations

import csv
import json
from typing import Any, TextIO

from plantid_cli.outputs.writers import csv_safe

SEARCH_COLUMNS = ("matched_in", "matched_in_type", "access_token", "match_position", "match_length")


def write_search(entities: list[dict[str, Any]], fmt: str, stream: TextIO) -> None:
    if fmt == "json":
        stream.write(json.dumps(entities, ensure_ascii=False, indent=2) + "\n")
    elif fmt == "ndjson":
        for entity in entities:
            stream.write(json.dumps(entity, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        _csv(stream, SEARCH_COLUMNS, entities)
    else:
        _table(stream, ("name", "matched in", "token"), [
            (e["matched_in"], e.get("matched_in_type") or "", e["access_token"]) for e in entities
        ])  # fmt: skip
    stream.flush()


def write_entry(entry: dict[str, Any], fmt: str, stream: TextIO) -> None:
    if fmt == "json":
        stream.write(json.dumps(entry, ensure_ascii=False, indent=2) + "\n")
    elif fmt == "ndjson":
        stream.write(json.dumps(entry, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        row = {k: _cell(v) for k, v in entry.items()}
        _csv(stream, tuple(row), [row])
    else:
        rows = [(key, _cell(value)) for key, value in entry.items() if value not in (None, [], {})]
        _table(stream, ("field", "value"), rows)
    stream.flush()


def _cell(value: Any) -> Any:
    """A list as `a; b`, an object as JSON, a flag as `true`/`false` (identify's CSV spelling),
    anything else as it is."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return "; ".join(value)
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else value


def _csv(stream: TextIO, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    writer = csv.DictWriter(stream, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({column: csv_safe(_cell(row.get(column))) for column in columns})


def _table(stream: TextIO, header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    from rich.table import Table

    # lazy: Rich, only for a table (outputs/console.py)
    from plantid_cli.outputs.console import stdout_console
    from plantid_cli.outputs.table import shown  # markup and control characters as text

    if not rows:
        return
    table = Table(header_style="bold")
    for name in header:
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(*(shown(str(cell)) for cell in row))
    stdout_console(stream, soft_wrap=False).print(table)
