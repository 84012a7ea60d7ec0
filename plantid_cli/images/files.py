"""The photo as a file: opening it safely and hashing its bytes.

Why apart from prepare.py: a rerun learns a photo's hash (or reads it from the index) without
decoding it, so hashing must not pay for the image modules. Stdlib only; imports errors and
records (for the path shown in messages).
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import time
from pathlib import Path

from plantid_cli.errors import ImageError
from plantid_cli.records import display_path

_CHUNK = 1 << 20


def open_file(path: Path | str) -> tuple[io.BufferedReader, int]:
    """Open for reading; return (file, size). Maps OS errors to ImageError."""
    display = display_path(path)
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        handle = os.fdopen(os.open(path, flags), "rb")  # O_NONBLOCK: a FIFO must not hang us
    except FileNotFoundError:
        raise ImageError("not_found", f"no such file: {display}") from None
    except OSError as exc:
        raise ImageError("unreadable", f"{display}: {exc.strerror or exc}") from None
    st = os.fstat(handle.fileno())
    if not stat.S_ISREG(st.st_mode):
        handle.close()
        raise ImageError("unreadable", f"{display}: not a regular file")
    if st.st_size == 0:
        handle.close()
        raise ImageError("empty", f"{display}: empty file")
    return handle, st.st_size


def file_sha256(path: Path | str) -> str:
    """SHA-256 hex digest of the file, read in 1 MiB chunks."""
    return hash_file(path)[0]


def hash_file(path: Path | str) -> tuple[str, os.stat_result, os.stat_result, int]:
    """(sha256, the open file's stat before the read, after it, wall-clock ns the read began):
    what the hash index needs to know the hash belongs to one unchanged version of the file."""
    handle, _ = open_file(path)
    digest, buffer = hashlib.sha256(), bytearray(_CHUNK)
    view, total = memoryview(buffer), 0
    try:
        with handle:
            started = time.time_ns()
            before = os.fstat(handle.fileno())
            while count := handle.readinto(view):
                digest.update(view[:count])
                total += count
            after = os.fstat(handle.fileno())
    except OSError as exc:
        raise ImageError("unreadable", f"{display_path(path)}: {exc.strerror or exc}") from None
    if total == 0:  # st_size said otherwise (file truncated meanwhile)
        raise ImageError("empty", f"{display_path(path)}: empty file")
    return digest.hexdigest(), before, after, started
