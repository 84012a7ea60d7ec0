"""`plantid report` (an HTML page) and `plantid tag` (XMP sidecars) from a results file, and the
same two outputs hooked into `plantid identify` (--report, --write-xmp). Logic lives in
outputs/report/, outputs/xmp.py and outputs/sidecars.py; this module parses flags and prints
what happened."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

from plantid_cli.cli.common import load, print_note, run_guarded, setup_logging
from plantid_cli.cli.options import PlantidCommand, Quiet, Results, shared_options
from plantid_cli.cli.run_options import with_default
from plantid_cli.constants import NAME_STYLES
from plantid_cli.errors import UsageError, cannot_write

REPORT_HELP = """Write one self-contained HTML page for a results file: a card per photo.

The page works offline (thumbnails embedded, no external scripts or fonts); filter by status and
probability, sort, and search in the browser.

Examples:

  plantid identify photos/ > results.ndjson && plantid report results.ndjson -o report.html

  plantid report results.ndjson            # writes results.html
"""

TAG_HELP = """Write an XMP sidecar beside each identified photo; the photos are never modified.

photo.xmp for photo.jpg (digiKam, Lightroom) or, with --xmp-name full, photo.jpg.xmp (darktable).
Darwin Core terms, keywords (species, family) and the tag Plants|Family|Genus|Species. An existing
sidecar is merged: other tools' fields are kept.

Examples:

  plantid tag results.ndjson

  plantid tag results.ndjson --xmp-name full
"""


#: Where the photos of a results file are (report, tag).
Base = Annotated[
    str | None,
    typer.Option(
        "--base",
        help="Folder that relative photo paths start from "
        "(default: the current folder, then RESULTS' folder).",
    ),
]


def register(app: typer.Typer) -> None:
    app.command(
        "report", cls=PlantidCommand, help=REPORT_HELP, short_help="HTML report of a results file."
    )(report)
    app.command(
        "tag", cls=PlantidCommand, help=TAG_HELP, short_help="XMP sidecars beside the photos."
    )(tag)


@shared_options
def report(
    results: Results,
    output: str = typer.Option(
        None, "--output", "-o", help="The HTML file (default: RESULTS with .html; - for stdout)."
    ),
    base: Base = None,
    no_thumbnails: bool = typer.Option(
        False, "--no-thumbnails", help="No photos in the page (smaller, faster)."
    ),
    quiet: Quiet = False,
) -> None:
    raise typer.Exit(
        run_guarded(
            _report,
            results=results,
            output=output,
            base=base,
            thumbnails=not no_thumbnails,
            quiet=quiet,
        )
    )


def _report(
    results: str, output: str | None, base: str | None, thumbnails: bool, quiet: bool
) -> int:
    # lazy: keeps outputs.readback off every command's start-up (app imports all)
    from plantid_cli.outputs.readback import read_records
    from plantid_cli.outputs.report.page import write_report

    setup_logging()
    if output is None:
        if results == "-":
            raise UsageError("reading from stdin: say where the page goes with -o FILE")
        output = str(Path(results).with_suffix(".html"))
    records = read_records(results)
    to_stdout = output == "-"  # `-o -`: the page on stdout, as everywhere else
    out = Path(output)
    if not to_stdout:
        if results != "-" and out.resolve() == Path(results).resolve():
            raise UsageError("the report would overwrite the results file; choose another -o")
        if not out.parent.is_dir():
            raise UsageError(f"-o: no such folder: {out.parent}")
    with contextlib.ExitStack() as scratch:
        if to_stdout:  # built whole in a private file first: never half a page in a pipe
            import tempfile  # lazy: only `-o -` needs it (random, shutil: start-up)

            out = Path(scratch.enter_context(tempfile.TemporaryDirectory())) / "report.html"
        try:
            stats = write_report(
                records,
                out,
                source=None if results == "-" else results,
                base=_base(base, results),
                thumbnails=thumbnails,
            )
        except OSError as exc:  # a folder we may not write, -o naming a folder, a full disk
            raise cannot_write(f"-o {output}: cannot write the report", exc) from None
        if to_stdout:  # stdout's own failures are the error boundary's (cli/stdout.py)
            import shutil  # lazy: as tempfile above

            with open(out, "rb") as built:
                sys.stdout.flush()
                shutil.copyfileobj(built, sys.stdout.buffer)
                sys.stdout.flush()
    if not quiet:
        # lazy: keeps outputs.sidecars off every command's start-up (app imports all)
        from plantid_cli.outputs.sidecars import report_summary

        print_note(report_summary("stdout" if to_stdout else out, stats))
    return 0


@shared_options
def tag(
    results: Results,
    xmp_name: Annotated[
        Literal[NAME_STYLES],
        typer.Option(
            "--xmp-name",
            help="short: photo.xmp (digiKam, Lightroom); full: photo.jpg.xmp (darktable).",
        ),
    ] = NAME_STYLES[0],
    base: Base = None,
    confidence_threshold: Annotated[
        float | None,
        typer.Option(
            "--confidence-threshold",
            help=with_default(
                "Below it, dwc:identificationQualifier is cf", "confidence_threshold"
            ),
            show_default=False,
        ),
    ] = None,
    quiet: Quiet = False,
) -> None:
    raise typer.Exit(
        run_guarded(
            _tag,
            results=results,
            xmp_name=xmp_name,
            base=base,
            threshold=confidence_threshold,
            quiet=quiet,
        )
    )


def _tag(
    results: str, xmp_name: str, base: str | None, threshold: float | None, quiet: bool
) -> int:
    """Unless given, the threshold is the configured one (PLANTID_CONFIDENCE_THRESHOLD, the
    file), as for `identify --write-xmp`: the same photo gets the same qualifier either way."""
    # lazy: keeps outputs.readback and .sidecars off every command's start-up
    from plantid_cli.cli.run_outputs import sidecar_warning
    from plantid_cli.outputs.readback import read_records
    from plantid_cli.outputs.sidecars import SidecarWriter

    if threshold is not None and not 0 <= threshold <= 1:  # also nan: comparisons are false
        raise UsageError(f"--confidence-threshold must be between 0 and 1, not {threshold:g}")
    setup_logging()
    if threshold is None:
        threshold = load().confidence_threshold
    tagger = SidecarWriter(xmp_name, threshold, base=_base(base, results), warn=sidecar_warning)
    tagger.check()
    for record in read_records(results):
        tagger.record(record)
    if not quiet:
        print_note(tagger.summary())
    return tagger.exit_code()


def _base(base: str | None, results: str) -> Path | None:
    if base is not None:
        return Path(base)
    return None if results == "-" else Path(results).parent
