"""Camera RAW (.dng .cr2 .cr3 .nef .arw .orf .rw2) through rawpy, which bundles LibRaw.

Why the embedded preview first: every camera writes a full-size (or near) JPEG into the RAW,
already demosaiced, white-balanced and oriented the way the photographer saw it; decoding it
costs a JPEG decode (Pillow's draft mode shrinks it in the DCT domain) instead of a demosaic of
20-60 megapixels. The preview is used when its long side reaches the upload size (or the
sensor's, for a small sensor); otherwise the sensor data is demosaiced at half size (a quarter
of the memory, still >= 2x the upload size for any camera of this century).

LibRaw's errors map to the usual codes: not_image (not a RAW LibRaw knows), truncated (damaged
data), unreadable (I/O).
"""

from __future__ import annotations

import io
from typing import Any

from plantid_cli.errors import ImageError

# LibRaw's `flip` (sizes.flip) -> the Image.Transpose member name that puts the preview upright.
_FLIPS = {3: "ROTATE_180", 5: "ROTATE_90", 6: "ROTATE_270"}


def decode_raw(Image: Any, path: Any, display: str, max_side: int) -> tuple[Any, Any]:
    """(a PIL image, the transpose still to apply or None) for one RAW file."""
    import rawpy  # lazy: LibRaw only for RAW files

    try:
        raw = rawpy.imread(str(path))
    except rawpy.LibRawFileUnsupportedError:
        raise ImageError("not_image", f"{display}: not a camera RAW file LibRaw can read") from None
    except rawpy.LibRawIOError as exc:
        raise ImageError("unreadable", f"{display}: {exc}") from None
    except (rawpy.LibRawError, OSError, ValueError) as exc:
        raise ImageError("truncated", f"{display}: RAW data damaged ({exc})") from None
    with raw:
        sizes = raw.sizes
        wanted = min(max_side, max(int(sizes.width), int(sizes.height)))
        flip = _FLIPS.get(int(sizes.flip))
        preview = _preview(Image, raw, wanted)
        if preview is not None:
            has_orientation = preview.getexif().get(0x0112, 1) != 1
            transpose = None if has_orientation or flip is None else Image.Transpose[flip]
            return preview, transpose
        try:
            rgb = raw.postprocess(
                half_size=max(int(sizes.width), int(sizes.height)) >= 2 * max_side,
                use_camera_wb=True,
                output_bps=8,
            )  # applies the flip itself
        except (rawpy.LibRawError, MemoryError, ValueError) as exc:
            raise ImageError("truncated", f"{display}: RAW data damaged ({exc})") from None
        return Image.fromarray(rgb, "RGB"), None


def _preview(Image: Any, raw: Any, wanted: int) -> Any:
    """The embedded JPEG/bitmap preview when it is at least `wanted` px on its long side."""
    import rawpy  # lazy: LibRaw only for RAW files

    try:
        thumb = raw.extract_thumb()
    except (rawpy.LibRawError, ValueError):  # no preview, or one LibRaw cannot hand over
        return None
    try:
        if thumb.format == rawpy.ThumbFormat.JPEG:
            picture = Image.open(io.BytesIO(thumb.data))
            if max(picture.size) < wanted:
                return None
            picture.draft("RGB", (wanted, wanted))
            picture.load()
            return picture
        if thumb.format == rawpy.ThumbFormat.BITMAP:
            picture = Image.fromarray(thumb.data, "RGB")
            return picture if max(picture.size) >= wanted else None
    except (OSError, ValueError, SyntaxError):  # a damaged preview: demosaic instead
        return None
    return None
