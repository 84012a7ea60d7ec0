"""`plantid identify --dry-run`: print the plan (run/budget.dry_run_plan) and what it costs.

stdout carries the plan, one row per unit, in the run's format (a table on a terminal, NDJSON
otherwise, or json/csv); stderr the summary: units, cached, to send, credits, and what
usage_info says is left. Nothing is sent but the free usage_info call.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from typing import Any

from plantid_cli.cli.common import echo, print_note
from plantid_cli.run.options import IdentifyOptions

PLAN_COLUMNS = ("index", "path", "catalog_number", "sha256", "action", "cost", "reason")


def run_dry(settings: Any, options: IdentifyOptions) -> int:
    # lazy: keeps run.batch (the engine, the providers, httpx) off every command's start-up
    from plantid_cli.run.batch import plan_batch

    rows, remaining, empty = plan_batch(settings, options)
    terminal = sys.stdout is not None and sys.stdout.isatty()
    fmt = options.format or ("table" if terminal else "ndjson")
    _print_plan(rows, fmt)
    for folder in empty:
        print_note(f"no images found in {folder}")
    send = [row for row in rows if row["action"] == "send"]
    cached = sum(1 for row in rows if row["action"] == "cached")
    skipped = sum(1 for row in rows if row["action"] == "skip")
    cost = sum(row["cost"] for row in send)
    unit = "specimen" if options.group_by else "image"
    left = ""
    if remaining is not None:
        verdict = "enough" if cost <= remaining else "NOT enough: the run would be refused"
        left = f"; Plant.id has {remaining:g} left ({verdict})"
    print_note(
        f"dry run: {len(rows)} {unit}{'s' if len(rows) != 1 else ''}, {cached} cached, "
        f"{len(send)} to send, {skipped} skipped: {cost} credit{'s' if cost != 1 else ''}"
        f"{left}; nothing was sent",
        event="run.dry_run",
        units=len(rows),
        cached=cached,
        send=len(send),
        skipped=skipped,
        credits=cost,
        remaining=remaining,
    )
    return 1 if skipped or empty else 0


def _print_plan(rows: list[dict[str, Any]], fmt: str) -> None:
    if fmt in ("ndjson", "json"):
        if fmt == "json":
            echo(json.dumps(rows, indent=2, ensure_ascii=False))
        else:
            for row in rows:
                echo(json.dumps(row, ensure_ascii=False))
        return
    if fmt == "csv":
        # lazy: the writers' CSV-injection guard
        from plantid_cli.outputs.writers import csv_safe

        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=PLAN_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: csv_safe("" if row.get(k) is None else row.get(k)) for k in PLAN_COLUMNS}
            )
        echo(buffer.getvalue(), nl=False)
        return
    from rich.markup import escape
    from rich.table import Table

    # lazy: Rich, only for a table (outputs/console.py)
    from plantid_cli.outputs.console import stdout_console

    table = Table(title="dry run: nothing is sent", title_justify="left")
    for column in ("#", "photo", "catalogue no.", "action", "credits", "note"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            str(row["index"] + 1),
            escape(row["path"]),
            escape(str(row.get("catalog_number") or "")),
            row["action"],
            str(row["cost"]),
            escape(str(row.get("reason") or "")),
        )
    stdout_console(soft_wrap=False).print(table)
