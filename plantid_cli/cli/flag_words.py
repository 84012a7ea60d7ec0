"""`--quiet true`: one rule for both identify parsers (Typer's, cli/options.py, and the fast
path's, cli/fastpath.py). Stdlib only, so the fast path can use it without Typer."""

from __future__ import annotations

import os
from collections.abc import Container, Sequence

from plantid_cli.constants import FLAG_VALUE_WORDS


def flag_given_a_value(args: Sequence[str], flags: Container[str]) -> tuple[str, str] | None:
    """The first (flag, word) pair of `args` where a flag or count option is followed by a
    word such as true/false that is no file here (Click would take the word for the next
    argument); pairs of words, not parsed options, so `-o -q true` counts too."""
    for flag, value in zip(args, args[1:], strict=False):
        if flag == "--":
            break
        if flag in flags and value.lower() in FLAG_VALUE_WORDS and not os.path.exists(value):
            return flag, value
    return None
