"""images.py on real files: Pillow-made fixtures in tmp_path plus the shared sample photos."""

from __future__ import annotations

import io
import os
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, TiffImagePlugin

from plantid_cli.errors import ImageError
from plantid_cli.images.prepare import (
    PhotoMeta,
    exif_datetime,
    file_sha256,
    gps_to_decimal,
    prepare_image,
    read_photo_meta,
)

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples"


def sample(name: str) -> Path:
    path = SAMPLES / name
    if not path.is_file():
        pytest.skip(f"sample photo {path} not available (shared/samples must sit beside the repo)")
    return path


def code_of(path: Path, **kwargs: object) -> str:
    with pytest.raises(ImageError) as caught:
        prepare_image(path, **kwargs)  # type: ignore[arg-type]
    return caught.value.code


def decoded(prepared_jpeg: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(prepared_jpeg))
    im.load()
    return im


def rational(value: float) -> TiffImagePlugin.IFDRational:
    fraction = Fraction(value).limit_denominator(10_000)
    return TiffImagePlugin.IFDRational(fraction.numerator, fraction.denominator)


def jpeg_with_gps(path: Path, lat: tuple, lat_ref, lon: tuple, lon_ref, **tags) -> Path:
    exif = Image.Exif()
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = lat_ref, tuple(rational(v) for v in lat)
    gps[3], gps[4] = lon_ref, tuple(rational(v) for v in lon)
    if "original" in tags:
        exif.get_ifd(0x8769)[0x9003] = tags["original"]
    if "datetime" in tags:
        exif[0x0132] = tags["datetime"]
    Image.new("RGB", (64, 48), (10, 120, 30)).save(path, "JPEG", exif=exif)
    return path


# --- GPS and date ------------------------------------------------------------------------------


def test_gps_south_and_east_is_negative_latitude(tmp_path: Path) -> None:
    path = jpeg_with_gps(tmp_path / "sydney.jpg", (33, 52, 4.8), "S", (151, 12, 36), "E")
    meta = prepare_image(path).meta
    assert meta.latitude == pytest.approx(-(33 + 52 / 60 + 4.8 / 3600), abs=1e-6)  # -33.868
    assert meta.latitude == pytest.approx(-33.868, abs=1e-6)
    assert meta.longitude == pytest.approx(151.21, abs=1e-6)


def test_gps_north_and_west_is_negative_longitude(tmp_path: Path) -> None:
    # New York 40°42'46"N 74°0'21.6"W -> 40.712778, -74.006
    path = jpeg_with_gps(tmp_path / "ny.jpg", (40, 42, 46), "N", (74, 0, 21.6), "W")
    meta = prepare_image(path).meta
    assert meta.latitude == pytest.approx(40 + 42 / 60 + 46 / 3600, abs=1e-6)
    assert meta.longitude == pytest.approx(-74.006, abs=1e-6)


def test_gps_south_west_both_negative_and_byte_refs(tmp_path: Path) -> None:
    # Buenos Aires 34°36'12"S 58°22'54"W; refs stored the way some cameras do (bytes with NUL)
    path = jpeg_with_gps(tmp_path / "ba.jpg", (34, 36, 12), "S", (58, 22, 54), "W")
    meta = prepare_image(path).meta
    assert meta.latitude == pytest.approx(-34.603333, abs=1e-6)
    assert meta.longitude == pytest.approx(-58.381667, abs=1e-6)
    assert gps_to_decimal((34, 36, 12), b"S\x00") == pytest.approx(-34.603333, abs=1e-6)
    assert gps_to_decimal(((58, 1), (22, 1), (54, 1)), " w ") == pytest.approx(-58.381667, abs=1e-6)


def test_gps_rejects_bad_values() -> None:
    assert gps_to_decimal(((10, 0), (0, 1), (0, 1)), "N") is None  # zero denominator
    assert gps_to_decimal((TiffImagePlugin.IFDRational(5, 0), 0, 0), "N") is None
    assert gps_to_decimal((91, 0, 0), "N") is None
    assert gps_to_decimal((181, 0, 0), "E") is None
    assert gps_to_decimal((170, 0, 0), "E") == 170.0
    assert gps_to_decimal((10, 60, 0), "N") is None
    assert gps_to_decimal((10, 0, 0), "X") is None
    assert gps_to_decimal((10, 0, 0), None) is None
    assert gps_to_decimal(None, "N") is None
    assert gps_to_decimal((-1, 0, 0), "N") is None
    assert gps_to_decimal((float("nan"), 0, 0), "N") is None
    assert gps_to_decimal("10", "N") is None


def test_half_a_position_is_no_position(tmp_path: Path) -> None:
    path = jpeg_with_gps(tmp_path / "half.jpg", (33, 52, 4.8), "S", (190, 0, 0), "E")
    assert prepare_image(path).meta == PhotoMeta(None, None, None)


@given(
    deg=st.integers(0, 89),
    minutes=st.integers(0, 59),
    sec=st.floats(0, 59.99, allow_nan=False),
    ref=st.sampled_from(["N", "S", "E", "W", "n", "s", b"E", b"W\x00", "S "]),
)
def test_gps_to_decimal_property(deg: int, minutes: int, sec: float, ref: str | bytes) -> None:
    value = gps_to_decimal((deg, minutes, sec), ref)
    expected = deg + minutes / 60 + sec / 3600
    assert value is not None
    assert abs(abs(value) - expected) <= 1e-6
    letter = (ref.decode() if isinstance(ref, bytes) else ref).strip("\x00 ").upper()
    if expected > 1e-6:
        assert (value < 0) == (letter in ("S", "W"))


def test_real_camera_gps_and_date() -> None:
    prepared = prepare_image(sample("camera-with-gps.jpg"))
    # README: 43°28'2.8"N 11°53'6.5"E; the file stores seconds as 2.814 and 6.456
    assert prepared.meta.latitude == pytest.approx(43 + 28 / 60 + 2.8 / 3600, abs=1e-4)
    assert prepared.meta.longitude == pytest.approx(11 + 53 / 60 + 6.5 / 3600, abs=1e-4)
    assert prepared.meta.latitude == pytest.approx(43 + 28 / 60 + 2.814 / 3600, abs=1e-6)
    assert prepared.meta.longitude == pytest.approx(11 + 53 / 60 + 6.456 / 3600, abs=1e-6)
    assert prepared.meta.taken_at == "2008-10-22T16:28:39"  # DateTimeOriginal, no zone
    assert b"Exif" not in prepared.jpeg[:4096]  # position never leaves in the upload
    assert decoded(prepared.jpeg).getexif().get_ifd(0x8825) == {}


def test_datetime_original_wins_then_datetime_fallback(tmp_path: Path) -> None:
    both = jpeg_with_gps(
        tmp_path / "a.jpg",
        (1, 0, 0),
        "N",
        (1, 0, 0),
        "E",
        original="2024:06:01 10:20:30",
        datetime="2000:01:01 00:00:00",
    )
    assert prepare_image(both).meta.taken_at == "2024-06-01T10:20:30"
    broken = jpeg_with_gps(
        tmp_path / "b.jpg",
        (1, 0, 0),
        "N",
        (1, 0, 0),
        "E",
        original="0000:00:00 00:00:00",
        datetime="2021:12:31 23:59:59",
    )
    assert prepare_image(broken).meta.taken_at == "2021-12-31T23:59:59"
    assert exif_datetime(b"2024:02:30 10:00:00\x00") is None
    assert exif_datetime("2024:02:29 10:00:00\x00 ") == "2024-02-29T10:00:00"


def test_read_photo_meta_without_exif() -> None:
    assert read_photo_meta(Image.new("RGB", (4, 4))) == PhotoMeta(None, None, None)


# --- geometry ----------------------------------------------------------------------------------


def test_big_jpeg_downsized_to_1500(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    Image.new("RGB", (4000, 3000), (200, 30, 30)).save(path, quality=80)
    prepared = prepare_image(path)
    assert (prepared.width, prepared.height) == (1500, 1125)
    assert (prepared.original_width, prepared.original_height) == (4000, 3000)
    assert prepared.file_bytes == path.stat().st_size
    im = decoded(prepared.jpeg)
    assert (im.format, im.mode, im.size) == ("JPEG", "RGB", (1500, 1125))
    assert im.getpixel((700, 500)) == pytest.approx((200, 30, 30), abs=6)


def test_never_upscaled_and_custom_max_side(tmp_path: Path) -> None:
    path = tmp_path / "tall.png"
    Image.new("RGB", (300, 1000), "white").save(path)
    assert (prepare_image(path).width, prepare_image(path).height) == (300, 1000)
    small = prepare_image(path, max_side=500)
    assert (small.width, small.height) == (150, 500)


def test_exif_orientation_6_is_turned_upright() -> None:
    prepared = prepare_image(sample("exif-orientation-6.jpg"))
    assert (prepared.width, prepared.height) == (450, 600)
    assert (prepared.original_width, prepared.original_height) == (450, 600)
    assert decoded(prepared.jpeg).getexif().get(0x0112) is None


def test_orientation_applies_with_draft(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    Image.new("RGB", (4000, 3000), "green").save(path, exif=exif)
    prepared = prepare_image(path)
    assert (prepared.width, prepared.height) == (1125, 1500)
    assert (prepared.original_width, prepared.original_height) == (3000, 4000)


def test_iphone_heic() -> None:
    prepared = prepare_image(sample("iphone-13.heic"))
    assert max(prepared.width, prepared.height) == 1500
    assert prepared.height > prepared.width  # portrait
    im = decoded(prepared.jpeg)
    assert (im.format, im.mode) == ("JPEG", "RGB")
    assert prepared.meta.taken_at == "2022-02-16T12:55:41"


def test_corrupted_exif_still_decodes() -> None:
    prepared = prepare_image(sample("corrupted.jpg"))
    assert (prepared.original_width, prepared.original_height) == (3648, 2736)
    assert (prepared.width, prepared.height) == (1500, 1125)
    assert isinstance(prepared.meta, PhotoMeta)


def test_damaged_exif_block_never_fails(tmp_path: Path) -> None:
    source = io.BytesIO()
    Image.new("RGB", (40, 30), "blue").save(source, "JPEG", exif=b"Exif\x00\x00MM\x00\x2a\xff\xff")
    path = tmp_path / "bad-exif.jpg"
    path.write_bytes(source.getvalue())
    prepared = prepare_image(path)
    assert (prepared.width, prepared.height) == (40, 30)
    assert prepared.meta == PhotoMeta(None, None, None)


# --- modes -------------------------------------------------------------------------------------


def test_png_alpha_composited_on_white(tmp_path: Path) -> None:
    path = tmp_path / "alpha.png"
    im = Image.new("RGBA", (20, 10), (0, 0, 0, 0))
    im.paste((255, 0, 0, 255), (0, 0, 10, 10))
    im.save(path)
    out = decoded(prepare_image(path).jpeg)
    assert out.mode == "RGB"
    assert out.getpixel((15, 5)) == pytest.approx((255, 255, 255), abs=3)
    assert out.getpixel((3, 5)) == pytest.approx((255, 0, 0), abs=6)


@pytest.mark.parametrize(
    ("mode", "fmt", "suffix"),
    [("P", "PNG", ".png"), ("LA", "PNG", ".png"), ("L", "JPEG", ".jpg"), ("CMYK", "JPEG", ".jpg")]
    + [("I;16", "PNG", ".png"), ("1", "PNG", ".png"), ("RGB", "WEBP", ".webp")],
)
def test_modes_become_rgb(tmp_path: Path, mode: str, fmt: str, suffix: str) -> None:
    path = tmp_path / f"img{suffix}"
    Image.new(mode, (30, 20)).save(path, fmt)
    out = decoded(prepare_image(path).jpeg)
    assert (out.mode, out.size) == ("RGB", (30, 20))


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path: Path) -> None:
    path = tmp_path / "grey16.png"
    Image.new("I;16", (8, 8), 32768).save(path)
    value = decoded(prepare_image(path).jpeg).getpixel((4, 4))
    assert value == pytest.approx((128, 128, 128), abs=3)


# --- refusals ----------------------------------------------------------------------------------


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.touch()
    assert code_of(path) == "empty"
    with pytest.raises(ImageError) as caught:
        file_sha256(path)
    assert caught.value.code == "empty"


def test_html_named_jpg_is_not_image(tmp_path: Path) -> None:
    path = tmp_path / "page.jpg"
    path.write_text("<!doctype html><html><body>404 Not Found</body></html>\n")
    assert code_of(path) == "not_image"


def test_truncated_jpeg(tmp_path: Path) -> None:
    source = io.BytesIO()
    Image.effect_noise((800, 600), 60).convert("RGB").save(source, "JPEG", quality=90)
    data = source.getvalue()
    path = tmp_path / "half.jpg"
    path.write_bytes(data[: len(data) // 2])
    assert code_of(path) == "truncated"
    path.write_bytes(data[:300])  # header cut short
    assert code_of(path) == "truncated"


def test_truncated_real_photo(tmp_path: Path) -> None:
    data = sample("wheat.jpg").read_bytes()
    path = tmp_path / "wheat-half.jpg"
    path.write_bytes(data[: len(data) // 2])
    assert code_of(path) == "truncated"


def test_huge_declared_size(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(path)  # 400 MP, a few kB on disk
    assert path.stat().st_size < 200_000
    assert code_of(path) == "too_large"  # over max_pixels=100 MP, refused before decoding
    # With our own cap out of the way, Pillow's bomb limit (2 x 89.5 MP) still refuses it.
    assert code_of(path, max_pixels=10**9) == "decompression_bomb"


def test_pillow_bomb_warning_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "warn.png"
    Image.new("1", (10000, 9500)).save(path)  # 95 MP: over MAX_IMAGE_PIXELS, under 2x
    assert Image.MAX_IMAGE_PIXELS is not None
    assert Image.MAX_IMAGE_PIXELS < 95_000_000 < 2 * Image.MAX_IMAGE_PIXELS
    assert code_of(path) == "decompression_bomb"
    assert code_of(path, max_pixels=90_000_000) == "too_large"


def test_declared_pixels_over_cap(tmp_path: Path) -> None:
    path = tmp_path / "wide.png"
    Image.new("L", (200, 100)).save(path)
    assert code_of(path, max_pixels=19_999) == "too_large"
    assert prepare_image(path, max_pixels=20_000).width == 200


def test_file_over_byte_cap(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.new("RGB", (50, 50), "red").save(path)
    assert code_of(path, max_file_bytes=10) == "too_large"


def test_missing_directory_and_fifo(tmp_path: Path) -> None:
    assert code_of(tmp_path / "nope.jpg") == "not_found"
    assert code_of(tmp_path) == "unreadable"
    targets = [tmp_path / "nope.jpg", tmp_path]
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "pipe.jpg"
        os.mkfifo(fifo)  # must be refused at once, not block waiting for a writer
        assert code_of(fifo) == "unreadable"
        targets.append(fifo)
    for target in targets:
        with pytest.raises(ImageError):
            file_sha256(target)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads anything")
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.jpg"
    Image.new("RGB", (10, 10)).save(path)
    path.chmod(0)
    try:
        assert code_of(path) == "unreadable"
        with pytest.raises(ImageError) as caught:
            file_sha256(path)
        assert caught.value.code == "unreadable"
    finally:
        path.chmod(0o600)


def test_file_sha256_streams_known_digest(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"a" * (3 * 1024 * 1024 + 7))
    import hashlib

    assert file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_module_import_is_stdlib_only() -> None:
    import subprocess
    import sys

    code = (
        "import sys; import plantid_cli.images.prepare, plantid_cli.inputs.walk; "
        "bad = [m for m in ('PIL', 'pillow_heif') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
