"""Hash, check, decode, orient, shrink and re-encode one photo for upload; read its GPS and date.

Stdlib only at import time: Pillow is imported on first use and pillow-heif only when a file
starts like an ISO-BMFF (HEIC/HEIF) container. Error codes (``ImageError.code``):

    not_found, unreadable, empty    the file itself (also from `file_sha256`)
    too_large          file over ``max_file_bytes``, or declared width*height over ``max_pixels``
                       (checked before any pixel is decoded)
    decompression_bomb over Pillow's own ``Image.MAX_IMAGE_PIXELS`` (its warning is an error here)
                       while within ``max_pixels``
    not_image          no decoder recognises the data
    truncated          the header or pixel data ends early or is damaged

Damaged EXIF never fails a photo: metadata falls back to None and orientation to "as stored".
``original_width``/``original_height`` are the full-resolution size *after* EXIF orientation,
so they describe the same picture as ``width``/``height``.
"""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from plantid_cli.constants import MAX_SCAN_FILE_BYTES, RAW_EXTENSIONS
from plantid_cli.errors import ImageError
from plantid_cli.images import scan
from plantid_cli.images.encode import jpeg_bytes
from plantid_cli.images.files import file_sha256, open_file
from plantid_cli.images.meta import (  # (re-exported: the metadata half of preparing a photo)
    PhotoMeta,
    _quiet,
    exif_datetime,
    gps_to_decimal,
    read_photo_meta,
)
from plantid_cli.records import display_path

_ORIENTATION = 0x0112
_HEIF_BRANDS = frozenset(b"heic heix heim heis hevc hevx hevm hevs mif1 msf1".split())
_heif_lock = threading.Lock()
_warnings_lock = threading.Lock()
_heif_registered = False


@dataclass(frozen=True, slots=True)
class PreparedImage:
    jpeg: bytes
    width: int
    height: int
    original_width: int
    original_height: int
    file_bytes: int
    meta: PhotoMeta


def _pillow(prefix: bytes) -> Any:
    """Import Pillow; register pillow-heif once, the first time a HEIF-like file shows up."""
    global _heif_registered
    from PIL import Image

    if not _heif_registered and prefix[4:8] == b"ftyp" and prefix[8:12] in _HEIF_BRANDS:
        with _heif_lock:
            if not _heif_registered:
                import pillow_heif

                pillow_heif.register_heif_opener()
                _heif_registered = True
    return Image


def prepare_image(
    path: Path | str,
    *,
    max_side: int = 1500,
    quality: int = 90,
    max_file_bytes: int = 50_000_000,
    max_pixels: int = 100_000_000,
) -> PreparedImage:
    """Decode the photo and return an upright RGB JPEG, long side <= max_side, no EXIF.

    TIFF scans too big to decode whole are streamed (images/scan.py: the largest page, band by
    band); camera RAW goes through LibRaw (images/raw.py). Both may be up to
    MAX_SCAN_FILE_BYTES on disk: they are never read into memory whole."""
    display = display_path(path)
    extension = os.path.splitext(os.fsdecode(os.fspath(path)))[1].lower()
    handle, file_bytes = open_file(path)
    with handle:
        prefix = handle.read(16)
        handle.seek(0)
        is_scan = extension in RAW_EXTENSIONS or scan.is_tiff(prefix)
        limit = max(max_file_bytes, MAX_SCAN_FILE_BYTES) if is_scan else max_file_bytes
        if file_bytes > limit:
            raise ImageError(
                "too_large", f"{display}: {file_bytes} bytes is over the {limit} limit"
            )
        if extension in RAW_EXTENSIONS:
            # lazy: rawpy (LibRaw) only for RAW files
            from plantid_cli.images.raw import decode_raw

            Image = _pillow(b"")
            picture, flip = decode_raw(Image, path, display, max_side)
            with picture:
                return _finish(Image, picture, picture.size, flip, max_side, quality, file_bytes,
                               read_photo_meta(picture))  # fmt: skip
        page = None
        if scan.is_tiff(prefix):
            opened = scan.open_tiff(handle)
            if opened is not None:
                tif, page = opened
                with tif:
                    if scan.needs_streaming(page) and page.streamable:
                        return _prepare_scan(tif, page, display, max_side, quality, file_bytes)
            handle.seek(0)
        Image = _pillow(prefix)
        # Pillow warns about bombs inside open() (header only, cheap). catch_warnings swaps the
        # process-wide filter list, so prepare threads take turns here; load() is outside.
        with _warnings_lock, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = _open_checked(Image, handle, display, max_pixels)
        with im:
            if page is not None and page.index:
                _seek_page(Image, im, page.index, display)
            return _prepare(Image, im, display, max_side, quality, file_bytes)


def _seek_page(Image: Any, im: Any, index: int, display: str) -> None:
    """A multi-page TIFF small enough for Pillow: its largest page (scan.largest_page)."""
    try:
        im.seek(index)
    except (EOFError, OSError, ValueError) as exc:
        raise ImageError("truncated", f"{display}: page {index} cannot be read ({exc})") from None


def _prepare_scan(
    tif: Any, page: scan.Page, display: str, max_side: int, quality: int, file_bytes: int
) -> PreparedImage:
    """A big TIFF page, reduced while read (images/scan.py), then finished as any photo."""
    scan.check_scan(page, display)
    Image = _pillow(b"")
    pixels, _factor = scan.reduce_page(tif, page, max_side, display)
    tiff_page = tif.pages[page.index]
    name = _TRANSPOSES.get(scan.orientation(tiff_page))
    transpose = None if name is None else Image.Transpose[name]
    meta = PhotoMeta(taken_at=_quiet(lambda: exif_datetime(scan.datetime_tag(tiff_page))))
    picture = scan.to_pil(Image, pixels)
    return _finish(Image, picture, (page.width, page.height), transpose, max_side, quality,
                   file_bytes, meta)  # fmt: skip


def _bomb(Image: Any, display: str, pixels: int | None = None) -> ImageError:
    what = f"{pixels} pixels" if pixels else "pixel count"
    limit = Image.MAX_IMAGE_PIXELS
    return ImageError("decompression_bomb", f"{display}: {what} over Pillow's limit of {limit}")


def _open_checked(Image: Any, handle: BinaryIO, display: str, max_pixels: int) -> Any:
    try:
        try:
            im = Image.open(handle)
        except Image.DecompressionBombWarning:
            # Over Pillow's soft limit: read the header again to learn the size, so that our
            # own cap is judged first (too_large), as for every other image; see below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            handle.seek(0)
            im = Image.open(handle)
    except Image.UnidentifiedImageError:
        raise ImageError("not_image", f"{display}: not an image (format not recognised)") from None
    except Image.DecompressionBombError:
        # Raised inside open() before we see the size: pixels > 2 * MAX_IMAGE_PIXELS. When that
        # bound is >= our cap the image is over our cap too, and our cap has precedence.
        if 2 * (Image.MAX_IMAGE_PIXELS or 0) >= max_pixels:
            msg = f"{display}: declared pixel count is over the {max_pixels}-pixel limit"
            raise ImageError("too_large", msg) from None
        raise _bomb(Image, display) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise ImageError("unreadable", f"{display}: {exc.strerror or exc}") from None
        raise ImageError("truncated", f"{display}: damaged image header ({exc})") from None
    width, height = im.size
    pixels = width * height
    problem = None
    if width < 1 or height < 1:
        problem = ImageError("not_image", f"{display}: not an image (size {width}x{height})")
    elif pixels > max_pixels:
        msg = f"{display}: {width}x{height} is over the {max_pixels}-pixel limit"
        problem = ImageError("too_large", msg)
    elif Image.MAX_IMAGE_PIXELS is not None and pixels > Image.MAX_IMAGE_PIXELS:
        problem = _bomb(Image, display, pixels)  # the case Pillow only warns about
    if problem is not None:
        im.close()
        raise problem
    return im


def _prepare(
    Image: Any, im: Any, display: str, max_side: int, quality: int, file_bytes: int
) -> PreparedImage:
    full_w, full_h = im.size
    target = _fit(full_w, full_h, max_side)
    if target != (full_w, full_h) and im.format in ("JPEG", "MPO"):
        im.draft("RGB", target)  # DCT-domain downscale by 1/2..1/8, never below target
    try:
        im.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _bomb(Image, display) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, RuntimeError) as exc:
        msg = f"{display}: image data truncated or damaged ({exc})"
        raise ImageError("truncated", msg) from None
    meta = read_photo_meta(im)  # after load(): PNG may keep eXIf after the pixel data
    transpose = _orientation_transpose(Image, im)
    icc = im.info.get("icc_profile")
    return _finish(Image, im, (full_w, full_h), transpose, max_side, quality, file_bytes, meta, icc)


def _finish(
    Image: Any,
    im: Any,
    full: tuple[int, int],
    transpose: Any,
    max_side: int,
    quality: int,
    file_bytes: int,
    meta: PhotoMeta,
    icc: Any = None,
) -> PreparedImage:
    """The shared last steps: RGB, the final LANCZOS resize, orientation, JPEG. `full` is the
    picture's full-resolution size as stored (before orientation)."""
    full_w, full_h = full
    target = _fit(full_w, full_h, max_side)
    rgb = _to_rgb(Image, im)
    if rgb.size != target:
        rgb = rgb.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
    if transpose is not None:
        rgb = rgb.transpose(transpose)
        if transpose.name in _SWAPS:
            full_w, full_h = full_h, full_w
    options: dict[str, Any] = {"quality": quality, "optimize": False}
    if isinstance(icc, bytes) and icc[16:20] == b"RGB ":  # colour space, not photo metadata
        options["icc_profile"] = icc
    jpeg = jpeg_bytes(rgb, options)  # (with the interpreter lock released: see encode.py)
    width, height = rgb.size
    return PreparedImage(jpeg, width, height, full_w, full_h, file_bytes, meta)


def _fit(width: int, height: int, max_side: int) -> tuple[int, int]:
    long_side = max(width, height)
    if long_side <= max_side:
        return width, height
    scale = max_side / long_side
    if width >= height:
        return max_side, max(1, round(height * scale))
    return max(1, round(width * scale)), max_side


# EXIF Orientation -> Image.Transpose member name (no PIL import needed for the table).
_TRANSPOSES = {2: "FLIP_LEFT_RIGHT", 3: "ROTATE_180", 4: "FLIP_TOP_BOTTOM", 5: "TRANSPOSE"}
_TRANSPOSES.update({6: "ROTATE_270", 7: "TRANSVERSE", 8: "ROTATE_90"})
_SWAPS = {"TRANSPOSE", "ROTATE_270", "TRANSVERSE", "ROTATE_90"}  # these swap width/height


def _orientation_transpose(Image: Any, im: Any) -> Any:
    """Same table as ImageOps.exif_transpose, but a broken EXIF means "no transpose"."""
    name = _quiet(lambda: _TRANSPOSES.get(int(im.getexif().get(_ORIENTATION, 1))))
    return None if name is None else Image.Transpose[name]


def _to_rgb(Image: Any, im: Any) -> Any:
    mode = im.mode
    if mode == "RGB":
        return im
    if mode in ("RGBA", "LA", "La", "RGBa", "PA") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        background = Image.new("RGB", im.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if mode.startswith("I;16") or mode == "I":
        high = im.getextrema()[1]
        im = im.convert("I")
        if high > 255:  # 16-bit grey: scale instead of clipping to white
            im = im.point(lambda value: value * (255 / 65535))
        return im.convert("L").convert("RGB")
    return im.convert("RGB")


__all__ = [
    "PhotoMeta",
    "PreparedImage",
    "exif_datetime",
    "file_sha256",
    "gps_to_decimal",
    "prepare_image",
    "read_photo_meta",
]
