"""What a run needs of one unit (a file or a `--group-by folder` specimen), whichever it is.

Its photos prepared for upload, the request and the
position to send, and the position a record shows. Here in run/, not in inputs/: these read the
photos (images/) and shape the request (providers/), so they sit below the engine that calls
them and above the steps they use; inputs/ only walks and groups.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from plantid_cli.inputs.specimens import Specimen, members
from plantid_cli.inputs.walk import ImageJob

if TYPE_CHECKING:
    from plantid_cli.records import Location


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
    # lazy: Pillow and the image modules are paid by a run that prepares a photo, not by one
    # answered from the cache or refused by an open breaker
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
