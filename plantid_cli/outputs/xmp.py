"""XMP sidecars beside the photos: Darwin Core terms and keywords; the photo is never touched.

`photo.xmp` for `photo.jpg` (the name digiKam and Lightroom read) or, with style "full",
`photo.jpg.xmp` (darktable's). Written with python-xmp-toolkit on Exempi (Adobe's XMP Core), so an
existing sidecar is parsed and merged by the reference implementation: every other tool's field
survives in whatever RDF form it was written; only our terms are replaced and our keywords added.

What goes in:
- Darwin Core terms as simple properties in the official namespace
  http://rs.tdwg.org/dwc/terms/ (prefix dwc), and the same terms mirrored in
  http://rs.tdwg.org/dwc/index.htm, the URI that exiftool, exiv2 and digiKam use for their
  "dwc" group: without the mirror `exiftool -XMP-dwc:ScientificName` finds nothing.
- dc:subject (rdf:Bag): the species and the family;
- lr:hierarchicalSubject (rdf:Bag): "Plants|Family|Genus|Species", the tag tree of digiKam and
  Lightroom;
- xmp:MetadataDate, so Lightroom notices the sidecar changed.

When a photo's identification changes, the keywords we wrote for the previous one (recognised from
the previous dwc terms, which identify us through dwc:identifiedBy) are removed.

Exempi is a C library (Debian: libexempi8, macOS: brew install exempi); python-xmp-toolkit is
imported on first use only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from plantid_cli.constants import NAME_STYLES, PROVIDER_LABELS
from plantid_cli.errors import ConfigError, PlantidError
from plantid_cli.file_targets import NotAFile, read_bounded, replacing
from plantid_cli.outputs.review.verify import identification
from plantid_cli.outputs.writers import darwin_core_row
from plantid_cli.redact import xml_text

DWC_NS = "http://rs.tdwg.org/dwc/terms/"
DWC_EXIFTOOL_NS = "http://rs.tdwg.org/dwc/index.htm"
LR_NS = "http://ns.adobe.com/lightroom/1.0/"
DC_NS = "http://purl.org/dc/elements/1.1/"
XMP_NS = "http://ns.adobe.com/xap/1.0/"
ROOT_KEYWORD = "Plants"

#: Darwin Core terms we own in a sidecar (replaced as a whole on every write).
DWC_TERMS = (
    "scientificName",
    "scientificNameAuthorship",
    "family",
    "genus",
    "taxonRank",
    "vernacularName",
    "taxonID",
    "identifiedBy",
    "dateIdentified",
    "identificationQualifier",
    "identificationRemarks",
    "identificationVerificationStatus",
)
_BAG = {"prop_value_is_array": True, "prop_array_is_unordered": True}
_lock = threading.Lock()
_ready = False
#: Held while fd 2 points at a capture file (one Exempi call at a time, process-wide).
_fd2_lock = threading.Lock()
log = logging.getLogger("plantid")


class SidecarError(PlantidError):
    """A sidecar that cannot be read or written; the photo's other outputs go on."""

    code = "sidecar"
    reason = "sidecar"


@dataclass(frozen=True, slots=True)
class SidecarResult:
    path: Path
    created: bool  # False: an existing sidecar was merged


def sidecar_path(photo: Path, style: str = "short") -> Path:
    """`photo.xmp` (short, digiKam/Lightroom) or `photo.jpg.xmp` (full, darktable)."""
    if style not in NAME_STYLES:
        raise ValueError(f"sidecar name style must be one of {', '.join(NAME_STYLES)}")
    if style == "full":
        return photo.with_name(photo.name + ".xmp")
    return photo.with_suffix(".xmp")


def _xmp() -> Any:
    """python-xmp-toolkit, with Exempi loaded and our namespaces registered (once)."""
    global _ready
    try:
        import libxmp
        from libxmp import XMPMeta

        if not _ready:
            with _lock:
                if not _ready:
                    XMPMeta.register_namespace(DWC_NS, "dwc")
                    XMPMeta.register_namespace(DWC_EXIFTOOL_NS, "dwcx")
                    XMPMeta.register_namespace(LR_NS, "lr")
                    _ready = True
    except (ImportError, OSError) as exc:
        raise ConfigError(_MISSING.format(exc=exc)) from None
    except Exception as exc:  # libxmp.ExempiLoadError
        if type(exc).__name__ == "ExempiLoadError":
            raise ConfigError(_MISSING.format(exc=exc)) from None
        raise
    return libxmp


_MISSING = (
    "writing XMP sidecars needs the Exempi library ({exc}); install it with "
    "'apt-get install libexempi8' (Debian/Ubuntu), 'dnf install exempi' or 'brew install exempi'"
)


def check_available() -> None:
    """Raise ConfigError (exit 3) now, before a run spends credits, when Exempi is missing."""
    libxmp = _xmp()
    libxmp.XMPMeta()  # loads the C library


def taggable(record: Mapping[str, Any]) -> bool:
    """Only answered identifications go into sidecars (not errors, not 'not a plant'), and
    not one a reviewer rejected (outputs/review/verify.py)."""
    return record.get("status") == "ok" and identification(record) is not None


def dwc_terms(record: Mapping[str, Any], threshold: float = 0.5) -> dict[str, str]:
    """Our Darwin Core terms for a record (the CSV's values); empty ones left out."""
    row = darwin_core_row(record, threshold)
    found = identification(record)
    row["taxonRank"] = found.rank if found else ""
    return {term: xml_text(str(row[term])) for term in DWC_TERMS if row.get(term) not in (None, "")}


def keywords(name: str, family: str, genus: str) -> tuple[list[str], str | None]:
    """(dc:subject keywords, the lr:hierarchicalSubject path) for one identification."""
    flat = [word for word in (name, family) if word]
    levels = [ROOT_KEYWORD]
    for level in (family, genus, name):
        if level and level not in levels:
            levels.append(level.replace("|", "/"))
    return flat, ("|".join(levels) if len(levels) > 1 else None)


def _record_keywords(record: Mapping[str, Any]) -> tuple[list[str], str | None]:
    found = identification(record)  # the reviewed name (a correction's, once corrected)
    if found is None:
        return [], None
    return keywords(found.scientific_name, found.family, found.genus)


def write_sidecar(
    photo: Path, record: Mapping[str, Any], *, style: str = "short", threshold: float = 0.5
) -> SidecarResult:
    """Create or merge the sidecar of `photo` with the record's identification; atomic."""
    libxmp = _xmp()
    target = sidecar_path(photo, style)
    existing = _read_existing(target)
    said: list[str] = []
    with _exempi_stderr(said):
        meta = libxmp.XMPMeta()
        if existing is not None and existing.strip():
            try:
                meta.parse_from_str(existing, xmpmeta_wrap=False)
            except libxmp.XMPError as exc:
                problem = exc
            else:
                problem = None
        else:
            problem = None
        if problem is None:
            _merge(meta, record, threshold)
            text = meta.serialize_and_format(tabchr="  ", omit_packet_wrapper=True)
    if problem is not None:
        detail = "; ".join([str(problem), *said])
        raise SidecarError(f"{target}: not valid XMP, left as it is ({detail})") from None
    for line in said:
        log.debug("exempi: %s", line, extra={"event": "xmp.exempi"})
    _write_atomic(target, text)
    return SidecarResult(target, existing is None)


#: The largest existing sidecar read and merged (real ones are a few kB).
MAX_SIDECAR_BYTES = 16 << 20


def _read_existing(target: Path) -> str | None:
    """The sidecar already beside the photo, or None. Only a regular file of at most
    MAX_SIDECAR_BYTES: a photo folder (a card, a shared folder) may hold `IMG.xmp` as a
    symlink to anywhere, a FIFO (read forever) or a link to /dev/zero (memory without end);
    each is refused and left as it is, and nothing is written through it."""
    try:
        data = read_bounded(target, MAX_SIDECAR_BYTES, follow_symlinks=False, regular_only=True)
        return data.decode("utf-8-sig")
    except FileNotFoundError:
        return None
    except NotAFile as refused:
        raise SidecarError(f"{target}: {_REFUSED[refused.kind]}, left as it is") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SidecarError(f"{target}: cannot read the existing sidecar ({exc})") from None


_REFUSED = {
    "symlink": "is a symlink (not followed)",
    "pipe": "not a regular file",
    "folder": "not a regular file",
    "special": "not a regular file",
    "too_large": f"over the {MAX_SIDECAR_BYTES} bytes a sidecar may have",
}


@contextlib.contextmanager
def _exempi_stderr(said: list[str]) -> Iterator[None]:
    """Run Exempi calls with file descriptor 2 pointed at a temporary file; its lines are put
    in `said`. Why: Exempi's parser prints raw text ("XML parsing failure") to fd 2 from C,
    around Python's sys.stderr, which breaks `--log-format json` (every stderr line one JSON
    object). The caller re-emits the lines through the logger or an error message. A line
    another thread wrote meanwhile is caught too: one that is already JSON is passed on."""
    with _fd2_lock:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            with tempfile.TemporaryFile() as sink:
                os.dup2(sink.fileno(), 2)
                try:
                    yield
                finally:
                    os.dup2(saved, 2)
                    sink.seek(0)
                    captured = sink.read().decode("utf-8", errors="replace")
        finally:
            os.close(saved)
    for line in captured.splitlines():
        if line.lstrip().startswith("{"):
            sys.stderr.write(line + "\n")  # another thread's JSON log line, kept whole
        elif line.strip():
            said.append(line.strip())


def _merge(meta: Any, record: Mapping[str, Any], threshold: float) -> None:
    previous = _previous_keywords(meta)
    for namespace in (DWC_NS, DWC_EXIFTOOL_NS):
        for term in DWC_TERMS:
            if meta.does_property_exist(namespace, term):
                meta.delete_property(namespace, term)
    for term, value in dwc_terms(record, threshold).items():
        meta.set_property(DWC_NS, term, value)
        meta.set_property(DWC_EXIFTOOL_NS, term, value)
    flat, path = _record_keywords(record)
    new_paths = [path] if path else []
    stale_flat = [word for word in previous[0] if word not in flat]
    stale_paths = [word for word in previous[1] if word not in new_paths]
    _update_bag(meta, DC_NS, "subject", remove=stale_flat, add=flat)
    _update_bag(meta, LR_NS, "hierarchicalSubject", remove=stale_paths, add=new_paths)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    meta.set_property(XMP_NS, "MetadataDate", now)


def _previous_keywords(meta: Any) -> tuple[list[str], list[str]]:
    """Keywords an earlier plantid run wrote, rebuilt from the dwc terms it left."""

    def get(term: str) -> str:
        return (
            (meta.get_property(DWC_NS, term) or "")
            if meta.does_property_exist(DWC_NS, term)
            else ""
        )

    identified_by = get("identifiedBy")
    if not any(identified_by.startswith(label) for label in PROVIDER_LABELS.values()):
        return [], []
    name, authorship = get("scientificName"), get("scientificNameAuthorship")
    if authorship and name.endswith(" " + authorship):
        name = name[: -len(authorship) - 1]
    flat, path = keywords(name, get("family"), get("genus"))
    return flat, [path] if path else []


def _update_bag(meta: Any, namespace: str, name: str, *, remove: list[str], add: list[str]) -> None:
    if remove and meta.does_property_exist(namespace, name):
        for position in range(meta.count_array_items(namespace, name), 0, -1):
            if meta.get_array_item(namespace, name, position) in remove:
                meta.delete_property(namespace, f"{name}[{position}]")
    for word in map(xml_text, add):
        if not meta.does_array_item_exist(namespace, name, word):
            meta.append_array_item(namespace, name, word, dict(_BAG))


def _write_atomic(target: Path, text: str) -> None:
    try:
        # the name itself, whatever it has become since it was read (a link planted in
        # between is replaced, never followed out of the photo's folder); the old mode kept
        with replacing(target, follow_symlinks=False) as handle:
            handle.write(text)
    except OSError as exc:
        raise SidecarError(f"{target}: cannot write ({exc.strerror or exc})") from None
