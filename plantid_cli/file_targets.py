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
  *stream*: written straight, as `>` would, never replaced (atomicity means nothing there);
* the finished file gets the permissions `>` would leave: the replaced file's own (a results
  file a user made private stays 0600, where a fresh 0644 used to replace it), or, for a new
  file, 0666 less the umask (never the temporary file's 0600).

The umask is read, never set: `os.umask(0)` to learn it opens a window in which every file
another thread creates (lock files, cache entries during a batch) is born world-writable.

One look per write: `look(path)` stats and resolves the path once and every step after uses
its answer, so a path that changes kind in between cannot be half treated as both.

One way to read a small file a user names (a config or keys file, an existing sidecar):
`read_bounded(path, limit)`, which never waits on a pipe and never reads an endless device
(`/dev/zero`) past its limit; the caller says what each refusal means to its user.

One way to replace a file: `replacing(path)` is the temporary file beside the final one,
written, flushed and fsynced, put in place, and removed if anything fails. Five writers (the
report, the archive, sidecars, `review apply -o`, the metrics file) each had their own copy
of those steps, differing in fsync (two of five) and in cleanup.

May import: the standard library only.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO


@dataclass(frozen=True)
class Target:
    """What a write to a named path replaces, learned in one look (see the module's rules)."""

    #: the file renamed over (a symlink's target), or the stream written into
    final: Path
    #: a device, a pipe or a socket: written straight
    stream: bool
    #: permission bits the finished file gets (unused for a stream); None: the temporary
    #: file's own 0600, never chmod-ed (the keys file: private from its creation)
    mode: int | None

    @property
    def folder(self) -> str | None:
        """Where the temporary file goes: beside the final file (one filesystem, so the
        rename is atomic), or the system's temporary folder for a stream (None)."""
        return None if self.stream else str(self.final.parent)


def look(path: str | os.PathLike[str], *, follow_symlinks: bool = True) -> Target:
    """One stat and one resolve of `path`, the answer every later step of the write uses.

    `follow_symlinks=False` replaces the name itself, whatever it is now: a symlink is
    renamed over (its target never written), a pipe or device too (never written into). For
    a file the tool owns beside a user's (a sidecar): one planted as a link after the tool
    looked must not carry the write elsewhere."""
    named = os.path.expanduser(path)
    try:
        mode = (os.stat if follow_symlinks else os.lstat)(named).st_mode
    except (OSError, ValueError):
        mode = None  # absent (to be created) or unreadable: the writer's own error says so
    if follow_symlinks and mode is not None and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return Target(Path(named), stream=True, mode=0)
    # the permission bits only: a set-id or sticky bit is never handed to new contents
    kept = mode & 0o777 if mode is not None and stat.S_ISREG(mode) else None
    final = os.path.realpath(named) if follow_symlinks else os.path.abspath(named)
    if kept is not None and holds_a_photo(final):
        raise IsAPhoto(final)
    return Target(Path(final), stream=False, mode=new_file_mode(kept))


#: How image files begin (JPEG, PNG, GIF, TIFF and the RAW formats built on it, BigTIFF,
#: Olympus and Panasonic RAW, Fujifilm RAF, JPEG 2000), and the ISO media brands of HEIC,
#: AVIF and Canon CR3 (`ftyp` at offset 4).
_IMAGE_STARTS = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"II*\x00",
                 b"MM\x00*", b"II+\x00", b"MM\x00+", b"IIRO", b"IIRS", b"IIU\x00",
                 b"FUJIFILMCCD-RAW", b"\x00\x00\x00\x0cjP  ")  # fmt: skip
_IMAGE_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"mif1", b"msf1", b"avif",
                 b"avis", b"crx ")  # fmt: skip


def holds_a_photo(path: str | os.PathLike[str]) -> bool:
    """Whether the regular file at `path` begins as an image file does."""
    try:
        with open(path, "rb") as file:
            start = file.read(16)
    except OSError:
        return False
    if start.startswith(_IMAGE_STARTS):
        return True
    if start[:4] == b"RIFF" and start[8:12] == b"WEBP":
        return True
    return start[4:8] == b"ftyp" and start[8:12] in _IMAGE_BRANDS


class IsAPhoto(OSError):
    """An output was pointed at a file that holds a photo (`-o wheat.jpg`, `--report` on an
    input): it is never replaced. Every rename-into-place writer looks first (`look`), so a
    command refuses before it starts; the photo was replaced silently, even one the user had
    made read-only (a rename ignores the file's own mode: red team, session 19)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(errno.EEXIST, "it holds a photo, and an output never replaces one")
        self.filename = os.fspath(path)


def new_file_mode(existing: int | None = None) -> int:
    """The bits `>` leaves on a file: an existing file's own, or 0666 less the umask."""
    return existing if existing is not None else 0o666 & ~current_umask()


def current_umask() -> int:
    """The process's umask, read without setting it (Linux shows it in /proc since 4.7)."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o077)  # no /proc: the old way, its window as narrow (and private) as can be
    os.umask(mask)
    return mask


def put_in_place(tmp: str | os.PathLike[str], target: Target) -> None:
    """The finished temporary file `tmp` at `target`: given the target's permissions and
    renamed over its final file in one step, or, for a stream, copied into it and removed."""
    if target.stream:
        with open(tmp, "rb") as source:
            write_into(target.final, source)
        os.unlink(tmp)
        return
    if target.mode is not None:
        os.chmod(tmp, target.mode)
    os.replace(tmp, target.final)


class NotAFile(OSError):
    """`read_bounded` refused the path: `kind` is "pipe" (a FIFO or a socket), "folder",
    "special" (a device, when only regular files are wanted), "symlink" (when links are not
    followed) or "too_large" (over the limit)."""

    def __init__(self, kind: str, path: str | os.PathLike[str]) -> None:
        super().__init__(f"{os.fspath(path)}: {kind}")
        self.kind = kind


def read_bounded(
    path: str | os.PathLike[str],
    limit: int,
    *,
    follow_symlinks: bool = True,
    regular_only: bool = False,
) -> bytes:
    """The bytes of `path`, at most `limit` of them, or NotAFile; other OSErrors (absent,
    unreadable) as the system raised them. O_NONBLOCK: opening a FIFO must not wait."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
    if not follow_symlinks:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if not follow_symlinks and exc.errno == errno.ELOOP:  # O_NOFOLLOW met a link
            raise NotAFile("symlink", path) from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            raise NotAFile("pipe", path)
        if stat.S_ISDIR(mode):
            raise NotAFile("folder", path)
        if regular_only and not stat.S_ISREG(mode):
            raise NotAFile("special", path)
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:
        raise NotAFile("too_large", path)
    return b"".join(chunks)


def write_into(path: str | os.PathLike[str], data: bytes | BinaryIO) -> None:
    """`data` written straight into the stream `path` (a pipe or device), as `>` would."""
    with open(path, "wb") as stream:
        if isinstance(data, bytes):
            stream.write(data)
        else:
            shutil.copyfileobj(data, stream)


@contextlib.contextmanager
def replacing(
    path: str | os.PathLike[str] | Target, binary: bool = False, *, follow_symlinks: bool = True
) -> Iterator[IO[Any]]:
    """A file to write `path`'s new contents into (text in UTF-8, or bytes): on a clean exit
    flushed, fsynced and put in place (`put_in_place`: readers see the old file or the new
    one, never half of it); on any error removed, the old file left as it was, the error
    raised. Opening the temporary file can raise OSError (a folder that cannot be written).
    `path` may be a `Target` already looked at (the keys file: checked, mode None);
    `follow_symlinks`: as `look`'s."""
    # lazy: only a writer of files needs it (this module is imported by every -o)
    import tempfile

    where = path if isinstance(path, Target) else look(path, follow_symlinks=follow_symlinks)
    named = where.final if isinstance(path, Target) else os.path.expanduser(path)
    handle = tempfile.NamedTemporaryFile(  # created 0600, O_EXCL: never a moment wider
        "wb" if binary else "w",
        encoding=None if binary else "utf-8",
        dir=where.folder,
        prefix=f".{os.path.basename(named)}.",
        suffix=".tmp",
        delete=False,
    )
    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        put_in_place(handle.name, where)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(handle.name)
        raise
