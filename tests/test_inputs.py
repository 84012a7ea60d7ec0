"""inputs.py on real folder trees in tmp_path (symlinks, odd names, stdin lists)."""

from __future__ import annotations

import io
import os
import types
from pathlib import Path

import pytest

from plantid_cli.inputs import walk as inputs
from plantid_cli.inputs.walk import IMAGE_EXTENSIONS, ImageJob, display_path, iter_jobs


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def rels(jobs: list[ImageJob]) -> list[str]:
    return [job.relative for job in jobs]


def test_extensions_and_dataclass() -> None:
    photos = {".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif"}
    scans = {".tif", ".tiff", ".dng", ".cr2", ".cr3", ".nef", ".arw", ".orf", ".rw2"}
    assert photos | scans == IMAGE_EXTENSIONS
    job = ImageJob(0, Path("a.jpg"), "a.jpg")
    assert job.error is None
    assert job.relative == ""
    with pytest.raises(AttributeError):
        job.index = 3  # type: ignore[misc]


def test_folder_walk_sorted_mixed_case(tmp_path: Path) -> None:
    touch(tmp_path / "README.txt")
    touch(tmp_path / "b.JPG")
    touch(tmp_path / "sub" / "z.Png")
    touch(tmp_path / "sub" / "a.jpeg")
    touch(tmp_path / "sub" / "notes.md")
    touch(tmp_path / "sub" / "deeper" / "c.HEIC")
    touch(tmp_path / "a.webp")
    touch(tmp_path / "c.heif")
    jobs = list(iter_jobs([str(tmp_path)]))
    assert rels(jobs) == [
        "a.webp",
        "b.JPG",
        "c.heif",
        "sub/a.jpeg",
        "sub/deeper/c.HEIC",
        "sub/z.Png",
    ]
    assert [job.index for job in jobs] == list(range(6))
    assert all(job.error is None and job.path.is_file() for job in jobs)
    assert jobs[0].path == tmp_path / "a.webp"
    assert jobs[0].display == str(tmp_path / "a.webp")


def test_indices_continue_across_arguments(tmp_path: Path) -> None:
    touch(tmp_path / "one" / "1.jpg")
    touch(tmp_path / "one" / "2.jpg")
    single = touch(tmp_path / "3.png")
    jobs = list(iter_jobs([str(tmp_path / "one"), str(single), str(tmp_path / "gone.jpg")]))
    assert [job.index for job in jobs] == [0, 1, 2, 3]
    assert rels(jobs) == ["1.jpg", "2.jpg", "3.png", "gone.jpg"]
    assert jobs[3].error is not None
    assert jobs[3].error.code == "not_found"
    assert jobs[3].error.message == f"no such file or folder: {tmp_path / 'gone.jpg'}"


def test_explicit_file_with_any_extension_is_a_job(tmp_path: Path) -> None:
    text = touch(tmp_path / "notes.txt")
    (job,) = iter_jobs([str(text)])
    assert job.error is None
    assert job.path == text


def test_symlink_loop_terminates(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    touch(root / "a.jpg")
    touch(root / "inner" / "b.jpg")
    os.symlink(root, root / "loop")
    os.symlink(root, root / "inner" / "back")
    os.symlink(root / "inner", root / "zz-inner-again")
    jobs = list(iter_jobs([str(root)]))
    assert rels(jobs) == ["a.jpg", "inner/b.jpg"]


def test_symlinked_folder_and_file_are_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    touch(elsewhere / "far.jpg")
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(elsewhere, root / "linked")
    os.symlink(elsewhere / "far.jpg", root / "shortcut.jpg")
    jobs = list(iter_jobs([str(root)]))
    assert rels(jobs) == ["linked/far.jpg", "shortcut.jpg"]
    assert all(job.error is None for job in jobs)


def test_dangling_symlink(tmp_path: Path) -> None:
    touch(tmp_path / "ok.jpg")
    os.symlink(tmp_path / "missing.jpg", tmp_path / "broken.jpg")
    os.symlink(tmp_path / "missing.txt", tmp_path / "broken.txt")  # not an image: skipped
    jobs = list(iter_jobs([str(tmp_path)]))
    assert rels(jobs) == ["broken.jpg", "ok.jpg"]
    error = jobs[0].error
    assert error is not None
    assert error.code == "not_found"
    assert error.message == f"{tmp_path / 'broken.jpg'}: dangling symbolic link"
    # given explicitly too
    (job,) = iter_jobs([str(tmp_path / "broken.jpg")])
    assert job.error is not None
    assert job.error.code == "not_found"


def test_stdin_list(tmp_path: Path) -> None:
    first = touch(tmp_path / "x.jpg")
    touch(tmp_path / "dir" / "y.png")
    spaced = touch(tmp_path / " spaced .jpg")
    stdin = io.StringIO(f"{first}\n\n   \n{tmp_path / 'dir'}\r\n{spaced}\n{tmp_path / 'nope.jpg'}")
    jobs = list(iter_jobs(["-"], stdin=stdin))
    assert [job.path for job in jobs] == [
        first,
        tmp_path / "dir" / "y.png",
        spaced,
        tmp_path / "nope.jpg",
    ]
    assert [job.error.code if job.error else None for job in jobs] == [None] * 3 + ["not_found"]


def test_missing_path(tmp_path: Path) -> None:
    (job,) = iter_jobs([str(tmp_path / "nowhere")])
    assert job.error is not None
    assert job.error.code == "not_found"
    assert "nowhere" in job.display


def test_non_utf8_name(tmp_path: Path) -> None:
    folder = os.fsencode(tmp_path)
    name = b"caf\xe9.jpg"
    with open(os.path.join(folder, name), "wb") as handle:
        handle.write(b"data")
    jobs = list(iter_jobs([str(tmp_path)]))
    (job,) = jobs
    assert "\\xe9" in job.display
    assert job.display.endswith("caf\\xe9.jpg")
    assert job.display.encode("utf-8")  # printable, encodable
    with open(job.path, "rb") as handle:
        assert handle.read() == b"data"
    assert os.fsencode(job.relative) == name


def test_display_path_escapes() -> None:
    assert display_path(Path("/tmp/plain é.jpg")) == "/tmp/plain é.jpg"
    assert display_path(os.fsdecode(b"/tmp/a\xff.jpg")) == "/tmp/a\\xff.jpg"
    assert display_path("/tmp/evil\n\x1b[31m.jpg") == "/tmp/evil\\x0a\\x1b[31m.jpg"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root lists anything")
def test_unreadable_folder_is_one_error_job(tmp_path: Path) -> None:
    touch(tmp_path / "a.jpg")
    locked = tmp_path / "locked"
    touch(locked / "hidden.jpg")
    locked.chmod(0)
    try:
        jobs = list(iter_jobs([str(tmp_path)]))
    finally:
        locked.chmod(0o700)
    assert rels(jobs) == ["a.jpg", "locked"]
    assert jobs[1].error is not None
    assert jobs[1].error.code == "unreadable"
    assert jobs[1].path == locked


def test_empty_folder_callback(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    touch(empty / "README.txt")
    full = tmp_path / "full"
    touch(full / "a.jpg")
    seen: list[str] = []
    jobs = list(iter_jobs([str(empty), str(full)], on_empty_folder=seen.append))
    assert seen == [str(empty)]
    assert rels(jobs) == ["a.jpg"]
    assert jobs[0].index == 0


def test_lazy_walk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("a", "b", "c", "d"):
        touch(tmp_path / name / f"{name}.jpg")
    calls: list[str] = []
    real_scandir = os.scandir

    def counting_scandir(path):  # type: ignore[no-untyped-def]
        calls.append(os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(inputs.os, "scandir", counting_scandir)
    jobs = iter_jobs([str(tmp_path)])
    assert isinstance(jobs, types.GeneratorType)
    assert calls == []  # nothing happens before the first next()
    first = next(jobs)
    assert first.relative == "a/a.jpg"
    assert len(calls) == 2  # the root and "a" only
    assert rels(list(jobs)) == ["b/b.jpg", "c/c.jpg", "d/d.jpg"]
    assert len(calls) == 5
