"""Knowing that standard output refused a write, whichever command wrote it.

Why: every command prints through its own path (Rich tables, json.dump, csv, print), and an
OSError from any of them (stdout on a full disk, `>/dev/full`, a file past its size limit, an
I/O error) reached the error boundary as "internal error: OSError". The boundary cannot tell
that error from one of the cache's disk from the exception alone: the same ENOSPC can come from
either. So the command line's stdout is put on a file object that notes its own failures
(`watch`), and the boundary asks `refused()` whether the error it caught is stdout's.

Only a real stdout on descriptor 1 is watched: one a caller replaced (pytest's capture, Typer's
test runner, a program that imports plantid_cli) is left alone. May import the standard library
only.
"""

from __future__ import annotations

import io
import sys

_failures: list[OSError] = []


class _WatchedFile(io.FileIO):
    """Descriptor 1, noting every write it could not make (and passing the error on)."""

    def write(self, data: bytes, /) -> int:  # type: ignore[override]
        try:
            return super().write(data)
        except OSError as exc:
            _failures.append(exc)
            raise


def watch() -> None:
    """Put the process's stdout on a watched descriptor, keeping its encoding, error handler,
    newline and buffering (`python -u` stays unbuffered)."""
    out = sys.stdout
    if type(out) is not io.TextIOWrapper:
        return
    try:
        if out.fileno() != 1:
            return
        out.flush()
        raw = _WatchedFile(1, "w", closefd=False)
    except (OSError, ValueError):  # closed, or a descriptor that will not open for writing
        return
    binary: io.RawIOBase | io.BufferedWriter = raw
    if isinstance(out.buffer, io.BufferedWriter):
        binary = io.BufferedWriter(raw)  # type: ignore[arg-type]
    sys.stdout = io.TextIOWrapper(
        binary,
        encoding=out.encoding,
        errors=out.errors,
        newline="\n",
        line_buffering=out.line_buffering,
        write_through=out.write_through,
    )


def refused(exc: BaseException) -> bool:
    """Whether `exc` is an error stdout raised on a write (the same object, or the same errno:
    a buffered layer may raise its own copy)."""
    if not isinstance(exc, OSError):
        return False
    return any(f is exc or (f.errno is not None and f.errno == exc.errno) for f in _failures)


def closed_at_start(exc: BaseException) -> bool:
    """Whether `exc` is a command's write to a stdout the process was started without: the
    command line leaves sys.stdout None then (cli/__init__.py), so that `identify` refuses
    before any call; a command that prints without asking meets None."""
    return sys.stdout is None and isinstance(exc, AttributeError) and "'NoneType'" in str(exc)


def reader_left() -> bool:
    """Whether a write to stdout met a reader that had left (EPIPE): Typer's help goes out
    through Rich's own console, which then exits 1 itself (`plantid --help | head -1`)."""
    return any(isinstance(f, BrokenPipeError) for f in _failures)


def cannot_carry(exc: BaseException) -> str | None:
    """The one-line error for text stdout's encoding cannot carry (PYTHONIOENCODING=ascii or a
    latin-1 terminal, and a name in another script), or None when `exc` is not that: it was
    an internal error."""
    if not isinstance(exc, UnicodeEncodeError) or sys.stdout is None:
        return None
    import codecs

    try:
        mine = codecs.lookup(sys.stdout.encoding or "").name
        theirs = codecs.lookup(exc.encoding).name
    except LookupError:
        return None
    if mine != theirs:
        return None
    text = exc.object[exc.start : exc.end] if isinstance(exc.object, str) else "?"
    return (
        f"standard output's encoding ({sys.stdout.encoding}) cannot carry {text!r}: "
        "set PYTHONIOENCODING=utf-8 (or a UTF-8 locale) and run it again"
    )
