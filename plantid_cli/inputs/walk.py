"""Turn command-line arguments into a lazy, ordered stream of image jobs.

Stdlib only (it is imported on every start-up). Rules:

* An argument is a file, a folder or ``-`` (read one path per line from stdin: only the line
  ending is stripped, whitespace-only lines are skipped, each line is itself a file or folder).
  With ``null=True`` (``-0``) the paths on stdin end with a NUL byte instead (``find -print0``):
  each is taken exactly as it is, newlines and spaces included; empty ones are skipped.
* A file given explicitly is always a job, whatever its extension: the decoder later rejects it
  (``not_image``) instead of it being skipped silently.
* A folder is walked recursively with ``os.scandir`` and an explicit stack: one sorted listing
  per level of the current branch is held, never the whole tree. Entries are visited in name
  order, depth first (``a/1.jpg`` before ``b.jpg`` before ``c/2.jpg``). Symlinked folders are
  followed, but a folder whose ``(st_dev, st_ino)`` was already seen for this argument is not
  entered again, so symlink loops and bind-mount loops end. Files are picked by extension
  (``IMAGE_EXTENSIONS``: photos, TIFF scans and camera RAW, any case; ``extensions`` adds
  more, e.g. ``identify --ext .jp2``); other files are skipped silently.
* Problems become jobs carrying an ``ImageError`` (the engine writes them as failed records):
  a missing argument is ``not_found`` ("no such file or folder: PATH"); a dangling symlink with an
  image extension found while walking is ``not_found`` ("PATH: dangling symbolic link"); a
  folder that cannot be listed (the argument itself or any subfolder) is one ``unreadable`` job
  whose path is that folder ("PATH: cannot list folder (REASON)").
* A line holding a NUL byte (no file name can) is one ``bad_path`` job; the next lines run.
* ``index`` counts every job (errors included) across all arguments, from 0.
* ``relative`` is the path below the argument it came from (``sub/x.jpg``), or the bare name for
  a file given directly; it keeps surrogate-escaped bytes (use ``os.fsencode`` to hash it).
* A folder argument that yields no job at all is reported through the optional
  ``on_empty_folder(display)`` callback once its walk is finished (the CLI prints
  "no images found in FOLDER"); nothing is yielded for it.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from plantid_cli.constants import PHOTO_EXTENSIONS, RAW_EXTENSIONS, TIFF_EXTENSIONS
from plantid_cli.errors import ImageError, UsageError
from plantid_cli.records import display_path

IMAGE_EXTENSIONS: frozenset[str] = frozenset(PHOTO_EXTENSIONS + TIFF_EXTENSIONS + RAW_EXTENSIONS)


@dataclass(frozen=True, slots=True)
class ImageJob:
    index: int  # 0-based input order
    path: Path  # filesystem path (may hold surrogate-escaped bytes)
    display: str  # printable form of path, used in records and messages
    error: ImageError | None = None  # set when the job is already known to fail
    relative: str = ""  # path relative to the argument root (file arguments: the name)
    catalog_number: str | None = None  # --catalog-number ("" none found; inputs/identity.py)


def is_image_name(name: str, extensions: frozenset[str] = IMAGE_EXTENSIONS) -> bool:
    return os.path.splitext(name)[1].lower() in extensions


def normalise_extensions(extra: Iterable[str]) -> frozenset[str]:
    """`--ext` values (``jp2``, ``.JP2``, ``jp2,j2k``) as lower-case ``.ext`` names, added to
    IMAGE_EXTENSIONS. ValueError for an empty one or one holding a path separator."""
    found = set(IMAGE_EXTENSIONS)
    for value in extra:
        for part in str(value).split(","):
            ext = part.strip().lower()
            if not ext.startswith("."):
                ext = "." + ext
            if ext == "." or "/" in ext or "\\" in ext:
                raise ValueError(f"--ext {value!r}: give an extension such as .jp2")
            found.add(ext)
    return frozenset(found)


def iter_jobs(
    arguments: Iterable[str],
    stdin: TextIO | None = None,
    *,
    on_empty_folder: Callable[[str], None] | None = None,
    null: bool = False,
    extensions: frozenset[str] = IMAGE_EXTENSIONS,
) -> Iterator[ImageJob]:
    """Yield one `ImageJob` per image, lazily, in a deterministic order (see module doc).

    ``stdin`` is used for ``-``; when None, ``sys.stdin``'s bytes are read and decoded with
    ``os.fsdecode`` so that non-UTF-8 names piped from ``find`` survive.
    """
    index = 0
    for argument in _expand_arguments(arguments, stdin, null):
        produced = False
        for path, relative, error in _expand(argument, extensions):
            produced = True
            yield ImageJob(index, Path(path), display_path(path), error, relative)
            index += 1
        if not produced and on_empty_folder is not None:
            on_empty_folder(display_path(argument))


def _expand_arguments(
    arguments: Iterable[str], stdin: TextIO | None, null: bool = False
) -> Iterator[str]:
    for argument in arguments:
        if argument != "-":
            yield argument
            continue
        stream = stdin if stdin is not None else sys.stdin
        if stream is None:  # started with fd 0 closed (`<&-`): was an internal error
            raise UsageError("- reads paths from standard input, which is closed")
        if null:
            yield from _null_separated(stream)
            continue
        # the process's stdin as bytes, fsdecoded (a name that is not UTF-8 survives); a text
        # stream a library caller hands in is read as the text it is
        source = getattr(stream, "buffer", stream) if stream is sys.stdin else stream
        lines: Iterable[str] = map(_decoded, _bounded_lines(source))
        for line in lines:
            if line.endswith("\n"):
                line = line[:-1].removesuffix("\r")
            if line.strip():
                yield line


#: Longest line of a path list read whole (bytes): a path is at most PATH_MAX (4,096 on Linux).
MAX_PATH_LINE = 1 << 16


def _bounded_lines(stream: Any) -> Iterator[bytes | str]:
    """The lines of `stream` (bytes or text), each cut at MAX_PATH_LINE: what is past that
    cannot be a path (it is skipped up to the next newline; the cut head fails as a name too
    long, a record saying so). `for line in stream` held a line whole: `plantid identify - <
    /dev/zero` grew to 7.7 GB in 20 s."""
    while line := stream.readline(MAX_PATH_LINE):
        yield line
        if len(line) >= MAX_PATH_LINE and line[-1:] not in ("\n", b"\n"):
            while (rest := stream.readline(MAX_PATH_LINE)) and rest[-1:] not in ("\n", b"\n"):
                pass


def _null_separated(stream: TextIO) -> Iterator[str]:
    """Paths ended by NUL bytes, read as they arrive (bytes decoded with os.fsdecode, so a
    name that is not UTF-8 survives, as it does on the line-per-path form). An item longer
    than MAX_PATH_LINE is cut there and the rest of it skipped, as `_bounded_lines` does."""
    raw = getattr(stream, "buffer", None)
    separator: Any = b"\0" if raw is not None else "\0"
    read = raw.read1 if raw is not None else stream.read
    pending: Any = separator[:0]
    skipping = False  # inside an item already cut
    while chunk := read(65536):
        pending += chunk
        *items, pending = pending.split(separator)
        if skipping and items:  # the cut item's rest ends at the first separator
            items, skipping = items[1:], False
        for item in items:  # an item may span two reads: cut it here too
            if item:
                yield _decoded(item[:MAX_PATH_LINE])
        if skipping:
            pending = pending[:0]
        elif len(pending) > MAX_PATH_LINE:
            yield _decoded(pending[:MAX_PATH_LINE])
            pending, skipping = pending[:0], True
    if pending and not skipping:  # a last path without its NUL (printf 'a\0b')
        yield _decoded(pending)


def _decoded(item: bytes | str) -> str:
    return os.fsdecode(item) if isinstance(item, bytes) else item


_Item = tuple[str, str, "ImageError | None"]


def _expand(argument: str, extensions: frozenset[str]) -> Iterator[_Item]:
    """Jobs of one argument, as (path, relative, error)."""
    if "\0" in argument:  # only stdin can carry one; os.stat would raise ValueError
        error = ImageError("bad_path", f"{display_path(argument)}: a path cannot hold a NUL byte")
        yield argument, os.path.basename(argument), error
        return
    try:
        st = os.stat(argument)
    except OSError as exc:
        yield argument, os.path.basename(argument), _stat_error(argument, exc, explicit=True)
        return
    if stat.S_ISDIR(st.st_mode):
        yield from _walk(argument, st, extensions)
    else:
        yield argument, os.path.basename(argument), None


def _stat_error(path: str, exc: OSError, *, explicit: bool) -> ImageError:
    display = display_path(path)
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        if os.path.islink(path):
            return ImageError("not_found", f"{display}: dangling symbolic link")
        if explicit:
            return ImageError("not_found", f"no such file or folder: {display}")
        return ImageError("not_found", f"no such file: {display}")
    return ImageError("unreadable", f"{display}: {exc.strerror or exc}")


class _Listing:
    """One folder's entries that the walk may visit, in name order, kept small: the names
    only, plus which few of them are folders or symbolic links. Why not the `DirEntry`
    objects: a folder of 100,000 photos held as those was 20 MB (as names, 7 MB), and the
    walk holds one listing per level: peak memory grew with the size of a folder."""

    __slots__ = ("folder", "names", "dirs", "links")

    def __init__(self, folder: str, names: list[str], dirs: set[str], links: set[str]) -> None:
        self.folder, self.names, self.dirs, self.links = folder, names, dirs, links


def _listing(folder: str, extensions: frozenset[str]) -> _Listing:
    names: list[str] = []
    dirs: set[str] = set()
    links: set[str] = set()
    with os.scandir(folder) as entries:
        for entry in entries:
            try:
                is_dir = entry.is_dir()  # follows symlinks
            except OSError:
                is_dir = False
            if is_dir:
                dirs.add(entry.name)
            elif not is_image_name(entry.name, extensions):
                continue  # skipped silently: never held
            elif entry.is_symlink():
                links.add(entry.name)
            names.append(entry.name)
    names.sort()
    return _Listing(folder, names, dirs, links)


def _folder_error(folder: str, exc: OSError) -> ImageError:
    reason = exc.strerror or str(exc)
    return ImageError("unreadable", f"{display_path(folder)}: cannot list folder ({reason})")


def _walk(root: str, root_stat: os.stat_result, extensions: frozenset[str]) -> Iterator[_Item]:
    visited = {(root_stat.st_dev, root_stat.st_ino)}
    try:
        first = _listing(root, extensions)
    except OSError as exc:
        yield root, "", _folder_error(root, exc)
        return
    # Each level: (one folder's listing, an iterator over its names, its path below root).
    stack: list[tuple[_Listing, Iterator[str], str]] = [(first, iter(first.names), "")]
    while stack:
        listing, names, prefix = stack[-1]
        name = next(names, None)
        if name is None:
            stack.pop()
            continue
        relative = prefix + name
        path = os.path.join(listing.folder, name)  # what DirEntry.path was
        if name in listing.dirs:
            try:
                st = os.stat(path)
                key = (st.st_dev, st.st_ino)
                if key in visited:
                    continue
                visited.add(key)
                inner = _listing(path, extensions)
            except OSError as exc:
                yield path, relative, _folder_error(path, exc)
                continue
            stack.append((inner, iter(inner.names), relative + "/"))
        else:  # an image name (the listing keeps no other file)
            error = None
            if name in listing.links:
                try:
                    os.stat(path)
                except OSError as exc:
                    error = _stat_error(path, exc, explicit=False)
            yield path, relative, error


def parse_shard(spec: str) -> tuple[int, int]:
    """``"2/8"`` -> ``(2, 8)``: worker I of N, 0-based (0 <= I < N); ValueError otherwise."""
    text = str(spec).strip()
    first, sep, second = text.partition("/")
    if not sep or not first.strip().isdigit() or not second.strip().isdigit():
        raise ValueError(f"--shard must be I/N such as 0/4 (0-based, 0 <= I < N), not {spec!r}")
    i, n = int(first), int(second)
    if n < 1 or not 0 <= i < n:
        raise ValueError(f"--shard {spec!r}: need N >= 1 and 0 <= I < N (I is 0-based)")
    return i, n


def in_shard(relative: str, i: int, n: int) -> bool:
    """Whether the photo at `relative` (its path below the argument root) belongs to worker `i`
    of `n`: sha256 of the path's bytes, first 8 bytes as an integer, modulo n. Deterministic
    across machines and runs, so n workers given the same folder split it without talking and
    together cover every photo exactly once."""
    digest = hashlib.sha256(os.fsencode(relative)).digest()
    return int.from_bytes(digest[:8], "big") % n == i
