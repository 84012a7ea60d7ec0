"""The table people read at a terminal (`--format table`, `plantid demo`).

Why the widths are computed here rather than left to Rich: squeezed into 80 columns, Rich
shrinks every column alike and folds a scientific name mid-word ("Aloe arboresc/ens",
"Asphodel/aceae"). A name that is cut reads as another name, so the rule is: a species or
family name is never split. Columns that can wrap (the photo, the common name, the notes)
shrink first; when the names still do not fit, whole columns are dropped (family, then common
name, then probability, then agreement); only a terminal too narrow for the names alone makes
them fold.
"""

from __future__ import annotations

import os.path
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from plantid_cli.constants import PROVIDER_LABELS, STATUS_WORDS
from plantid_cli.redact import TERMINAL_ESCAPES

if TYPE_CHECKING:
    from plantid_cli.records import Record

#: Columns given up, in this order, when the names would not fit otherwise.
DROP_ORDER = ("family", "common name", "prob.", "agreement")
#: A wrappable column never shrinks below this (or its natural width, if narrower).
WRAP_FLOOR = 10
#: ...and, on a terminal too narrow for the names otherwise, below this.
SQUEEZED = 4


@dataclass
class Column:
    header: str
    cells: list[str]  # markup, as printed
    plain: list[str]  # the same without markup, for widths
    justify: str = "left"
    whole: list[str] = field(default_factory=list)  # texts never split (names)
    width: int = 0
    floor: int = 0

    def natural(self) -> int:
        return max(_len(text) for text in [self.header, *self.plain])

    def minimum(self) -> int:
        """The narrowest this column may get before a column is dropped."""
        return max([min(self.natural(), WRAP_FLOOR), *(_len(text) for text in self.whole)])


def _len(text: str) -> int:
    from rich.cells import cell_len  # lazy: Rich only for a run that prints a table

    return int(cell_len(text))


def layout(columns: list[Column], width: int) -> list[Column]:
    """The columns to print and their widths, for a table `width` cells wide (a heavy box:
    each column costs its width, two cells of padding and one rule)."""

    def frame(cols: list[Column]) -> int:
        return 3 * len(cols) + 1

    shown = list(columns)
    for header in DROP_ORDER:
        if sum(c.minimum() for c in shown) + frame(shown) <= width:
            break
        shown = [c for c in shown if c.header != header]
    for column in shown:
        column.width, column.floor = column.natural(), column.minimum()
    excess = _shrink(shown, sum(c.width for c in shown) + frame(shown) - width)
    if excess > 0:  # still too wide: the wrappable columns fold further, the names stay
        for column in shown:
            if not column.whole:
                column.floor = min(column.width, SQUEEZED)
        _shrink(shown, excess)
    return shown


def _shrink(columns: list[Column], excess: int) -> int:
    """Take `excess` cells from the columns with the most room above their floor; what could
    not be taken."""
    while excess > 0:
        slack = max(columns, key=lambda c: c.width - c.floor)
        if slack.width <= slack.floor:
            break
        slack.width -= 1
        excess -= 1
    return excess


def print_table(rows: list[Record], stream: TextIO) -> None:
    """The table of `rows` (in input order) on `stream`, as wide as its terminal (or $COLUMNS,
    or 80)."""
    # lazy: Rich only for a run that prints a table
    from rich.table import Table

    # lazy: Rich, only for a table (outputs/console.py)
    from plantid_cli.outputs.console import stdout_console

    if not rows:
        return  # no photos: nothing to tabulate (stderr already says so)
    folder, shown = _short_paths([record["path"] for record in rows])
    console = stdout_console(stream, soft_wrap=False)
    table = Table(
        header_style="bold",
        title=f"in {folder}" if folder and len(shown) > 1 else None,
        title_justify="left",
        title_style="dim",
    )
    columns = layout(_columns(rows, shown), console.width)
    for column in columns:
        table.add_column(
            column.header,
            justify=column.justify,  # type: ignore[arg-type]  # one of Rich's literals
            width=column.width,
            overflow="fold",
        )
    for row in range(len(rows)):
        table.add_row(*(column.cells[row] for column in columns))
    console.print(table)


def _columns(rows: list[Record], shown: list[str]) -> list[Column]:
    bests: list[Mapping[str, Any]] = [record.get("best") or {} for record in rows]
    names = [str(best.get("scientific_name") or "") for best in bests]
    errors = [
        str(dict(record.get("error") or {}).get("message", "")) if record["status"] == "error"
        else ""
        for record in rows
    ]  # fmt: skip
    common = [str((best.get("common_names") or [""])[0] or "") for best in bests]
    family = [str(best.get("family") or "") for best in bests]
    probability = [
        f"{best['probability']:.0%}" if best.get("probability") is not None else ""
        for best in bests
    ]
    statuses = [STATUS_WORDS.get(r["status"], r["status"]) for r in rows]
    styles = [{"ok": "green", "not_plant": "yellow"}.get(r["status"], "red") for r in rows]
    species = Column(
        "species",
        [
            _escape(error) if error else (f"[italic]{_escape(name)}[/italic]" if name else "")
            for name, error in zip(names, errors, strict=True)
        ],
        [error or name for name, error in zip(names, errors, strict=True)],
        whole=names,  # an error message wraps; a name never
    )
    numbers = [str(record["index"] + 1) for record in rows]
    columns = [
        Column("#", numbers, numbers, justify="right", whole=numbers),
        _plain("photo", shown),
        Column("status", [f"[{s}]{w}[/{s}]" for s, w in zip(styles, statuses, strict=True)],
               statuses),
        species,
        _plain("common name", common),
        Column("family", [_escape(f) for f in family], family, whole=family),
        Column("prob.", probability, probability, justify="right", whole=["prob."]),
    ]  # fmt: skip
    if any("agreement" in record for record in rows):  # --provider both
        agreement = [str(record.get("agreement") or "") for record in rows]
        columns.append(Column("agreement", agreement, agreement, whole=["agreement"]))
    notes = [_notes(record) for record in rows]
    if any(notes):
        columns.append(_plain("note", notes))
    return columns


def _plain(header: str, texts: list[str]) -> Column:
    return Column(header, [_escape(text) for text in texts], texts)


def _short_paths(paths: list[str]) -> tuple[str, list[str]]:
    """The photos' common folder (the table's caption) and each path below it."""
    try:
        folder = os.path.commonpath(paths) if len(paths) > 1 else os.path.dirname(paths[0] or "")
    except ValueError:  # absolute and relative paths mixed: show them as given
        folder = ""
    if folder in paths:  # one photo given twice: its own folder, not the file
        folder = os.path.dirname(folder)
    return folder, [os.path.relpath(p, folder) if folder else p for p in paths]


def _notes(record: Mapping[str, Any]) -> str:
    notes = []
    if record.get("cached"):
        notes.append("cached")
    if record.get("degraded"):
        notes.append(f"degraded: {PROVIDER_LABELS.get(record['provider'], record['provider'])}")
    health = record.get("health")
    if health:  # identify --health
        notes.append(_health_note(health))
    return ", ".join(notes)


def _health_note(health: Mapping[str, Any]) -> str:
    """`healthy (97%)`, or `not healthy: <the most likely problem>` (identify --health)."""
    verdict = health.get("is_healthy") or {}
    if verdict.get("binary"):
        return f"healthy ({verdict.get('probability', 0):.0%})"
    diseases = health.get("diseases") or []
    problem = diseases[0].get("name") if diseases else None
    return "not healthy" + (f": {problem}" if problem else "")


def shown(text: object) -> str:
    """Any text a table shows, as text: no Rich markup, and no control character reaches the
    terminal (a path is escaped already; what the service sends was not: a name with ESC [2J
    cleared the screen, an OSC 8 sequence made a link). Every table's cells go through it."""
    return _escape(str(text))


def _escape(text: str) -> str:
    from rich.markup import escape  # lazy: Rich only for a run that prints a table

    return escape(str(text).translate(TERMINAL_ESCAPES))
