"""What `plantid identify --report/--write-xmp` adds to a run: sidecars as answers arrive, the
HTML page at the end (the logic is outputs/sidecars.py and outputs/report/; this wires it to
the run and to stderr). Typer-free, so an identify run only pays for what it uses."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from plantid_cli.cli.common import print_note
from plantid_cli.errors import UsageError, cannot_write
from plantid_cli.file_targets import IsAPhoto, look

if TYPE_CHECKING:
    from plantid_cli.outputs.sidecars import SidecarWriter


def sidecar_warning(message: str) -> None:
    """How the CLI shows a sidecar that was not written (SidecarWriter's `warn`)."""
    print_note(f"warning: {message}")


class RunOutputs:
    """`plantid identify --report/--write-xmp`: sidecars as answers arrive, the page at the end."""

    def __init__(
        self, report: str | None, write_xmp: bool, xmp_name: str, threshold: float
    ) -> None:
        if report is not None and not report.strip():  # was: no report, exit 0, nothing said
            raise UsageError("--report needs a file name (it was given an empty one)")
        self.report = Path(report) if report else None
        if self.report is not None and not self.report.parent.is_dir():
            raise UsageError(f"--report: no such folder: {self.report.parent}")
        if self.report is not None:
            try:  # the look every writer takes, now, before a credit is spent
                look(self.report)
            except IsAPhoto as exc:
                why = f"--report {self.report}: {exc.strerror}; nothing was sent"
                raise UsageError(why) from None
        self.sidecars: SidecarWriter | None = None
        if write_xmp:
            # lazy: sidecars read records back (images, inputs): paid only with --write-xmp
            from plantid_cli.outputs.sidecars import SidecarWriter

            self.sidecars = SidecarWriter(xmp_name, threshold, warn=sidecar_warning)
        self.records: list[dict[str, Any]] = []

    @property
    def active(self) -> bool:
        return self.report is not None or self.sidecars is not None

    def check(self) -> None:
        """Before the run (before any credit is spent)."""
        if self.sidecars is not None:
            self.sidecars.check()

    def chain(self, other: Any) -> Any:
        """The on_record callback: ours, then `other` (the progress display) when given."""
        if not self.active:
            return other

        def on_record(record: dict[str, Any]) -> None:
            self.record(record)
            if other is not None:
                other(record)

        return on_record

    def record(self, record: dict[str, Any]) -> None:
        if self.report is not None:
            self.records.append(_light(record))
        if self.sidecars is not None:
            self.sidecars.record(record)

    def finish(self, credits_used: int, quiet: bool) -> None:
        if self.sidecars is not None and not quiet:
            print_note(self.sidecars.summary())
        if self.report is not None:
            # lazy: keeps outputs.report.page off every command's start-up (app imports all)
            from plantid_cli.outputs.report.page import write_report
            from plantid_cli.outputs.sidecars import report_summary

            try:
                stats = write_report(self.records, self.report, credits_used=credits_used)
            except OSError as exc:  # full disk, read-only folder: the records are printed
                why = f"--report {self.report}: cannot write the report"
                raise cannot_write(why, exc) from None
            if not quiet:
                print_note(report_summary(self.report, stats))

    def exit_code(self) -> int:
        return self.sidecars.exit_code() if self.sidecars is not None else 0


_REPORT_FIELDS = (
    "index",
    "path",
    "paths",
    "path_b64",
    "paths_b64",
    "sha256",
    "status",
    "provider",
    "cached",
    "degraded",
    "agreement",
    "providers",
    "best",
    "suggestions",
    "is_plant",
    "location",
    "taken_at",
    "identified_at",
    "error",
    "model_version",  # the checklist and the review read these too (issue 15)
    "specimen",
    "catalog_number",
    "verification",
)


def _light(record: dict[str, Any]) -> dict[str, Any]:
    """What the page shows, nothing more (a 5,000-photo run keeps these until the end)."""
    return {key: record[key] for key in _REPORT_FIELDS if key in record}
