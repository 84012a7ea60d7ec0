"""`plantid export dwca`, `plantid review apply` and `plantid checklist`: a results file becomes
a Darwin Core Archive, a reviewed results file, a list of taxa. Logic lives in outputs/dwca/,
outputs/review/ and outputs/checklist.py; this module parses flags and prints what happened."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

from plantid_cli.cli.common import echo, load, print_note, run_guarded, setup_logging
from plantid_cli.cli.options import PlantidCommand, PlantidGroup, Quiet, Results, shared_options
from plantid_cli.cli.run_options import with_default
from plantid_cli.constants import BASES_OF_RECORD, CHECKLIST_FORMATS, DATASET_LICENSES
from plantid_cli.errors import EXIT_IMAGE_FAILED, UsageError, cannot_write

export_app = typer.Typer(
    cls=PlantidGroup,
    no_args_is_help=True,
    help="Publish a results file in another format.\n\nExamples:\n\n"
    "  plantid export dwca reviewed.ndjson -o specimens.zip --title 'Herbarium LE'\n\n"
    "  plantid export csv reviewed.ndjson > occurrences.csv",
)
review_app = typer.Typer(
    cls=PlantidGroup,
    no_args_is_help=True,
    help="Apply a botanist's review of the identifications.\n\nExamples:\n\n"
    "  plantid review apply decisions.csv results.ndjson -o reviewed.ndjson",
)


DWCA_HELP = """Write a Darwin Core Archive (zip) for GBIF's IPT or a collection database.

meta.xml, occurrence.txt (one Occurrence per record: catalogNumber, occurrenceID, the reviewed
identification with identificationVerificationStatus), multimedia.txt (one row per photo) and
eml.xml (title, creator, licence). A rejected identification is not written as one.

Examples:

  plantid export dwca reviewed.ndjson -o specimens.zip --title "Herbarium LE, 2026 scans" \\
      --creator "Herbarium LE"

  plantid export dwca results.ndjson -o photos.zip --basis-of-record MachineObservation
"""

CSV_HELP = """Write the Darwin Core CSV of a results file (the columns of identify --format csv),
with the reviewed identifications: verified names identified by the person, rejected ones left
out of the identification columns.

Examples:

  plantid export csv reviewed.ndjson > reviewed.csv
"""

APPLY_HELP = """Apply a decisions file (exported from the report) to a results file.

Each record whose sha256 has a decision gets a `verification` object (decision, name, by, date,
remarks); tag, the CSV, export dwca and the report honour it. A decision that matches no record
is reported and the exit code is 1.

Examples:

  plantid review apply decisions.csv results.ndjson -o reviewed.ndjson

  plantid review apply decisions.csv results.ndjson | plantid export dwca - -o specimens.zip
"""

CHECKLIST_HELP = """One row per taxon: name, family, specimens, photos, best and mean
probability, how many a person verified. Reviewed names count (a correction under its new
name, a rejection not at all).

Examples:

  plantid checklist reviewed.ndjson

  plantid checklist results.ndjson --format csv > checklist.csv
"""


def register(app: typer.Typer) -> None:
    export_app.command("dwca", cls=PlantidCommand, help=DWCA_HELP,
                       short_help="Darwin Core Archive (zip) of a results file.")(dwca)  # fmt: skip
    export_app.command("csv", cls=PlantidCommand, help=CSV_HELP,
                       short_help="Darwin Core CSV of a results file.")(export_csv)  # fmt: skip
    review_app.command("apply", cls=PlantidCommand, help=APPLY_HELP,
                       short_help="Apply a decisions file to a results file.")(apply)  # fmt: skip
    app.add_typer(export_app, name="export")
    app.add_typer(review_app, name="review")
    app.command("checklist", cls=PlantidCommand, help=CHECKLIST_HELP,
                short_help="One row per taxon of a results file.")(checklist_command)  # fmt: skip


# ----- export dwca ---------------------------------------------------------------------------
@shared_options
def dwca(
    results: Results,
    output: Annotated[str, typer.Option("--output", "-o", help="The zip file to write.")],
    title: Annotated[
        str | None, typer.Option("--title", help=with_default("Dataset title", "dataset_title"))
    ] = None,
    creator: Annotated[
        str | None,
        typer.Option("--creator", help=with_default("Dataset creator", "dataset_creator")),
    ] = None,
    license: Annotated[
        Literal[DATASET_LICENSES] | None,
        typer.Option("--license", help=with_default("Licence of the data", "dataset_license")),
    ] = None,
    basis_of_record: Annotated[
        Literal[BASES_OF_RECORD],
        typer.Option("--basis-of-record", help="What each occurrence is."),
    ] = BASES_OF_RECORD[0],
    media_base: Annotated[
        str | None,
        typer.Option(
            "--media-base",
            metavar="URL",
            help="Prefix for photo paths in multimedia.txt (where the collection serves them).",
        ),
    ] = None,
    quiet: Quiet = False,
) -> None:
    raise typer.Exit(
        run_guarded(
            _dwca, results, output, title, creator, license, basis_of_record, media_base, quiet
        )  # fmt: skip
    )


def _dwca(results, output, title, creator, license, basis, media_base, quiet) -> int:
    from datetime import date

    # lazy: keeps outputs.readback and .dwca off every command's start-up (app imports all)
    from plantid_cli.outputs.dwca.archive import write_dwca
    from plantid_cli.outputs.dwca.eml import LICENSES, Dataset
    from plantid_cli.outputs.readback import read_records

    setup_logging()
    settings = load()
    license = license or settings.dataset_license
    if license not in LICENSES:
        raise UsageError(f"licence {license!r} is not one of {', '.join(DATASET_LICENSES)}")
    out = _output_path(output, results, ".zip")
    records = read_records(results)
    dataset = Dataset(
        title=title or settings.dataset_title or f"Plant identifications ({Path(results).name})",
        creator=creator or settings.dataset_creator or "plantid user",
        license=license,
        pub_date=date.today().isoformat(),
    )
    try:
        stats = write_dwca(
            records, out, dataset, threshold=settings.confidence_threshold,
            basis_of_record=basis, media_base=media_base,
        )  # fmt: skip
    except OSError as exc:
        raise cannot_write(f"-o {out}: cannot write the archive", exc) from None
    if not quiet:
        skipped = ""
        if stats.skipped_no_id or stats.skipped_duplicate:
            skipped = (
                f"; left out {stats.skipped_no_id} without a sha256 or catalogue number and "
                f"{stats.skipped_duplicate} repeated"
            )
        print_note(
            f"wrote {out}: {stats.occurrences} occurrences ({stats.verified} verified), "
            f"{stats.media} photos{skipped}",
            event="export.dwca",
            occurrences=stats.occurrences,
            media=stats.media,
        )
    return 0


def _output_path(output: str, results: str, suffix: str) -> Path:
    out = Path(output)
    if results != "-" and out.exists() and out.resolve() == Path(results).resolve():
        raise UsageError(f"-o would overwrite the results file; choose another {suffix} file")
    if not (out.parent if str(out.parent) else Path(".")).is_dir():
        raise UsageError(f"-o: no such folder: {out.parent}")
    if out.is_dir():
        raise UsageError(f"-o {out} is a folder")
    return out


# ----- export csv ----------------------------------------------------------------------------
@shared_options
def export_csv(
    results: Results,
    confidence_threshold: Annotated[
        float | None,
        typer.Option(
            "--confidence-threshold",
            help=with_default("Below it, an unverified name is marked cf", "confidence_threshold"),
            show_default=False,
        ),
    ] = None,
) -> None:
    raise typer.Exit(run_guarded(_export_csv, results, confidence_threshold))


def _export_csv(results: str, threshold: float | None) -> int:
    # lazy: keeps outputs.readback and the writers off every command's start-up
    from plantid_cli.outputs.readback import read_records
    from plantid_cli.outputs.writers import make_writer

    if threshold is not None and not 0 <= threshold <= 1:
        raise UsageError(f"--confidence-threshold must be between 0 and 1, not {threshold:g}")
    setup_logging()
    records = read_records(results)
    writer = make_writer("csv", sys.stdout, load().confidence_threshold if threshold is None
                         else threshold)  # fmt: skip
    for record in records:
        writer.write(record)  # type: ignore[arg-type]
    writer.close()
    return 0


# ----- review apply --------------------------------------------------------------------------
@shared_options
def apply(
    decisions: Annotated[str, typer.Argument(help="The decisions CSV (the report's export).")],
    results: Results,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="Write the reviewed NDJSON here (default: stdout)."),
    ] = None,
    quiet: Quiet = False,
) -> None:
    raise typer.Exit(run_guarded(_apply, decisions, results, output, quiet))


def _apply(decisions: str, results: str, output: str | None, quiet: bool) -> int:
    from collections import Counter

    # lazy: keeps outputs.readback and .review off every command's start-up (app imports all)
    from plantid_cli.outputs.readback import read_records
    from plantid_cli.outputs.review.decisions import apply_decisions, read_decisions

    setup_logging()
    if decisions == "-" and results == "-":
        raise UsageError("only one of DECISIONS and RESULTS can be - (stdin)")
    found = read_decisions(decisions, sys.stdin.read() if decisions == "-" else None)
    records = read_records(results)
    out = _output_path(output, results, ".ndjson") if output else None
    reviewed, unmatched = apply_decisions(records, found)
    text = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in reviewed)
    if out is None:
        echo(text, nl=False)
    else:
        _write_atomic(out, text)
    counts = Counter(
        record["verification"]["decision"] for record in reviewed if "verification" in record
    )
    if not quiet:
        parts = ", ".join(f"{n} {d}" for d, n in sorted(counts.items())) or "no decision applied"
        where = f" -> {out}" if out else ""
        print_note(f"{sum(counts.values())} of {len(reviewed)} records reviewed ({parts}){where}",
                   event="review.applied", **counts)  # fmt: skip
    for decision in unmatched:
        print_note(
            f"warning: {decisions} line {decision.line}: no record has sha256 "
            f"{decision.sha256} ({decision.decision}); not applied",
            event="review.unmatched",
            sha256=decision.sha256,
        )
    if unmatched:
        print_note(f"{len(unmatched)} decision(s) matched no record in {results}")
        return EXIT_IMAGE_FAILED
    return 0


def _write_atomic(out: Path, text: str) -> None:
    from plantid_cli.file_targets import replacing  # lazy: only `review apply -o` writes

    try:
        with replacing(out) as handle:  # file_targets.py: links, pipes, the old file's mode
            handle.write(text)
    except OSError as exc:
        raise cannot_write(f"-o {out}: cannot write", exc) from None


# ----- checklist -----------------------------------------------------------------------------
@shared_options
def checklist_command(
    results: Results,
    fmt: Annotated[
        Literal[CHECKLIST_FORMATS], typer.Option("--format", "-f", help="What to print.")
    ] = CHECKLIST_FORMATS[0],
) -> None:
    raise typer.Exit(run_guarded(_checklist, results, fmt))


def _checklist(results: str, fmt: str) -> int:
    # lazy: keeps outputs.readback and .checklist off every command's start-up
    from plantid_cli.outputs.checklist import COLUMNS, checklist
    from plantid_cli.outputs.readback import read_records

    setup_logging()
    rows = checklist(read_records(results))
    if fmt == "json":
        echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    if fmt == "csv":
        import csv
        import io

        # lazy: the writers (and their CSV-injection guard) only for --format csv
        from plantid_cli.outputs.writers import csv_safe

        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else csv_safe(v) for k, v in row.items()})
        echo(buffer.getvalue(), nl=False)
        return 0
    from rich.table import Table

    # lazy: Rich, only for a table (outputs/console.py)
    from plantid_cli.outputs.console import stdout_console
    from plantid_cli.outputs.table import shown  # markup and control characters as text

    table = Table(title=f"{len(rows)} taxa", title_justify="left")
    for column, justify in zip(COLUMNS, ("left", "left", *["right"] * 5), strict=True):
        table.add_column(column.replace("_", " "), justify=justify)  # type: ignore[arg-type]
    for row in rows:
        table.add_row(
            f"[italic]{shown(row['scientific_name'])}[/italic]",
            shown(row["family"]),
            str(row["specimens"]),
            str(row["photos"]),
            _pct(row["best_probability"]),
            _pct(row["mean_probability"]),
            str(row["verified"]),
        )
    stdout_console(soft_wrap=False).print(table)
    return 0


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.0%}"
