"""Issue 17, flat memory: a folder's listing holds names, not DirEntry objects (inputs/walk.py).

A rerun over a 100,000-photo folder grew by 23 MB over one of 10,000 (benchmarks item 13): the
walk held the folder as a sorted list of `os.DirEntry` objects (~230 bytes each)."""

from __future__ import annotations

import os
import tracemalloc


def test_a_folders_listing_holds_names_not_dir_entries(tmp_path):
    from plantid_cli.inputs import walk

    folder = tmp_path / "many"
    folder.mkdir()
    count = 20_000
    for i in range(count):
        (folder / f"t{i:06d}.jpg").touch()
    for i in range(200):  # other files are not held at all
        (folder / f"notes{i}.txt").touch()
    tracemalloc.start()
    try:
        found = sum(1 for _ in walk._walk(str(folder), os.stat(folder), walk.IMAGE_EXTENSIONS))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert found == count
    # names: ~70 bytes each; the DirEntry objects were ~230 (a 100,000-photo folder: 23 MB)
    assert peak / count < 120, peak
