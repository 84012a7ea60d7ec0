"""XMP sidecars for the records of a run or a results file (`plantid tag`, `identify
--write-xmp`), and the one-line account of a written report.

Why here and not in the CLI: deciding which photo may get a name (only the bytes that were
identified: sha256 checked by readback.locate) and counting what happened is the outputs
step's logic; the commands only print what it reports. Warnings go to `warn` (the CLI passes
its stderr note), so the library never prints on its own.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from plantid_cli.constants import NAME_STYLES
from plantid_cli.errors import EXIT_IMAGE_FAILED, EXIT_OK, PlantidError, UsageError
from plantid_cli.outputs.readback import MISMATCH, locate, photo_paths
from plantid_cli.records import display_path, plural

_log = logging.getLogger("plantid")


def report_summary(out: Path | str, stats: Any) -> str:
    """`report written to ... (N cards, size, what was left out)` for a written report."""
    size = (
        f"{stats.bytes / 1_000_000:.1f} MB"
        if stats.bytes >= 1_000_000
        else f"{stats.bytes // 1000} kB"
    )
    missing = f", {plural(stats.missing, 'photo')} not found" if stats.missing else ""
    if stats.mismatched:
        missing += f", {stats.mismatched} skipped: {MISMATCH}"
    return f"report written to {out} ({plural(stats.cards, 'card')}, {size}{missing})"


class SidecarWriter:
    """Writes a sidecar per identified photo as records arrive; counts what happened."""

    def __init__(
        self,
        style: str,
        threshold: float,
        *,
        base: Path | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        if style not in NAME_STYLES:
            raise UsageError(f"--xmp-name must be one of {', '.join(NAME_STYLES)}, not {style!r}")
        self.style, self.threshold, self.base = style, threshold, base
        self.warn = warn or (lambda message: _log.warning("warning: %s", message))
        self.created = self.merged = self.skipped = self.mismatched = 0
        self.failed: list[str] = []
        #: sidecar written in this run -> (photo, the name it was given): a.jpg and a.png share
        #: a.xmp in the short style, and the second must not overwrite the first's species
        self._claimed: dict[str, tuple[Path, str]] = {}

    def check(self) -> None:
        # lazy: keeps outputs.xmp (and defusedxml) off a run without --write-xmp
        from plantid_cli.outputs.xmp import check_available

        check_available()

    def record(self, record: dict[str, Any]) -> None:
        # lazy: keeps outputs.xmp (and defusedxml) off a run without --write-xmp
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
                self.warn(display_path(f"{shown}: {MISMATCH} (sha256 differs); no sidecar written"))
            else:
                self._fail(f"{shown}: {found.problem}, no sidecar written")
            return
        for photo in found.files:
            if self._clashes(photo, record):
                continue
            try:
                result = write_sidecar(photo, record, style=self.style, threshold=self.threshold)
            except PlantidError as exc:
                self._fail(exc.message)
                continue
            if result.created:
                self.created += 1
            else:
                self.merged += 1

    def _clashes(self, photo: Path, record: dict[str, Any]) -> bool:
        """Whether this run already gave `photo`'s sidecar to another photo named otherwise
        (same stem, other suffix: a.jpg and a.png both own a.xmp): refused, counted as failed,
        never merged over it. Photos given the same name (a RAW+JPEG pair, a specimen's
        photos) share their sidecar as before."""
        # lazy: keeps outputs.xmp (and defusedxml) off a run without --write-xmp
        from plantid_cli.outputs.xmp import sidecar_path

        target = sidecar_path(photo, self.style)
        key = os.path.realpath(target)
        name = str((record.get("best") or {}).get("scientific_name") or "")
        first = self._claimed.setdefault(key, (photo, name))
        if first[0] == photo or first[1] == name:
            return False
        self._fail(
            f"{photo}: its sidecar {target} already holds {first[1]} for {first[0]} (another "
            f"photo of the same name); no sidecar written (--xmp-name full gives each its own)"
        )
        return True

    def _fail(self, message: str) -> None:
        # the photo's own bytes are in it: a newline or ESC in a name must not drive the
        # terminal or forge a line (display_path escapes them, as in every record's path)
        message = display_path(message)
        self.failed.append(message)
        self.warn(message)

    def summary(self) -> str:
        parts = [f"{plural(self.created, 'sidecar')} written", f"{self.merged} merged"]
        if self.skipped:
            parts.append(f"{plural(self.skipped, 'record')} not identified (no sidecar)")
        if self.mismatched:
            parts.append(f"{self.mismatched} skipped: {MISMATCH}")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        return "XMP: " + ", ".join(parts)

    def exit_code(self) -> int:
        return EXIT_IMAGE_FAILED if self.failed or self.mismatched else EXIT_OK
