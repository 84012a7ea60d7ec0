"""Asking a person before something costly or destructive, and refusing when none can answer.

Why its own module: a safeguard that skips silently is no safeguard. `plantid cache clear
</dev/null` removed every stored answer without a question (stdin was not a terminal, so it
did not ask, and it went on), and `find ... | plantid identify -` spent credits without the
confirmation a folder gets (stdin held the paths, so it did not ask either). The rules here:

* The question goes to stderr and the answer is read from the terminal: stdin when it is one,
  else /dev/tty (as git and gh do), so a path list on stdin still gets asked.
* There is a person only when stderr is a terminal (where the question is shown) and an answer
  can be read. Tests and cron have neither.
* Without a person, a destructive command (cache clear, breaker reset, keys remove) refuses
  unless given --yes: a usage error, exit 2, nothing changed. A costly identify run goes on
  as before (batch scripts are its job; --max-credits is their budget).
"""

from __future__ import annotations

import sys
from typing import IO

from plantid_cli.errors import UsageError


def _answer_stream() -> tuple[IO[str] | None, bool]:
    """(where an answer can be read, whether it must be closed) or (None, False)."""
    stderr = sys.stderr
    if stderr is None or not stderr.isatty():
        return None, False
    try:  # the terminal itself: stdin may hold the data (`find ... | plantid identify -`)
        return open("/dev/tty", encoding="utf-8", errors="replace"), True  # noqa: SIM115
    except OSError:  # no controlling terminal (a daemon, a container without -t)
        pass
    stdin = sys.stdin
    if stdin is not None and stdin.isatty():
        return stdin, False
    return None, False


def can_ask() -> bool:
    stream, close = _answer_stream()
    if close and stream is not None:
        stream.close()
    return stream is not None


def ask(question: str) -> bool | None:
    """True/False from the person at the terminal (default no), None when there is none."""
    stream, close = _answer_stream()
    if stream is None:
        return None
    try:
        sys.stderr.write(f"{question} [y/N]: ")
        sys.stderr.flush()
        line = stream.readline()
    finally:
        if close:
            stream.close()
    if not line:  # end of input (Ctrl-D): no
        sys.stderr.write("\n")
        return False
    return line.strip().lower() in ("y", "yes")


def confirm_destructive(question: str, yes: bool, *, action: str, refused: str) -> None:
    """Go on with --yes or a "y" at the terminal; else a UsageError (exit 2) naming --yes.
    `action` says what the command would do, `refused` what was left untouched."""
    if yes:
        return
    answer = ask(question)
    if answer is None:
        raise UsageError(f"{action}: without a terminal to ask, pass --yes to go on; {refused}")
    if not answer:
        raise UsageError(f"cancelled: {refused}")
