"""The one way a table reaches standard output: a Rich console that lets the error boundary
see a closed pipe, and refuses a stdout that was closed at start.

Why not Rich's own Console: on a closed pipe (`| head` that has left) it points stdout at
/dev/null and raises SystemExit(1) itself, so `checklist | head -1` failed where the Unix
habit (and every other plantid command) is a quiet exit 0. And with no stdout at all (`>&-`)
it writes into nothing and exits 0: the table was lost without a word. Imported lazily by the
commands that print a table (Rich is not on a scripted run's start-up). May import Rich and
plantid_cli.errors only.
"""

from __future__ import annotations

import errno
import sys
from typing import IO, Any

from rich.console import Console

from plantid_cli.errors import OutputError


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """The reader left: raised again for the error boundary (quiet exit 0 there)."""
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")


def stdout_console(stream: IO[str] | None = None, **options: Any) -> Console:
    """A console on `stream` (default: stdout, read now). OutputError when there is none."""
    target = stream if stream is not None else sys.stdout
    if target is None:
        raise OutputError.from_os_error(None)
    return _Console(file=target, **options)
