"""A real terminal for tests: the CLI under a pty (pexpect), its output rendered by a terminal
emulator (pyte), so that a test asserts on what a person would see on the screen — the bar's
last frame, a prompt cut at the edge, a name split across lines — never on timing."""

from __future__ import annotations

import sys

import pexpect
import pyte
from conftest import REPO


class Terminal:
    """`plantid ARGS` in a `cols`-wide terminal (tall enough that nothing scrolls away)."""

    def __init__(self, args, env, *, cols: int = 80, rows: int = 200, cwd=None) -> None:
        self.screen = pyte.Screen(cols, rows)
        self._stream = pyte.ByteStream(self.screen)
        env = {**env, "TERM": "xterm-256color", "COLUMNS": str(cols), "LINES": str(rows)}
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", "plantid_cli", *map(str, args)],
            env=env,
            cwd=str(cwd or REPO),
            dimensions=(rows, cols),
        )
        self.raw = b""

    def _feed(self, data: bytes) -> None:
        self.raw += data
        self._stream.feed(data)

    def expect(self, pattern: str, timeout: float = 120) -> None:
        """Wait (hang protection only) for `pattern` (a regex) in the output."""
        self.child.expect(pattern, timeout=timeout)
        self._feed(self.child.before + self.child.after)

    def send_line(self, text: str) -> None:
        self.child.send(text + "\r")

    def finish(self, timeout: float = 180) -> int:
        """Wait for the command to end; its exit status."""
        self.child.expect(pexpect.EOF, timeout=timeout)
        self._feed(self.child.before)
        self.child.close()
        return self.child.exitstatus

    def lines(self) -> list[str]:
        """The screen's lines, trailing blanks dropped."""
        lines = [line.rstrip() for line in self.screen.display]
        while lines and not lines[-1]:
            lines.pop()
        return lines

    def text(self) -> str:
        return "\n".join(self.lines())

    def line_with(self, text: str) -> str:
        matches = [line for line in self.lines() if text in line]
        assert matches, f"no line holds {text!r}:\n{self.text()}"
        return matches[-1]
