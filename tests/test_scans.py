"""Herbarium inputs (issue 15): folder walks take TIFF and camera RAW, `--ext` adds more, big
16-bit scans are decoded within the memory goal and shrunk, a bomb is still refused."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from conftest import REPO, SAMPLES, run_plantid
from PIL import Image
from scans import bomb_tiff, dng, green_tiff, halves_tiff

from plantid_cli.errors import ImageError
from plantid_cli.images.prepare import prepare_image
from plantid_cli.inputs.walk import iter_jobs, normalise_extensions


def records(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def _jpeg(data: bytes) -> Image.Image:
    import io

    return Image.open(io.BytesIO(data)).convert("RGB")


# ----- the walk ------------------------------------------------------------------------------
def test_folder_walk_takes_tiff_and_raw_in_any_case(tmp_path):
    names = ["a.TIF", "b.tiff", "c.dng", "d.CR2", "e.cr3", "f.nef", "g.arw", "h.orf", "i.rw2"]
    for name in [*names, "notes.txt", "j.jp2"]:
        (tmp_path / name).write_bytes(b"x")
    assert [job.relative for job in iter_jobs([str(tmp_path)])] == names
    more = normalise_extensions(["jp2"])
    assert [job.relative for job in iter_jobs([str(tmp_path)], extensions=more)][-1] == "j.jp2"


def test_normalise_extensions_accepts_forms_and_refuses_paths():
    assert {".jp2", ".j2k", ".foo"} <= normalise_extensions(["JP2,.j2k", ".FOO"])
    for bad in (".", "a/b", ""):
        with pytest.raises(ValueError):
            normalise_extensions([bad])


def test_identify_on_a_folder_of_tiff_scans_identifies_them(tmp_path, sandbox, cli_env):
    """Before: "no images found" (the walk skipped .tif) although a named .tif worked."""
    green_tiff(tmp_path / "scans" / "sheet-1.tif")
    green_tiff(tmp_path / "scans" / "sheet-2.tiff", seed=3, bits=8)
    result = run_plantid(["identify", tmp_path / "scans", "-f", "ndjson"], cli_env)
    assert result.returncode == 0, result.stderr
    assert [r["status"] for r in records(result.stdout)] == ["ok", "ok"]
    assert sandbox.stats()["plantid_identify"] == 2


def test_ext_adds_a_suffix_to_the_walk(tmp_path, sandbox, cli_env, samples):
    shutil.copy(samples / "aloe-vera.jpg", tmp_path / "aloe.scan")
    without = run_plantid(["identify", tmp_path, "-f", "ndjson"], cli_env)
    assert without.returncode == 1 and "no images found" in without.stderr
    assert sandbox.stats()["plantid_identify"] == 0
    with_ext = run_plantid(["identify", tmp_path, "--ext", "scan", "-f", "ndjson"], cli_env)
    assert with_ext.returncode == 0, with_ext.stderr
    assert [r["status"] for r in records(with_ext.stdout)] == ["ok"]
    bad = run_plantid(["identify", tmp_path, "--ext", "a/b"], cli_env)
    assert bad.returncode == 2 and "plantid: error: --ext" in bad.stderr
    assert "Traceback" not in bad.stderr


# ----- TIFF ----------------------------------------------------------------------------------
def test_multi_page_tiff_sends_the_largest_page(tmp_path):
    path = tmp_path / "multi.tif"
    with tifffile.TiffWriter(path) as tif:
        tif.write(np.full((40, 60, 3), (200, 0, 200), dtype=np.uint8), photometric="rgb")
        tif.write(np.full((300, 500, 3), (30, 160, 40), dtype=np.uint8), photometric="rgb")
        tif.write(np.full((50, 50, 3), (0, 0, 255), dtype=np.uint8), photometric="rgb")
    prepared = prepare_image(path, max_side=1500)
    assert (prepared.width, prepared.height) == (500, 300)
    r, g, b = _jpeg(prepared.jpeg).getpixel((250, 150))
    assert g > 140 and r < 60 and b < 60  # the green page, not the magenta thumbnail


def _colours(prepared) -> tuple[tuple[int, ...], tuple[int, ...]]:
    image = _jpeg(prepared.jpeg)
    w, h = image.size
    return image.getpixel((w // 8, h // 2)), image.getpixel((w - w // 8, h // 2))


@pytest.mark.parametrize("compression", [None, "zlib", "lzw"])
def test_a_big_16_bit_scan_is_streamed_and_shrunk(tmp_path, compression):
    """6000x4000 16-bit RGB (144 MB of pixels): over what this module decodes whole."""
    path = halves_tiff(tmp_path / "sheet.tif", (6000, 4000), compression=compression)
    prepared = prepare_image(path, max_side=1500)
    assert (prepared.width, prepared.height) == (1500, 1000)
    assert (prepared.original_width, prepared.original_height) == (6000, 4000)
    left, right = _colours(prepared)
    assert left[0] > 230 and left[2] < 25  # red, 65535 -> 255 (not clipped to white)
    assert right[2] > 230 and right[0] < 25  # blue


def test_a_tiled_scan_is_streamed(tmp_path):
    path = halves_tiff(tmp_path / "tiled.tif", (5000, 5000), tile=(512, 512), compression="zlib")
    prepared = prepare_image(path, max_side=1000)
    assert (prepared.width, prepared.height) == (1000, 1000)
    left, right = _colours(prepared)
    assert left[0] > 230 and right[2] > 230


def test_a_105_megapixel_16_bit_scan_within_the_memory_goal(tmp_path):
    """Before: refused (over the 89 MP bomb limit / max_megapixels). Now decoded in a fresh
    process whose peak RSS stays far below the 630 MB the 16-bit pixels would take (and below
    the 315 MB even an 8-bit RGB copy would); the memory goal of a run is 150 MB."""
    path = halves_tiff(tmp_path / "big.tif", (10_500, 10_000), tile=(512, 512), compression="zlib")
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork+exec (from pytest's own peak)
    script = (
        "import json, sys\n"
        "from plantid_cli.images.prepare import prepare_image\n"
        "p = prepare_image(sys.argv[1], max_side=1500)\n"
        "status = open('/proc/self/status').read().split('VmHWM:')[1].split()[0]\n"
        "rss = int(status) / 1024\n"
        "print(json.dumps([p.width, p.height, p.original_width, p.original_height, rss]))\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                         text=True, cwd=REPO, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr
    width, height, full_w, full_h, rss_mb = json.loads(out.stdout)
    assert (width, height, full_w, full_h) == (1500, 1429, 10_500, 10_000)
    # the 150 MB goal is benchmarks item 16; this pins that the pixels are never held whole
    assert rss_mb < 315, rss_mb


def test_a_tiff_bomb_is_still_refused_before_decoding(tmp_path):
    path = bomb_tiff(tmp_path / "bomb.tif", (40_000, 30_000))  # 1.2 gigapixels, a few MB
    assert path.stat().st_size < 20_000_000
    with pytest.raises(ImageError) as caught:
        prepare_image(path)
    assert caught.value.code == "decompression_bomb"
    assert "40000x30000" in caught.value.message


def test_a_damaged_tiff_is_an_error_record_not_a_crash(tmp_path, sandbox, cli_env):
    path = halves_tiff(tmp_path / "cut.tif", (6000, 4000))
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size // 2)
    result = run_plantid(["identify", path, "-f", "ndjson"], cli_env)
    assert result.returncode == 1, result.stderr
    [record] = records(result.stdout)
    assert record["error"]["code"] == "truncated"
    assert "Traceback" not in result.stderr
    assert sandbox.stats()["plantid_identify"] == 0


# ----- camera RAW ----------------------------------------------------------------------------
def test_dng_with_a_preview_uses_the_preview(tmp_path):
    path = dng(tmp_path / "leaf.dng", (600, 400))
    prepared = prepare_image(path, max_side=500)
    assert (prepared.width, prepared.height) == (500, 333)
    r, g, b = _jpeg(prepared.jpeg).getpixel((250, 160))
    assert g > 130 and r < 80 and b < 80  # the preview's green, not a demosaic


def test_dng_without_a_preview_is_demosaiced(tmp_path):
    path = dng(tmp_path / "sensor.dng", (600, 400), preview=False)
    prepared = prepare_image(path, max_side=500)
    assert (prepared.width, prepared.height) == (500, 333)


def test_raw_folder_walk_and_a_fake_raw(tmp_path, sandbox, cli_env):
    dng(tmp_path / "shots" / "a.dng")
    if SAMPLES.is_dir():
        shutil.copy(SAMPLES / "aloe-vera.jpg", tmp_path / "shots" / "b.nef")  # a JPEG, misnamed
    else:
        (tmp_path / "shots" / "b.nef").write_bytes(b"not a raw file at all" * 10)
    result = run_plantid(["identify", tmp_path / "shots", "-f", "ndjson"], cli_env)
    found = {Path(r["path"]).name: r for r in records(result.stdout)}
    assert found["a.dng"]["status"] == "ok"
    assert found["b.nef"]["error"]["code"] == "not_image"
    assert result.returncode == 1
    assert sandbox.stats()["plantid_identify"] == 1


@pytest.mark.parametrize(
    "layout",
    [
        {"tile": (256, 256), "compression": "zlib"},
        {"rowsperstrip": 50, "compression": "zlib"},
        {"compression": "zlib"},
        {"rowsperstrip": 50},  # uncompressed: read from the file in bands of rows
        {"rowsperstrip": 64, "compression": "lzw", "planarconfig": "separate"},
    ],
)
def test_streamed_reduction_is_the_block_mean(tmp_path, layout):
    """Against a reference computed another way (reshape and mean over whole 7x7 blocks):
    strips and tiles that do not line up with the blocks are summed into the right pixels,
    whether the output rows are finished as the strips go by (interleaved samples) or at the
    end (separate sample planes, which come one plane after the other)."""
    from plantid_cli.images import scan

    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 65535, size=(2100, 3000, 3), dtype=np.uint16)
    path = tmp_path / "noise.tif"
    separate = layout.get("planarconfig") == "separate"  # tifffile wants planes first then
    tifffile.imwrite(path, pixels.transpose(2, 0, 1) if separate else pixels, photometric="rgb",
                     **layout)  # fmt: skip
    with tifffile.TiffFile(path) as tif:
        assert (int(tif.pages[0].planarconfig) == 2) == separate
        page = scan.largest_page(tif)
        reduced, factor = scan.reduce_page(tif, page, 428, "noise.tif")
    assert factor == 7 and reduced.shape == (300, 429, 3)
    whole = pixels[:, :2996].reshape(300, 7, 428, 7, 3).mean(axis=(1, 3)) * (255 / 65535)
    assert np.abs(reduced[:, :428].astype(float) - whole).max() <= 0.51
    last = pixels[:, 2996:].reshape(300, 7, 4, 3).mean(axis=(1, 2)) * (255 / 65535)
    assert np.abs(reduced[:, 428].astype(float) - last).max() <= 0.51  # the narrower last bin
