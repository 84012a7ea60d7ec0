"""A report's thumbnails: each photo decoded safely, upright and small, as a data URI.

Its own module so that page.py stays the page. Pillow is imported lazily (through images/ and
in `_small_jpeg`), so a report without photos never loads it.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plantid_cli.errors import ImageError
from plantid_cli.images.prepare import prepare_image

THUMB_SIDE = 160
THUMB_QUALITY = 65


@dataclass(frozen=True, slots=True)
class Thumb:
    uri: str
    width: int
    height: int


def make_thumbnail(path: Path) -> Thumb | None:
    """A small upright JPEG as a data URI; None when the photo cannot be read or decoded."""
    try:
        # Safe decode, orientation, RGB and resize as for an upload; then a small second encode
        # (optimised Huffman tables, colour profile applied and dropped: a profile alone can
        # weigh 3 kB, half a thumbnail).
        prepared = prepare_image(path, max_side=THUMB_SIDE, quality=95)
        jpeg = _small_jpeg(prepared.jpeg)
    except ImageError:
        return None
    except Exception:  # noqa: BLE001 - a thumbnail must never fail the report
        return None
    uri = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")
    return Thumb(uri, prepared.width, prepared.height)


def _small_jpeg(data: bytes) -> bytes:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as opened:
        im: Image.Image = opened
        icc = im.info.get("icc_profile")
        if icc:
            try:
                from PIL import ImageCms

                converted = ImageCms.profileToProfile(
                    im, ImageCms.ImageCmsProfile(io.BytesIO(icc)), _srgb(), outputMode="RGB"
                )
                if converted is not None:  # None only when asked to convert in place
                    im = converted
            except Exception:  # noqa: BLE001 - a broken profile: keep the pixels as they are
                pass
        out = io.BytesIO()
        im.save(out, "JPEG", quality=THUMB_QUALITY, optimize=True)
    return out.getvalue()


def _srgb() -> Any:
    from PIL import ImageCms

    return ImageCms.createProfile("sRGB")
