"""Bad input from the CLI: every bad file is its own error record, never sent; the batch goes on.

Each test runs the real `plantid identify` in a subprocess against the test's sandbox and checks
the records (NDJSON on stdout), the exit code, stderr (no traceback, no Pillow warning) and what
the sandbox received (nothing but valid uploads).
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import zlib
from pathlib import Path

from conftest import run_plantid
from photos import green_photo

BAD_CODES = {"not_found", "unreadable", "empty", "not_image", "truncated", "too_large"}


def records_of(result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def by_name(records: list[dict]) -> dict[str, dict]:
    return {record["path"].rsplit("/", 1)[-1]: record for record in records}


def assert_clean_stderr(result) -> None:
    assert "Traceback" not in result.stderr
    assert "Warning" not in result.stderr, result.stderr
    assert "internal error" not in result.stderr


def png_bomb(path: Path, width: int = 20000, height: int = 20000) -> Path:
    """A real, valid 1-bit PNG of width x height: 48 kB on disk, 400 megapixels decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
    return path


def sent_images(sandbox) -> list:
    """Sizes of every image the sandbox received (a bad file would show as a 400)."""
    stats = sandbox.stats()
    assert "400" not in stats["statuses"], stats["statuses"]
    return [size for call in stats["calls"] for size in call["image_sizes"]]


def test_done_folder_mixed_bad_files(tmp_path, sandbox, cli_env):
    """The issue's acceptance folder: seconds, exit 1, 2 ok + 4 errors, nothing bad uploaded."""
    folder = tmp_path / "photos"
    good = green_photo(folder / "good.jpg")
    shutil.copyfile(good, os.fsencode(folder) + b"/copy-\xe9t\xe9.jpg")  # not valid UTF-8
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("<html><body>Not Found</body></html>\n")
    (folder / "truncated.jpg").write_bytes(good.read_bytes()[:3000])
    png_bomb(folder / "bomb.png")
    os.symlink(".", folder / "loop")  # a folder symlink loop: walked once, never again

    result = run_plantid(["identify", folder], cli_env)  # how fast: benchmarks/run.py item 10

    assert result.returncode == 1, result.stderr
    assert_clean_stderr(result)
    records = records_of(result)
    assert len(records) == 6
    assert sorted(r["index"] for r in records) == list(range(6))
    named = by_name(records)
    assert named["good.jpg"]["status"] == "ok"
    assert named["copy-\\xe9t\\xe9.jpg"]["status"] == "ok"  # path escaped, still identified
    assert named["copy-\\xe9t\\xe9.jpg"]["sha256"] == named["good.jpg"]["sha256"]
    errors = {name: r["error"] for name, r in named.items() if r["status"] == "error"}
    assert {name: e["code"] for name, e in errors.items()} == {
        "empty.jpg": "empty",
        "text.jpg": "not_image",
        "truncated.jpg": "truncated",
        "bomb.png": "too_large",  # 400 MP is over the 89 MP cap: refused before decoding
    }
    assert all(e["message"] for e in errors.values())
    assert "bomb.png" in errors["bomb.png"]["message"]
    # One upload for the two copies of the good photo, and only valid ones.
    assert sandbox.stats()["plantid_identify"] == 1
    assert sent_images(sandbox) == [[800, 600]]
    assert "6 images, 2 ok, 4 error" in result.stderr


def test_decompression_bomb_is_an_error_not_a_warning(tmp_path, sandbox, cli_env):
    """Our cap can never be raised over Pillow's bomb limit (a configuration error), so every
    bomb is refused by it before decoding: an error record, no Pillow warning, nothing sent."""
    folder = tmp_path / "p"
    folder.mkdir()
    png_bomb(folder / "bomb400.png")  # over 2x Pillow's limit: DecompressionBombError
    png_bomb(folder / "bomb100.png", 10000, 10000)  # over the limit only: Pillow just warns
    raised = run_plantid(["identify", folder], {**cli_env, "PLANTID_MAX_MEGAPIXELS": "1000"})
    assert raised.returncode == 3, raised.stderr
    assert "max_megapixels must be at most 89.4785" in raised.stderr
    assert raised.stdout == ""
    result = run_plantid(["identify", folder], cli_env)
    assert result.returncode == 1
    assert_clean_stderr(result)
    codes = {name: r["error"]["code"] for name, r in by_name(records_of(result)).items()}
    assert codes == {"bomb400.png": "too_large", "bomb100.png": "too_large"}
    assert sandbox.stats()["plantid_identify"] == 0


def test_size_caps_are_configurable_and_refuse_before_sending(tmp_path, sandbox, cli_env):
    photo = green_photo(tmp_path / "big.jpg", (1200, 900))
    by_pixels = run_plantid(["identify", photo], {**cli_env, "PLANTID_MAX_MEGAPIXELS": "1"})
    assert by_pixels.returncode == 1
    [record] = records_of(by_pixels)
    assert record["error"]["code"] == "too_large"
    assert "1200x900" in record["error"]["message"]
    by_bytes = run_plantid(["identify", photo], {**cli_env, "PLANTID_MAX_FILE_MB": "0.01"})
    assert by_bytes.returncode == 1
    [record] = records_of(by_bytes)
    assert record["error"]["code"] == "too_large"
    assert "bytes" in record["error"]["message"]
    assert sandbox.stats()["plantid_identify"] == 0


def test_links_fifos_and_unreadable_files(tmp_path, sandbox, cli_env):
    folder = tmp_path / "p"
    green_photo(folder / "a-good.jpg")
    os.symlink("loop-b.jpg", folder / "loop-a.jpg")  # a file symlink loop (ELOOP)
    os.symlink("loop-a.jpg", folder / "loop-b.jpg")
    os.symlink("gone.jpg", folder / "dangling.jpg")
    os.mkfifo(folder / "fifo.jpg")  # must not hang the run
    locked = green_photo(folder / "locked.jpg", seed=3)
    locked.chmod(0)
    result = run_plantid(["identify", folder, tmp_path / "missing.jpg"], cli_env, timeout=30)
    assert result.returncode == 1
    assert_clean_stderr(result)
    named = by_name(records_of(result))
    assert named["a-good.jpg"]["status"] == "ok"
    assert named["loop-a.jpg"]["error"]["code"] == "unreadable"
    assert "symbolic links" in named["loop-a.jpg"]["error"]["message"]
    assert named["loop-b.jpg"]["error"]["code"] == "unreadable"
    assert named["dangling.jpg"]["error"]["code"] == "not_found"
    assert "dangling" in named["dangling.jpg"]["error"]["message"]
    assert named["fifo.jpg"]["error"]["code"] == "unreadable"
    assert named["missing.jpg"]["error"]["code"] == "not_found"
    if os.geteuid() != 0:  # root reads anything
        assert named["locked.jpg"]["error"]["code"] == "unreadable"
    assert len(named) == 7


def test_damaged_exif_still_answered(samples, sandbox, cli_env):
    result = run_plantid(["identify", samples / "corrupted.jpg"], cli_env)
    assert result.returncode == 0, result.stderr
    assert_clean_stderr(result)
    [record] = records_of(result)
    assert record["status"] in ("ok", "not_plant")
    assert record["error"] is None
    assert sandbox.stats()["plantid_identify"] == 1


def test_folder_without_images_is_a_clear_message_and_exit_1(tmp_path, sandbox, cli_env):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "readme.txt").write_text("no photos here")
    result = run_plantid(["identify", folder], cli_env)
    assert result.returncode == 1
    assert result.stdout == ""
    assert f"no images found in {folder}" in result.stderr
    assert_clean_stderr(result)


def test_same_photo_listed_twice_is_paid_once(tmp_path, sandbox, cli_env):
    photo = green_photo(tmp_path / "leaf.jpg")
    result = run_plantid(["identify", photo, photo, tmp_path], cli_env)
    assert result.returncode == 0, result.stderr
    records = records_of(result)
    assert [r["status"] for r in records] == ["ok"] * 3
    assert sorted(r["cached"] for r in records) == [False, True, True]
    assert sandbox.stats()["plantid_identify"] == 1


def test_control_characters_in_names_are_escaped(tmp_path, sandbox, cli_env):
    folder = tmp_path / "p"
    green_photo(folder / "new\nline\x1b[31m.jpg")
    result = run_plantid(["identify", folder, "--format", "json"], cli_env)
    assert result.returncode == 0, result.stderr
    [record] = json.loads(result.stdout)
    assert record["path"].endswith("new\\x0aline\\x1b[31m.jpg")
    assert "\x1b" not in result.stdout + result.stderr


def test_good_batch_exits_0_and_bad_file_does_not_stop_it(tmp_path, sandbox, cli_env):
    folder = tmp_path / "p"
    for seed in range(3):
        green_photo(folder / f"g{seed}.jpg", (320, 240), seed=seed)
    assert run_plantid(["identify", folder], cli_env).returncode == 0
    (folder / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    result = run_plantid(["identify", folder], cli_env)
    assert result.returncode == 1
    statuses = {name: r["status"] for name, r in by_name(records_of(result)).items()}
    assert statuses == {"bad.jpg": "error", "g0.jpg": "ok", "g1.jpg": "ok", "g2.jpg": "ok"}
    assert sandbox.stats()["plantid_identify"] == 3  # the second run's good photos were cached


def test_junk_under_every_image_extension_is_not_image(tmp_path, sandbox, cli_env):
    names = ["x.jpg", "x.JPEG", "x.png", "x.webp", "x.heic", "x.HEIF"]
    for name in names:
        (tmp_path / name).write_bytes(b"just some junk, not a picture\n" * 10)
    result = run_plantid(["identify", tmp_path], cli_env)
    assert result.returncode == 1
    assert_clean_stderr(result)
    codes = {name: r["error"]["code"] for name, r in by_name(records_of(result)).items()}
    assert codes == dict.fromkeys(names, "not_image")
    assert sandbox.stats()["plantid_identify"] == 0
