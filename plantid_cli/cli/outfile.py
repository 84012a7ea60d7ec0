"""`-o/--output FILE`: a command's data written to a file atomically.

Why atomic: a script that runs `plantid identify photos/ -o results.csv` and then reads the
file must never see half of it — not after a full disk, a bad photo that ended the run with an
error, nor after SIGTERM from `timeout` or systemd. The data goes to a temporary file in the
same folder (so the final step is a rename on one filesystem, never a copy) and replaces FILE
with os.replace only once the command finished; on any failure the temporary file is removed
and FILE is left as it was (absent, or the previous run's complete output).

The temporary file is created before any work starts, so a folder that does not exist or
cannot be written is refused before a credit is spent.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from plantid_cli.errors import OutputError, UsageError
from plantid_cli.file_targets import IsAPhoto, look

#: Formats a file name implies when --format is not given (`-o results.csv`).
SUFFIX_FORMATS = {".csv": "csv", ".json": "json", ".ndjson": "ndjson", ".jsonl": "ndjson"}


class AtomicOutput:
    """A text file that appears at `path` only on `commit()`; `discard()` leaves no trace.
    A symlink's target is what is replaced; a device or a pipe (`-o /dev/stdout`,
    `-o >(jq .)`) is written straight, as `>` would, never replaced (file_targets.py)."""

    def __init__(self, path: str) -> None:
        if not path.strip():  # abspath('') is the current folder: "is a folder" misled
            raise UsageError("--output needs a file name (it was given an empty one)")
        self.path = os.path.abspath(os.path.expanduser(path))
        if os.path.isdir(self.path):
            raise UsageError(f"--output {path}: is a folder, not a file")
        self.done = False
        self.tmp: str | None = None
        try:  # one look: a symlink's target, a pipe, the old file's mode, a photo there
            where = look(self.path)
        except IsAPhoto as exc:
            raise UsageError(f"--output {path}: {exc.strerror}; nothing was sent") from None
        if where.stream:
            try:
                self.stream: TextIO = open(self.path, "w", encoding="utf-8", newline="")  # noqa: SIM115
            except OSError as exc:
                raise UsageError(
                    f"--output {path}: cannot write ({exc.strerror or exc}); nothing was sent"
                ) from None
            return
        self.path = str(where.final)
        folder, name = os.path.split(self.path)
        import tempfile  # lazy: only a command given -o needs it (random, shutil: start-up)

        try:
            fd, self.tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
        except OSError as exc:
            raise UsageError(
                f"--output {path}: cannot write in {folder or '.'} ({exc.strerror or exc});"
                " nothing was sent"
            ) from None
        if where.mode is not None:  # (look() always sets it)
            os.fchmod(fd, where.mode)  # as `>` would leave it, not mkstemp's 0600
        self.stream = os.fdopen(fd, "w", encoding="utf-8", newline="")

    def commit(self) -> None:
        """Flush to disk and put the file in place (the old one is replaced in one step)."""
        if self.done:
            return
        self.done = True
        try:
            self.stream.flush()
            if self.tmp is not None:
                os.fsync(self.stream.fileno())
            self.stream.close()
            if self.tmp is not None:
                os.replace(self.tmp, self.path)
        except OSError as exc:
            self._remove()
            kept = "" if self.tmp is None else "; it was left as it was"
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}{kept}") from None

    def discard(self) -> None:
        if self.done:
            return
        self.done = True
        self._remove()

    def _remove(self) -> None:
        try:
            self.stream.close()
        except OSError:
            pass
        if self.tmp is None:  # a stream: what went out is out
            return
        try:
            os.unlink(self.tmp)
        except OSError:
            pass


@contextmanager
def stdout_to(path: str | None) -> Iterator[None]:
    """With a path, everything the body echoes on stdout lands in `path`, atomically: in place
    when the body returns, removed when it raises. Without one, stdout as it is."""
    if path is None:
        yield
        return
    output = AtomicOutput(path)
    previous = sys.stdout
    sys.stdout = output.stream
    handler = _stop_on_sigterm()
    try:
        yield
    except BaseException:
        output.discard()
        raise
    finally:
        sys.stdout = previous
        _restore(handler)
    output.commit()


def _stop_on_sigterm() -> Any:
    """SIGTERM kills at once by default, which would leave the temporary file behind (FILE
    itself is safe either way): make it an exit that runs the clean-up, status 143."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    return signal.signal(signal.SIGTERM, stop)


def _restore(previous: Any) -> None:
    if previous is not None:
        import signal

        signal.signal(signal.SIGTERM, previous)


def run_to(path: str | None, func: Callable[..., int], *args: Any) -> int:
    """`func(*args)` with its stdout in `path` (see stdout_to); for run_guarded, which reports
    a folder that cannot be written like any other error."""
    with stdout_to(path):
        return func(*args)
