"""Generated herbarium scans: real TIFF files (16-bit, multi-page, big) and a DNG, written with
tifffile so that the decoder under test is not the writer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile


def green_tiff(
    path: Path, size: tuple[int, int] = (300, 200), *, seed: int = 0, bits: int = 16, **kwargs
) -> Path:
    """A leafy-green RGB TIFF (the sandbox calls green images plants); `seed` changes the bytes."""
    width, height = size
    top = 2**bits - 1
    pixels = np.zeros((height, width, 3), dtype=np.uint16 if bits == 16 else np.uint8)
    pixels[..., 0] = int(top * 0.15) + seed
    pixels[..., 1] = int(top * 0.55) + (np.arange(width)[None, :] % 50)
    pixels[..., 2] = int(top * 0.12)
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, pixels, photometric="rgb", **kwargs)
    return path


def halves_tiff(
    path: Path,
    size: tuple[int, int],
    *,
    rowsperstrip: int | None = 64,
    tile: tuple[int, int] | None = None,
    **kwargs,
) -> Path:
    """A 16-bit RGB scan written strip by strip or tile by tile (never whole in memory): the
    left half pure red, the right half pure blue, so a decoded and shrunk copy can be checked
    by its colours."""
    width, height = size

    def part(y: int, x: int, rows: int, cols: int) -> np.ndarray:
        block = np.zeros((rows, cols, 3), dtype=np.uint16)
        columns = np.arange(x, x + cols)
        block[:, columns < width // 2, 0] = 65535
        block[:, (columns >= width // 2) & (columns < width), 2] = 65535
        return block

    if tile is not None:
        th, tw = tile
        parts = (part(y, x, th, tw) for y in range(0, height, th) for x in range(0, width, tw))
        options = {"tile": tile}
    else:
        assert rowsperstrip is not None
        parts = (
            part(y, 0, min(rowsperstrip, height - y), width) for y in range(0, height, rowsperstrip)
        )
        options = {"rowsperstrip": rowsperstrip}
        if kwargs.get("compression"):  # tifffile compresses strips only from a whole array
            parts = np.concatenate(list(parts))
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, parts, shape=(height, width, 3), dtype="uint16", photometric="rgb",
                     **options, **kwargs)  # fmt: skip
    return path


def bomb_tiff(path: Path, size: tuple[int, int] = (60_000, 60_000)) -> Path:
    """A tiny file declaring a huge 8-bit grey page (deflate-compressed zeros, tiled, written
    tile by tile): a decompression bomb."""
    width, height = size
    tile = np.zeros((1024, 1024), dtype=np.uint8)
    count = -(-width // 1024) * -(-height // 1024)
    tifffile.imwrite(
        path, (tile for _ in range(count)), shape=(height, width), dtype="uint8",
        tile=(1024, 1024), compression="zlib",
    )  # fmt: skip
    return path


def dng(path: Path, size: tuple[int, int] = (600, 400), *, preview: bool = True) -> Path:
    """A minimal DNG: a Bayer (RGGB) sensor image in a SubIFD and, with `preview`, the full-size
    green JPEG preview in IFD0, as cameras write them; LibRaw reads both."""
    width, height = size
    dng_tags = [
        (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
        (50708, "s", 0, "plantid test camera", True),  # UniqueCameraModel
        (271, "s", 0, "plantid", True),
        (272, "s", 0, "test", True),
        (50721, "2i", 9, (1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 1), True),
    ]
    cfa_tags = [
        (33421, "H", 2, (2, 2), True),  # CFARepeatPatternDim
        (33422, "B", 4, (0, 1, 1, 2), True),  # CFAPattern RGGB
        (50717, "I", 1, 4095, True),  # WhiteLevel
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    sensor = np.full((height, width), 600, dtype=np.uint16)
    sensor[0::2, 1::2] = 2400  # green sites
    sensor[1::2, 0::2] = 2400
    with tifffile.TiffWriter(path) as tif:
        if preview:
            rgb = np.zeros((height, width, 3), dtype=np.uint8)
            rgb[..., 0], rgb[..., 1], rgb[..., 2] = 40, 160, 40
            tif.write(rgb, photometric="rgb", subfiletype=1, subifds=1, compression="jpeg",
                      rowsperstrip=height, extratags=dng_tags)  # fmt: skip
            tif.write(sensor, photometric=32803, subfiletype=0, extratags=cfa_tags)
        else:
            tif.write(sensor, photometric=32803, subfiletype=0, extratags=dng_tags + cfa_tags)
    return path
