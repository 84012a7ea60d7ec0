"""images/encode.py: the upload's JPEG encoded into a reused in-memory file (so Pillow's encoder
runs with the interpreter lock released: benchmarks item 15 measures that), and the BytesIO
path wherever that file cannot be had. Real photos, real Pillow; only the kernel's answer to
memfd_create is simulated for the refusals."""

from __future__ import annotations

import errno
import io
import os
import queue
from pathlib import Path

import pytest
from PIL import Image

from plantid_cli.images import encode
from plantid_cli.images.prepare import prepare_image

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples"
PHOTOS = ["camera-with-gps.jpg", "exif-orientation-6.jpg", "iphone-13.heic", "wheat.jpg"]

pytestmark = pytest.mark.skipif(
    not hasattr(os, "memfd_create"), reason="memfd_create is Linux's (elsewhere: BytesIO only)"
)


@pytest.fixture(autouse=True)
def fresh_pool(monkeypatch):
    """Each test starts with no scratch file and memfd_create believed to work."""
    monkeypatch.setattr(encode, "_idle", queue.SimpleQueue())
    monkeypatch.setattr(encode, "_memfd_available", True)


def _sample(name: str) -> Path:
    path = SAMPLES / name
    if not path.is_file():
        pytest.skip(f"sample photo {path} not available (shared/samples must sit beside the repo)")
    return path


def _refuse_memfd(monkeypatch, code: int) -> list[int]:
    calls: list[int] = []

    def refused(name: str, flags: int = 0) -> int:
        calls.append(flags)
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "memfd_create", refused)
    return calls


def _bytesio_jpeg(path: Path) -> bytes:
    """The same photo through Pillow's BytesIO path (encode.py's fallback, forced)."""
    saved = encode._memfd_available
    encode._memfd_available = False
    try:
        return prepare_image(path).jpeg
    finally:
        encode._memfd_available = saved


@pytest.mark.parametrize("name", PHOTOS)
def test_the_upload_is_the_same_jpeg_through_the_scratch_file(name):
    path = _sample(name)
    through_memfd = prepare_image(path)
    assert encode._idle.qsize() == 1  # the scratch file was used and given back
    assert through_memfd.jpeg == _bytesio_jpeg(path)
    with Image.open(io.BytesIO(through_memfd.jpeg)) as decoded:
        assert decoded.format == "JPEG"
        assert decoded.size == (through_memfd.width, through_memfd.height)


def test_one_scratch_file_is_reused_and_emptied_after_each_photo():
    path = _sample("camera-with-gps.jpg")
    prepare_image(path)
    open_before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        prepare_image(path)
    assert len(os.listdir("/proc/self/fd")) == open_before
    assert encode._idle.qsize() == 1
    scratch = encode._idle.get_nowait()
    assert os.fstat(scratch.fileno()).st_size == 0  # holds no memory between photos
    assert os.get_inheritable(scratch.fileno()) is False  # a child process never gets it
    scratch.close()


def test_a_system_that_forbids_memfd_encodes_as_before_and_stops_asking(monkeypatch):
    path = _sample("wheat.jpg")
    expected = _bytesio_jpeg(path)
    calls = _refuse_memfd(monkeypatch, errno.EPERM)  # a seccomp filter
    assert [prepare_image(path).jpeg for _ in range(3)] == [expected] * 3
    assert len(calls) == 1
    assert calls[0] & os.MFD_CLOEXEC


def test_a_process_out_of_descriptors_encodes_as_before_and_asks_again(monkeypatch):
    path = _sample("wheat.jpg")
    expected = _bytesio_jpeg(path)
    calls = _refuse_memfd(monkeypatch, errno.EMFILE)  # passes once descriptors are freed
    assert [prepare_image(path).jpeg for _ in range(3)] == [expected] * 3
    assert len(calls) == 3
    assert encode._idle.qsize() == 0


def test_a_scratch_file_that_fails_is_dropped_and_the_photo_still_prepared(tmp_path):
    path = _sample("wheat.jpg")
    expected = _bytesio_jpeg(path)
    broken = io.FileIO(os.open(tmp_path / "read-only", os.O_RDONLY | os.O_CREAT), "r")
    encode._idle.put(broken)  # a write to it fails (EBADF)
    assert prepare_image(path).jpeg == expected
    assert broken.closed
    assert encode._idle.qsize() == 0
    assert prepare_image(path).jpeg == expected  # and the next photo gets a working one
    assert encode._idle.qsize() == 1
