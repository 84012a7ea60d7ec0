"""What a photo says about itself: EXIF GPS position and capture time, read defensively.

Split from prepare.py (which re-exports these names): damaged EXIF never fails a photo, every
read falls back to None.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

_GPS_IFD, _EXIF_IFD = 0x8825, 0x8769
_DATETIME, _DATETIME_ORIGINAL = 0x0132, 0x9003


@dataclass(frozen=True, slots=True)
class PhotoMeta:
    latitude: float | None = None  # signed: S negative
    longitude: float | None = None  # signed: W negative
    taken_at: str | None = None  # "2024-06-01T10:20:30" (local camera time, no zone)


def _quiet(read: Callable[[], Any]) -> Any:
    """Run an EXIF read; damaged metadata raises anything (struct.error, KeyError...) -> None."""
    try:
        return read()
    except Exception:  # noqa: BLE001 - metadata must never fail the photo
        return None


def read_photo_meta(image: Any) -> PhotoMeta:
    """GPS position and capture time from a PIL image's EXIF; any damage gives None fields."""
    exif = _quiet(image.getexif)
    if exif is None:
        return PhotoMeta()
    gps = _quiet(lambda: exif.get_ifd(_GPS_IFD)) or {}
    latitude = _quiet(lambda: gps_to_decimal(gps.get(2), gps.get(1)))
    longitude = _quiet(lambda: gps_to_decimal(gps.get(4), gps.get(3)))
    if latitude is None or longitude is None:  # half a position is no position
        latitude = longitude = None
    taken_at = _quiet(lambda: exif_datetime(exif.get_ifd(_EXIF_IFD).get(_DATETIME_ORIGINAL)))
    if taken_at is None:
        taken_at = _quiet(lambda: exif_datetime(exif.get(_DATETIME)))
    return PhotoMeta(latitude, longitude, taken_at)


def exif_datetime(value: object) -> str | None:
    """EXIF "YYYY:MM:DD HH:MM:SS" (str or bytes, NUL/space padded) -> ISO 8601 without zone."""
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="replace")
    if not isinstance(value, str):
        return None
    text = value.strip("\x00 \t\r\n")
    for pattern in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y:%m:%dT%H:%M:%S"):
        try:
            return datetime.strptime(text, pattern).isoformat(timespec="seconds")
        except ValueError:
            continue
    return None


def _rational(value: object) -> float | None:
    if isinstance(value, (tuple, list)) and len(value) == 2:  # raw (numerator, denominator)
        numerator, denominator = value
        if not isinstance(numerator, numbers.Real) or not isinstance(denominator, numbers.Real):
            return None
        if denominator == 0:
            return None
        value = numerator / denominator
    elif getattr(value, "denominator", 1) == 0:  # IFDRational(x, 0) / Fraction
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    number = float(value)
    return number if math.isfinite(number) and number >= 0 else None


def gps_to_decimal(dms: Sequence[Any] | None, ref: str | bytes | None) -> float | None:
    """(degrees, minutes, seconds) rationals + hemisphere ref -> signed decimal degrees.

    S and W are negative. Refs may be bytes, lower case, NUL/space padded. Returns None for a
    missing/unknown ref, a zero denominator, a negative or non-finite part, minutes or seconds
    >= 60, or a result beyond 90 (N/S) or 180 (E/W). Rounded to 6 decimals (~0.1 m).
    """
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", errors="replace")
    if not isinstance(ref, str) or isinstance(dms, (str, bytes)) or dms is None:
        return None
    hemisphere = ref.strip("\x00 \t\r\n").upper()
    limit = {"N": 90.0, "S": 90.0, "E": 180.0, "W": 180.0}.get(hemisphere)
    try:
        parts = [_rational(part) for part in dms]
    except TypeError:
        return None
    known = [part for part in parts if part is not None]
    if limit is None or not 1 <= len(parts) <= 3 or len(known) != len(parts):
        return None
    degrees, minutes, seconds = [*known, 0.0, 0.0][:3]
    if minutes >= 60 or seconds >= 60:
        return None
    value = degrees + minutes / 60 + seconds / 3600
    if value > limit:
        return None
    value = round(value, 6)
    return -value if hemisphere in ("S", "W") and value else value
