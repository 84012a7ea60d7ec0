"""Write a Darwin Core Archive from records: meta.xml, occurrence.txt, multimedia.txt, eml.xml.

* Core: Occurrence (``http://rs.tdwg.org/dwc/terms/Occurrence``), one row per record that has an
  identity (its occurrenceID: from the catalogue number, else the sha256; records.py and
  outputs/writers.occurrence_id), keyed by an ``id`` column holding that occurrenceID. The
  columns are the Darwin Core terms of the CSV (outputs/writers.darwin_core_row: the reviewed
  identification, so a rejected one is no identification) plus ``basisOfRecord``.
* Extension: Simple Multimedia (``http://rs.gbif.org/terms/1.0/Multimedia``), one row per photo
  of each occurrence (a specimen's every photo), keyed by ``coreid``.
* Tab-separated UTF-8 with a header line; tabs and line breaks inside a value become spaces
  (the format has no quoting in GBIF's reading of it: ``fieldsEnclosedBy=""``).
* Written to a temporary file beside the target and renamed: a failed export leaves no half zip.

A record with no identity (a file that could not be read, so no sha256) and a second record of
the same occurrence (the same photo given twice) are not written; `ArchiveStats` counts them.
"""

from __future__ import annotations

import mimetypes
import os
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import quoteattr

from plantid_cli.file_targets import replacing
from plantid_cli.outputs.dwca.eml import Dataset, eml_xml
from plantid_cli.outputs.review.verify import identification
from plantid_cli.outputs.writers import darwin_core_row, media_paths

DWC = "http://rs.tdwg.org/dwc/terms/"
DC = "http://purl.org/dc/terms/"
OCCURRENCE = DWC + "Occurrence"
MULTIMEDIA = "http://rs.gbif.org/terms/1.0/Multimedia"
#: occurrence.txt, after `id`: (column, term URI).
CORE_TERMS = tuple(
    (name, DWC + name)
    for name in (
        "occurrenceID", "catalogNumber", "basisOfRecord", "scientificName",
        "scientificNameAuthorship", "family", "genus", "taxonRank", "vernacularName", "taxonID",
        "identificationQualifier", "identifiedBy", "dateIdentified", "identificationRemarks",
        "identificationVerificationStatus", "eventDate", "decimalLatitude", "decimalLongitude",
        "geodeticDatum", "associatedMedia",
    )
)  # fmt: skip
#: multimedia.txt, after `coreid`.
MEDIA_TERMS = tuple(
    (name, DC + name) for name in ("type", "format", "identifier", "title", "license", "creator")
)


@dataclass(frozen=True, slots=True)
class ArchiveStats:
    occurrences: int
    media: int
    verified: int
    skipped_no_id: int
    skipped_duplicate: int
    bytes: int


def write_dwca(
    records: Iterable[Mapping[str, Any]],
    output: Path,
    dataset: Dataset,
    *,
    threshold: float = 0.5,
    basis_of_record: str = "PreservedSpecimen",
    media_base: str | None = None,
) -> ArchiveStats:
    """Write the archive for `records` to `output` (atomically); see the module doc."""
    core: list[list[str]] = []
    media: list[list[str]] = []
    seen: set[str] = set()
    no_id = duplicate = verified = 0
    for record in records:
        row = darwin_core_row(record, threshold)
        occurrence = row["occurrenceID"]
        if not occurrence:
            no_id += 1
            continue
        if occurrence in seen:
            duplicate += 1
            continue
        seen.add(occurrence)
        row["basisOfRecord"] = basis_of_record
        row["taxonRank"] = _rank(record) if row["scientificName"] else ""
        photos = [_identifier(path, media_base) for path in media_paths(record)]
        row["associatedMedia"] = " | ".join(photos)
        verified += row["identificationVerificationStatus"] == "verified"
        core.append([occurrence, *(_cell(row.get(name)) for name, _ in CORE_TERMS)])
        for photo in photos:
            kind = mimetypes.guess_type(photo)[0] or "image/jpeg"
            title = os.path.basename(photo.rstrip("/"))
            media.append([occurrence, "StillImage", kind, photo, title, dataset.license,
                          dataset.creator])  # fmt: skip
    files = {
        "meta.xml": meta_xml().encode("utf-8"),
        "eml.xml": eml_xml(dataset),
        "occurrence.txt": _table(["id", *(n for n, _ in CORE_TERMS)], core),
        "multimedia.txt": _table(["coreid", *(n for n, _ in MEDIA_TERMS)], media),
    }
    size = _write_zip(Path(output), files)
    return ArchiveStats(len(core), len(media), verified, no_id, duplicate, size)


def _rank(record: Mapping[str, Any]) -> str:
    """The reviewed name's rank (a correction to a name the service did not offer: unknown)."""
    found = identification(record)
    return found.rank if found else ""


def _identifier(path: str, media_base: str | None) -> str:
    """The photo as the archive names it: its path, or `media_base` + its path (a URL where
    the collection serves its images)."""
    if media_base:
        # only a leading "./" goes (lstrip("./") took ".season/" and "..b.jpg" apart), and the
        # path is percent-encoded: a `#` or `?` in a name cut the URL (red team, session 19)
        relative = path.replace(os.sep, "/").removeprefix("./")
        return media_base.rstrip("/") + "/" + quote(os.fsencode(relative), safe="/")
    return path


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("\t", " ").replace("\r", " ").replace("\n", " ")


def _table(header: list[str], rows: list[list[str]]) -> bytes:
    lines = ["\t".join(header), *("\t".join(_cell(v) for v in row) for row in rows)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def meta_xml() -> str:
    """The archive descriptor: the core and the extension, each column's term by index."""

    def fields(terms: tuple[tuple[str, str], ...]) -> str:
        return "".join(
            f"\n    <field index={quoteattr(str(i + 1))} term={quoteattr(uri)}/>"
            for i, (_, uri) in enumerate(terms)
        )

    table = (
        'encoding="UTF-8" fieldsTerminatedBy="\\t" linesTerminatedBy="\\n" '
        'fieldsEnclosedBy="" ignoreHeaderLines="1"'
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<archive xmlns="http://rs.tdwg.org/dwc/text/" metadata="eml.xml">\n'
        f'  <core {table} rowType="{OCCURRENCE}">\n'
        "    <files><location>occurrence.txt</location></files>\n"
        '    <id index="0"/>'
        f"{fields(CORE_TERMS)}\n  </core>\n"
        f'  <extension {table} rowType="{MULTIMEDIA}">\n'
        "    <files><location>multimedia.txt</location></files>\n"
        '    <coreid index="0"/>'
        f"{fields(MEDIA_TERMS)}\n  </extension>\n"
        "</archive>\n"
    )


def _write_zip(output: Path, files: dict[str, bytes]) -> int:
    with (
        replacing(output, binary=True) as handle,  # file_targets.py: links, pipes, modes
        zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive,
    ):
        for name, data in files.items():
            archive.writestr(name, data)
    return output.stat().st_size
