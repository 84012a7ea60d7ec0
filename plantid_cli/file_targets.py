"""Where a file the user names is written: the one rule of every writer that renames a
finished temporary file into place (-o of every command, the report, the archive, sidecars,
the keys file, the metrics file).

Why: renaming over a path replaces whatever the path *is*. Run as root (a container, a cron
job), `plantid identify photo -o /dev/null` replaced the device node with a regular file,
`-o /dev/stdout` replaced the symlink, and `-o >(jq .)` (a pipe) left the reader waiting
forever; a keys file or an output that is a symlink (dotfiles, a shared folder) became a plain
file and the link was lost. So:

* a symlink is followed: its target is what gets replaced (the temporary file goes beside the
  target, on its filesystem, so the rename stays one step);
* a path that exists and is not a regular file or a folder (a device, a pipe, a socket) is a
  *stream*: written straight, as `>` would, never replaced (atomicity means nothing there).

May import: the standard library only.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import BinaryIO


def is_stream(path: str | os.PathLike[str]) -> bool:
    """Whether `path` (symlinks followed) is a device, a pipe or a socket: written straight."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False  # absent (to be created) or unreadable: the writer's own error says so
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def final_path(path: str | os.PathLike[str]) -> Path:
    """The file a write to `path` ends up replacing: a symlink's target, never the link."""
    return Path(os.path.realpath(os.path.expanduser(path)))


def temp_folder(path: str | os.PathLike[str]) -> str | None:
    """Where the temporary file for `path` goes: beside its final file (one filesystem, so
    the rename is atomic), or the system's temporary folder for a stream (None)."""
    if is_stream(path):
        return None
    return str(final_path(path).parent)


def put_in_place(tmp: str | os.PathLike[str], path: str | os.PathLike[str]) -> None:
    """The finished temporary file `tmp` at `path`: renamed over its final file in one step,
    or, for a stream, copied into it and removed."""
    if is_stream(path):
        with open(tmp, "rb") as source:
            write_into(path, source)
        os.unlink(tmp)
        return
    os.replace(tmp, final_path(path))


def write_into(path: str | os.PathLike[str], data: bytes | BinaryIO) -> None:
    """`data` written straight into the stream `path` (a pipe or device), as `>` would."""
    with open(path, "wb") as stream:
        if isinstance(data, bytes):
            stream.write(data)
        else:
            shutil.copyfileobj(data, stream)
