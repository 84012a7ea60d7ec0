"""Generated test photos: real JPEG/PNG files with the EXIF a camera would write."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path


def _dms(value: float) -> tuple[Fraction, Fraction, Fraction]:
    value = abs(value)
    degrees = int(value)
    minutes_full = (value - degrees) * 60
    minutes = int(minutes_full)
    seconds = round((minutes_full - minutes) * 60, 4)
    return Fraction(degrees), Fraction(minutes), Fraction(seconds).limit_denominator(10000)


def green_photo(
    path: Path,
    size: tuple[int, int] = (800, 600),
    *,
    seed: int = 0,
    gps: tuple[float, float] | None = None,
    taken: str | None = None,
) -> Path:
    """A leafy-green JPEG (the sandbox calls green images plants) with optional GPS and date.

    `gps` is signed decimal degrees; the EXIF gets absolute values plus N/S and E/W refs, as a
    camera writes them. `taken` is EXIF format "YYYY:MM:DD HH:MM:SS". `seed` changes the bytes.
    """
    from PIL import Image

    width, height = size
    image = Image.new("RGB", (64, 48))
    image.putdata(
        [
            (20 + (x * 3 + seed * 7) % 60, 110 + (y * 2 + seed) % 100, 30 + (x + y + seed) % 40)
            for y in range(48)
            for x in range(64)
        ]
    )
    image = image.resize((width, height))
    exif = Image.Exif()
    if gps is not None:
        latitude, longitude = gps
        gps_ifd = exif.get_ifd(0x8825)
        gps_ifd[1] = "S" if latitude < 0 else "N"
        gps_ifd[2] = _dms(latitude)
        gps_ifd[3] = "W" if longitude < 0 else "E"
        gps_ifd[4] = _dms(longitude)
    if taken is not None:
        exif.get_ifd(0x8769)[0x9003] = taken
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "JPEG", quality=90, exif=exif.tobytes())
    return path


def magenta_photo(path: Path) -> Path:
    """An image the sandbox treats as 'not a plant' (green trails red and blue)."""
    from PIL import Image

    Image.new("RGB", (300, 200), (200, 40, 190)).save(path, "JPEG")
    return path
