"""`--group-by folder`: every folder's photos are one specimen, asked about in one request.

Why a separate step between inputs and engine: `inputs.iter_jobs` stays a lazy per-file walk,
and the engine sees "units" (a file or a specimen) with the same two-stage pipeline. Both
services accept 1-5 photos of one plant per identification, so a folder holding more is an
error record naming the folder rather than a silent split or truncation.

Grouping is streaming: the walk is depth first in name order, so a folder's files may be
interleaved with its subfolders' (`a/1.jpg, a/b/x.jpg, a/2.jpg`) but a folder is never entered
again once the walk has left its subtree. A group is therefore open while the walk is inside
its folder (or below), and is emitted as soon as a job arrives from outside it. Memory holds at
most one small group per level of the current branch. (Paths piped on stdin in a scattered
order can name the same folder twice; each consecutive run of it is then its own specimen.)
Specimens are numbered 0, 1, 2 ... in the order they are emitted (a subfolder's specimen can
come before its parent's), so ordered writers keep working.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plantid_cli.errors import ImageError
from plantid_cli.inputs.walk import ImageJob, display_path

if TYPE_CHECKING:
    from plantid_cli.records import Location

MAX_PHOTOS = 5


@dataclass(frozen=True, slots=True)
class Specimen:
    """Photos of one plant: the unit of work when grouping (duck-types an ImageJob)."""

    index: int
    path: Path  # the folder
    display: str  # printable folder path, the record's `path`
    members: tuple[ImageJob, ...]
    error: ImageError | None = None

    @property
    def paths(self) -> list[str]:
        return [member.display for member in self.members]


def members(unit: ImageJob | Specimen) -> tuple[ImageJob, ...]:
    """The files of a unit: the specimen's photos, or the one file of a plain job."""
    return unit.members if isinstance(unit, Specimen) else (unit,)


def specimen_sha256(file_sha256s: Iterable[str]) -> str:
    """Identity of a specimen: sha256 over its photos' sorted sha256s (order-independent, so
    renaming files in the folder does not cost a new identification)."""
    return hashlib.sha256("".join(sorted(file_sha256s)).encode("ascii")).hexdigest()


def group_by_folder(jobs: Iterable[ImageJob], max_photos: int = MAX_PHOTOS) -> Iterator[Specimen]:
    """Yield one Specimen per folder (per consecutive run of it), lazily; see module doc."""
    open_groups: dict[str, list[ImageJob]] = {}  # folder -> its jobs, in opening order
    counts: dict[str, int] = {}
    index = 0

    def emit(folder: str) -> Specimen:
        nonlocal index
        jobs_of = open_groups.pop(folder)
        specimen = _specimen(index, folder, jobs_of, counts.pop(folder), max_photos)
        index += 1
        return specimen

    for job in jobs:
        if job.error is not None and _is_folder(job.path):
            # a folder that cannot be listed: its own error record, naming the folder
            folder = os.fspath(job.path)
            for other in [f for f in open_groups if not _within(folder, f)]:
                yield emit(other)
            yield Specimen(index, job.path, job.display, (), job.error)
            index += 1
            continue
        folder = os.path.dirname(os.fspath(job.path))
        for other in [f for f in open_groups if not _within(folder, f)]:
            yield emit(other)
        group = open_groups.setdefault(folder, [])
        counts[folder] = counts.get(folder, 0) + 1
        if len(group) <= max_photos:  # past the limit only the count matters
            group.append(job)
    for folder in list(open_groups):
        yield emit(folder)


def _specimen(
    index: int, folder: str, jobs: list[ImageJob], count: int, max_photos: int
) -> Specimen:
    shown = display_path(folder) if folder else "."
    path = Path(folder or ".")
    if count > max_photos:
        error = ImageError(
            "too_many_photos",
            f"{shown}: {count} photos in one specimen folder; at most {max_photos} "
            "(split the folder)",
        )
        return Specimen(index, path, shown, tuple(jobs[:max_photos]), error)
    bad = next((job for job in jobs if job.error is not None), None)
    if bad is not None and bad.error is not None:
        error = ImageError(bad.error.code, f"{shown}: {bad.error.message}")
        return Specimen(index, path, shown, tuple(jobs), error)
    return Specimen(index, path, shown, tuple(jobs))


def _within(path: str, folder: str) -> bool:
    """True when `path` is `folder` or below it (string test: the walk's own paths)."""
    if path == folder:
        return True
    if not folder:
        return not os.path.isabs(path)
    return path.startswith(folder.rstrip(os.sep) + os.sep)


def _is_folder(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


# ----- per-unit helpers the engine uses for a file and a specimen alike --------------------
def unit_sha256(unit: ImageJob | Specimen) -> str:
    """A file's sha256, or the specimen identity over its photos' sha256s."""
    from plantid_cli.images.prepare import file_sha256

    if isinstance(unit, Specimen):
        return specimen_sha256(file_sha256(member.path) for member in unit.members)
    return file_sha256(unit.path)


def exif_location(images: list[Any]) -> Location | None:
    """The first photo's EXIF position (a specimen's photos were taken at one place)."""
    for image in images:
        meta = image.meta
        if meta.latitude is not None and meta.longitude is not None:
            return {"latitude": meta.latitude, "longitude": meta.longitude, "source": "exif"}
    return None


def taken_at(images: list[Any]) -> str | None:
    """The first photo's EXIF DateTimeOriginal."""
    return next((image.meta.taken_at for image in images if image.meta.taken_at), None)


def prepare_unit(unit: ImageJob | Specimen, settings: Any) -> list[Any]:
    """Decode/orient/shrink/re-encode every photo of a unit (a specimen fails as a whole)."""
    from plantid_cli.images.prepare import prepare_image

    return [
        prepare_image(
            member.path,
            max_side=settings.max_image_side,
            quality=settings.jpeg_quality,
            max_file_bytes=int(settings.max_file_mb * 1_000_000),
            max_pixels=int(settings.max_megapixels * 1_000_000),
        )
        for member in members(unit)
    ]


def request_for(request: Any, unit: ImageJob | Specimen) -> Any:
    """The run's request for a unit: one organ per photo for a specimen (--organ repeated)."""
    count = len(members(unit))
    if count > 1 and len(request.organs) == 1:
        return replace(request, organs=request.organs * count)
    return request


def location_for(request: Any, images: list[Any]) -> Location | None:
    """The position to send: --no-location, then --lat/--lon, then the photos' EXIF."""
    if request.no_location:
        return None
    if request.latitude is not None and request.longitude is not None:
        return {"latitude": request.latitude, "longitude": request.longitude, "source": "option"}
    return exif_location(images)


def shown_location(request: Any, stored: Location | None) -> Location | None:
    """A record's position under this run's options. A provider that is sent no position
    (Pl@ntNet) has none in its cache key, so its stored answer keeps the EXIF position and the
    options are applied here: a cached answer from a --lat run never shows that position."""
    if request.no_location or request.latitude is not None:
        return location_for(request, [])
    return stored if stored and stored.get("source") == "exif" else None
