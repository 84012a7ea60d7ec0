"""What `plantid identify --report/--write-xmp` adds to a run: sidecars as answers arrive, the
HTML page at the end. Typer-free, so an identify run only pays for what it uses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from plantid_cli.cli.common import print_note


def _report_note(out: Path, stats: Any) -> None:
    size = (
        f"{stats.bytes / 1_000_000:.1f} MB"
        if stats.bytes >= 1_000_000
        else f"{stats.bytes // 1000} kB"
    )
    from plantid_cli.outputs.readback import MISMATCH

    missing = f", {stats.missing} photos not found" if stats.missing else ""
    if stats.mismatched:
        missing += f", {stats.mismatched} skipped: {MISMATCH}"
    print_note(f"report written to {out} ({stats.cards} cards, {size}{missing})")


class SidecarWriter:
    """Writes a sidecar per identified photo as records arrive; counts what happened."""

    def __init__(self, style: str, threshold: float, *, base: Path | None = None) -> None:
        from plantid_cli.constants import NAME_STYLES
        from plantid_cli.errors import UsageError

        if style not in NAME_STYLES:
            raise UsageError(f"--xmp-name must be one of {', '.join(NAME_STYLES)}, not {style!r}")
        self.style, self.threshold, self.base = style, threshold, base
        self.created = self.merged = self.skipped = self.mismatched = 0
        self.failed: list[str] = []

    def check(self) -> None:
        from plantid_cli.outputs.xmp import check_available

        check_available()

    def record(self, record: dict[str, Any]) -> None:
        from plantid_cli.errors import PlantidError
        from plantid_cli.outputs.readback import MISMATCH, locate, photo_paths
        from plantid_cli.outputs.xmp import taggable, write_sidecar

        if not taggable(record):
            self.skipped += 1
            return
        # Only a photo whose bytes are the ones identified gets the name (never a same-named
        # photo in another folder, never a photo edited or replaced since).
        found = locate(record, self.base)
        if found.problem is not None:
            shown = ", ".join(photo_paths(record)) or "?"
            if found.problem == MISMATCH:
                self.mismatched += 1
                print_note(f"warning: {shown}: {MISMATCH} (sha256 differs); no sidecar written")
            else:
                self._fail(f"{shown}: {found.problem}, no sidecar written")
            return
        for photo in found.files:
            try:
                result = write_sidecar(photo, record, style=self.style, threshold=self.threshold)
            except PlantidError as exc:
                self._fail(exc.message)
                continue
            if result.created:
                self.created += 1
            else:
                self.merged += 1

    def _fail(self, message: str) -> None:
        self.failed.append(message)
        print_note(f"warning: {message}")

    def summary(self) -> str:
        parts = [f"{self.created} sidecars written", f"{self.merged} merged"]
        if self.skipped:
            parts.append(f"{self.skipped} records not identified (no sidecar)")
        if self.mismatched:
            from plantid_cli.outputs.readback import MISMATCH

            parts.append(f"{self.mismatched} skipped: {MISMATCH}")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        return "XMP: " + ", ".join(parts)

    def exit_code(self) -> int:
        from plantid_cli.errors import EXIT_IMAGE_FAILED, EXIT_OK

        return EXIT_IMAGE_FAILED if self.failed or self.mismatched else EXIT_OK


class RunOutputs:
    """`plantid identify --report/--write-xmp`: sidecars as answers arrive, the page at the end."""

    def __init__(
        self, report: str | None, write_xmp: bool, xmp_name: str, threshold: float
    ) -> None:
        from plantid_cli.errors import UsageError

        if xmp_name != "short" and not write_xmp:
            raise UsageError("--xmp-name goes with --write-xmp")
        self.report = Path(report) if report else None
        if self.report is not None and not self.report.parent.is_dir():
            raise UsageError(f"--report: no such folder: {self.report.parent}")
        self.sidecars = SidecarWriter(xmp_name, threshold) if write_xmp else None
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
            from plantid_cli.outputs.report.page import write_report

            try:
                stats = write_report(self.records, self.report, credits_used=credits_used)
            except OSError as exc:  # full disk, read-only folder: the records are printed
                from plantid_cli.errors import UsageError

                raise UsageError(
                    f"--report {self.report}: cannot write the report ({exc.strerror or exc})"
                ) from None
            if not quiet:
                _report_note(self.report, stats)

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
    "best",
    "suggestions",
    "is_plant",
    "location",
    "taken_at",
    "identified_at",
    "error",
)


def _light(record: dict[str, Any]) -> dict[str, Any]:
    """What the page shows, nothing more (a 5,000-photo run keeps these until the end)."""
    return {key: record[key] for key in _REPORT_FIELDS if key in record}
