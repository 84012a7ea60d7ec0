"""`--group-by folder`: every folder's photos are one specimen, asked about in one request.

Why a separate step between inputs and engine: `inputs.iter_jobs` stays a lazy per-file walk,
and the engine sees "units" (a file or a specimen) with the same two-stage pipeline (what a run
needs of a unit - its hash, its prepared photos, its request - is run/units.py). Both
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
from dataclasses import dataclass
from pathlib import Path

from plantid_cli.errors import ImageError
from plantid_cli.inputs.walk import ImageJob
from plantid_cli.records import display_path

MAX_PHOTOS = 5


@dataclass(frozen=True, slots=True)
class Specimen:
    """Photos of one plant: the unit of work when grouping (duck-types an ImageJob)."""

    index: int
    path: Path  # the folder
    display: str  # printable folder path, the record's `path`
    members: tuple[ImageJob, ...]
    error: ImageError | None = None
    specimen: str = ""  # the folder relative to the argument (inputs/identity.py)
    catalog_number: str | None = None

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
