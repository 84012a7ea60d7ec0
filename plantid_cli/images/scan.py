"""TIFF scans: the largest page, decoded band by band and reduced while it is read.

Why not Pillow alone: Pillow decodes the whole picture into memory before it can shrink it, so a
herbarium sheet of 100+ megapixels at 16 bits (600 MB uncompressed) either blows the memory goal
(150 MB peak for a run) or is refused by Pillow's decompression-bomb limit (89 MP). Here
tifffile (with imagecodecs for LZW, JPEG, ...) decodes one strip or tile at a time, each is
averaged down into `factor` x `factor` blocks at once, and only the reduced picture (at most
twice the upload size) is ever held; Pillow then does the last LANCZOS step and the JPEG.
Uncompressed strips are read straight from the file in bands of rows, so even a scan stored as
one strip never sits in memory whole.

A small TIFF (its largest page under `IN_MEMORY_BYTES` once decoded to 8-bit RGB) goes the
usual Pillow way, at that page; so does a layout this module does not stream (palette, CMYK,
bit depths that are not whole bytes) when it fits Pillow's limits. The bomb guard still holds:
a scan declaring more than MAX_SCAN_PIXELS is `decompression_bomb`, before any pixel is read.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from plantid_cli.constants import MAX_SCAN_PIXELS
from plantid_cli.errors import ImageError

#: Decoded 8-bit RGB bytes up to which a TIFF page simply goes through Pillow (~21 MP).
IN_MEMORY_BYTES = 64 * 1024 * 1024
#: The most decoded bytes one strip or tile may hold (a compressed scan stored as a single
#: strip cannot be decoded in parts).
MAX_SEGMENT_BYTES = 96 * 1024 * 1024
#: Bytes of an uncompressed strip read at a time.
_BAND_BYTES = 2 * 1024 * 1024
#: Input rows turned into floats at a time (rounded to whole output rows).
_CHUNK_ROWS = 32
_SCAN_SLOTS = threading.Semaphore(1)
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_GREY, _RGB = (0, 1), 2  # photometric: MINISWHITE/MINISBLACK, RGB


def is_tiff(prefix: bytes) -> bool:
    return prefix[:4] in _TIFF_MAGIC


@dataclass(frozen=True, slots=True)
class Page:
    index: int
    width: int
    height: int
    streamable: bool  # this module can decode it band by band


def largest_page(tif: Any) -> Page:
    """The page with the most pixels (multi-page scans keep thumbnails and labels beside the
    sheet); ties go to the first."""
    best: Page | None = None
    for index, page in enumerate(tif.pages):
        shape = _plane_shape(page)
        if shape is None:
            continue
        height, width = shape
        if best is None or width * height > best.width * best.height:
            best = Page(index, width, height, _streamable(page))
    if best is None:
        raise ValueError("no image page")
    return best


def _plane_shape(page: Any) -> tuple[int, int] | None:
    height, width = int(getattr(page, "imagelength", 0)), int(getattr(page, "imagewidth", 0))
    return (height, width) if height > 0 and width > 0 else None


def _streamable(page: Any) -> bool:
    photometric = int(page.photometric)
    samples = int(page.samplesperpixel)
    if photometric not in (*_GREY, _RGB) or int(page.imagedepth) != 1:
        return False
    if photometric == _RGB and samples < 3:
        return False
    dtype = page.dtype
    return dtype is not None and dtype.kind in "uf" and dtype.itemsize * 8 == page.bitspersample


def open_tiff(handle: Any) -> tuple[Any, Page] | None:
    """(TiffFile, its largest page), or None when tifffile cannot read the header (Pillow then
    gives its usual error)."""
    import tifffile  # lazy: numpy and tifffile only for TIFF files

    try:
        tif = tifffile.TiffFile(handle, name="scan.tif")  # (an fd has no name of its own)
    except Exception:  # noqa: BLE001 - any damage: Pillow reports it its usual way
        return None
    try:
        return tif, largest_page(tif)
    except Exception:  # noqa: BLE001
        tif.close()
        return None


def check_scan(page: Page, display: str) -> None:
    """The bomb guard for a streamed scan: the declared size, before any pixel is read."""
    pixels = page.width * page.height
    if pixels > MAX_SCAN_PIXELS:
        raise ImageError(
            "decompression_bomb",
            f"{display}: {page.width}x{page.height} ({pixels} pixels) is over the "
            f"{MAX_SCAN_PIXELS}-pixel limit for scans",
        )


def needs_streaming(page: Page) -> bool:
    return page.width * page.height * 3 > IN_MEMORY_BYTES


def reduce_page(tif: Any, page: Page, max_side: int, display: str) -> tuple[Any, int]:
    """The page averaged down by an integer factor so that its long side is >= max_side (or
    the page itself when it is small): (uint8 array H x W x 3 or H x W, factor).

    One scan at a time per process (`_SCAN_SLOTS`): with -j 8, eight threads each reducing a
    100 MP sheet would hold eight reduced copies and eight decoded strips; one keeps a run's
    peak memory that of one scan (one decoded strip or tile, the 8-bit picture and a window of
    float rows: 16 to 33 MB over the imports for benchmark item 16's 105 MP scans), and the
    CPU is the limit anyway."""
    with _SCAN_SLOTS:
        return _reduce_page(tif, page, max_side, display)


def _reduce_page(tif: Any, page: Page, max_side: int, display: str) -> tuple[Any, int]:
    tiff_page = tif.pages[page.index]
    long_side = max(page.width, page.height)
    factor = max(1, long_side // max_side) if long_side > max_side else 1
    reducer = _Reducer(tiff_page, page, factor, display)
    for y, x, plane, block in _blocks(tif, tiff_page, page, display):
        reducer.add(y, x, plane, block)
        del block  # before the next strip is decoded: one decoded strip at a time, not two
    return reducer.finish(), factor


class _Reducer:
    """Sums of `factor` x `factor` bins, kept only for the output rows still open.

    Strips and tiles of interleaved samples come in row order (tifffile yields segments by
    index, and a tiled page's index runs row-major), so once a block starting at row y
    arrives, every output row that ends at or above y is complete: it is turned into 8-bit
    pixels at once and its float sums are dropped. The float window is the height of one
    block (a 512-row tile row: 75 output rows, ~1 MB) instead of the whole reduced picture
    (1500 x 1429 x 3 floats, 26 MB). Separate sample planes (planarconfig 2) come plane by
    plane, so they keep sums for the whole picture."""

    def __init__(self, tiff_page: Any, page: Page, factor: int, display: str) -> None:
        import numpy as np  # lazy: numpy only for TIFF files

        self.np, self.page, self.factor, self.display = np, page, factor, display
        self.out_h, self.out_w = -(-page.height // factor), -(-page.width // factor)
        self.photometric = int(tiff_page.photometric)
        self.channels = 3 if self.photometric == _RGB else 1
        self.rolling = int(tiff_page.planarconfig) != 2
        rows = 0 if self.rolling else self.out_h
        # float32 holds any sum exactly enough: at most factor**2 16-bit values per pixel
        self.sums: Any = np.zeros((rows, self.out_w, self.channels), dtype=np.float32)
        self.base = 0  # the output row self.sums[0] holds
        self.pixels = np.zeros((self.out_h, self.out_w, self.channels), dtype=np.uint8)
        self.covered = 0  # pixels of the first sample plane seen: each exactly once, or truncated
        # each output pixel's share of the page: full bins, smaller at the right and bottom
        self.row_sizes = np.diff(np.append(np.arange(0, page.height, factor), page.height))
        col_sizes = np.diff(np.append(np.arange(0, page.width, factor), page.width))
        self.col_sizes = col_sizes.astype(np.float32)[None, :, None]
        dtype = tiff_page.dtype
        self.scale = 255.0 / (1.0 if dtype.kind == "f" else float(2 ** (dtype.itemsize * 8) - 1))

    def add(self, y: int, x: int, plane: int | None, block: Any) -> None:
        np, page, factor = self.np, self.page, self.factor
        rows, cols = min(block.shape[0], page.height - y), min(block.shape[1], page.width - x)
        if rows <= 0 or cols <= 0 or (plane is not None and plane >= self.channels):
            return
        block = block[:rows, :cols, : self.channels] if plane is None else block[:rows, :cols, :1]
        if plane is None or plane == 0:
            self.covered += rows * cols
        if self.rolling:
            if y // factor < self.base:
                raise ImageError("truncated", f"{self.display}: strips out of order")
            self._flush(y // factor)
            self._reserve(-(-(y + rows) // factor))
        col_starts = _bin_starts(x, cols, factor)
        x0 = x // factor
        # a few output rows at a time: the float sums of a tall strip stay small
        step = factor * max(1, _CHUNK_ROWS // factor)
        cuts = list(range((-y) % factor, rows, step))  # cut only where an output row starts
        if not cuts or cuts[0] != 0:
            cuts.insert(0, 0)
        for top, bottom in zip(cuts, [*cuts[1:], rows], strict=True):
            row_starts = _bin_starts(y + top, bottom - top, factor)
            # summed as float32 straight from the 16-bit block: no float copy of the rows
            part = np.add.reduceat(block[top:bottom], row_starts, axis=0, dtype=np.float32)
            reduced = np.add.reduceat(part, col_starts, axis=1)
            y0 = (y + top) // factor - self.base
            y1, x1 = y0 + reduced.shape[0], x0 + reduced.shape[1]
            if plane is None:
                self.sums[y0:y1, x0:x1] += reduced
            else:
                self.sums[y0:y1, x0:x1, plane] += reduced[..., 0]

    def _reserve(self, end: int) -> None:
        """Room in the window for output rows up to `end` (it grows to one block's height)."""
        need = min(end, self.out_h) - self.base
        if need > self.sums.shape[0]:
            wider = self.np.zeros((need, *self.sums.shape[1:]), dtype=self.sums.dtype)
            wider[: self.sums.shape[0]] = self.sums
            self.sums = wider

    def _flush(self, upto: int) -> None:
        """Output rows before `upto` are complete: to 8 bits, and out of the window."""
        upto = min(upto, self.out_h)
        done = min(upto - self.base, self.sums.shape[0])
        if done <= 0:
            return
        for top in range(0, done, 64):  # in place, a band at a time: no second float copy
            self._to_pixels(self.base + top, self.sums[top : min(done, top + 64)])
        keep = self.sums.shape[0] - done
        self.sums[:keep] = self.sums[done:]
        self.sums[keep:] = 0
        self.base = upto

    def _to_pixels(self, top: int, band: Any) -> None:
        np = self.np
        band /= self.col_sizes
        band /= self.row_sizes[top : top + band.shape[0]].astype(np.float32)[:, None, None]
        band *= self.scale
        np.clip(np.rint(band, out=band), 0, 255, out=band)
        self.pixels[top : top + band.shape[0]] = band

    def finish(self) -> Any:
        """The 8-bit picture (H x W x 3, or H x W for grey)."""
        if self.covered != self.page.width * self.page.height:
            raise ImageError("truncated", f"{self.display}: image data truncated (missing strips)")
        self._flush(self.out_h)
        self.sums = None  # (the window goes before Pillow makes its copies)
        pixels = self.pixels
        if self.photometric == 0:  # MINISWHITE: 0 is white
            self.np.subtract(255, pixels, out=pixels)
        return pixels[..., 0] if self.channels == 1 else pixels


def _bin_starts(origin: int, length: int, factor: int) -> Any:
    """Offsets within a block where a new output pixel starts (absolute position % factor)."""
    import numpy as np  # lazy: numpy only for TIFF files

    first = (-origin) % factor
    starts = np.arange(first, length, factor)
    if first != 0:
        starts = np.concatenate(([0], starts))
    return starts


def _blocks(tif: Any, tiff_page: Any, page: Page, display: str) -> Any:
    """(y, x, sample plane or None, H x W x S array) for every part of the page, one at a time."""
    compression = int(tiff_page.compression)
    if compression == 1 and int(tiff_page.planarconfig) == 1:
        yield from _raw_bands(tif, tiff_page, page, display)
        return
    segment_bytes = _segment_bytes(tiff_page)
    if segment_bytes > MAX_SEGMENT_BYTES:
        raise ImageError(
            "too_large",
            f"{display}: stored as compressed blocks of {segment_bytes // 1_000_000} MB each; "
            "cannot decode it in parts (re-save it tiled or in strips)",
        )
    try:
        for segment, index, _shape in tiff_page.segments(maxworkers=1, buffersize=1 << 22):
            if segment is None:
                continue
            plane = int(index[0]) if int(tiff_page.planarconfig) == 2 else None
            block = segment[0]
            del segment  # (so that the caller's `del block` frees the strip before the next)
            yield int(index[2]), int(index[3]), plane, block
            del block
    except ImageError:
        raise
    except KeyError as exc:  # a codec tifffile does not have
        raise ImageError(
            "not_image", f"{display}: TIFF compression not supported ({exc})"
        ) from None
    except Exception as exc:  # noqa: BLE001 - damaged data in any codec
        raise ImageError(
            "truncated", f"{display}: image data truncated or damaged ({exc})"
        ) from None


def _segment_bytes(tiff_page: Any) -> int:
    if tiff_page.is_tiled:
        rows, cols = int(tiff_page.tilelength), int(tiff_page.tilewidth)
    else:
        rows, cols = int(tiff_page.rowsperstrip or tiff_page.imagelength), int(tiff_page.imagewidth)
    samples = 1 if int(tiff_page.planarconfig) == 2 else int(tiff_page.samplesperpixel)
    return rows * cols * samples * int(tiff_page.dtype.itemsize)


def _raw_bands(tif: Any, tiff_page: Any, page: Page, display: str) -> Any:
    """Uncompressed, interleaved samples: read each strip from the file in bands of rows."""
    import numpy as np  # lazy: numpy only for TIFF files

    samples = int(tiff_page.samplesperpixel)
    dtype = tiff_page.dtype.newbyteorder(tif.byteorder)
    row_bytes = page.width * samples * dtype.itemsize
    rows_per_strip = int(tiff_page.rowsperstrip or page.height)
    if tiff_page.is_tiled:
        raise ImageError("not_image", f"{display}: uncompressed tiled TIFF not supported")
    band = max(1, _BAND_BYTES // row_bytes)
    handle = tif.filehandle
    for strip, (offset, count) in enumerate(
        zip(tiff_page.dataoffsets, tiff_page.databytecounts, strict=False)
    ):
        y0 = strip * rows_per_strip
        rows_here = min(rows_per_strip, page.height - y0, int(count) // row_bytes)
        done = 0
        while done < rows_here:
            take = min(band, rows_here - done)
            handle.seek(int(offset) + done * row_bytes)
            data = handle.read(take * row_bytes)
            if len(data) < take * row_bytes:
                raise ImageError("truncated", f"{display}: image data truncated")
            block = np.frombuffer(data, dtype=dtype).reshape(take, page.width, samples)
            yield y0 + done, 0, None, block
            done += take


def to_pil(Image: Any, pixels: Any) -> Any:
    """A PIL image over the array's own memory (frombuffer: no copy)."""
    mode = "L" if pixels.ndim == 2 else "RGB"
    height, width = pixels.shape[:2]
    return Image.frombuffer(mode, (width, height), pixels, "raw", mode, 0, 1)


def orientation(tiff_page: Any) -> int:
    try:
        return int(tiff_page.orientation)
    except Exception:  # noqa: BLE001 - a damaged tag means "as stored"
        return 1


def datetime_tag(tiff_page: Any) -> Any:
    """The TIFF DateTime tag's value (scanners write the scan's time there), or None."""
    try:
        tag = tiff_page.tags.get(306)
    except Exception:  # noqa: BLE001 - a damaged tag: no date
        return None
    return tag.value if tag is not None else None
