"""The command line: a thin Typer layer. Each command group lives in its own module."""

from __future__ import annotations

import sys


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "identify":
        from .fastpath import answer_if_refusing

        code = answer_if_refusing(sys.argv[2:])
        if code is not None:
            sys.exit(code)
    from .app import app
    from .fastparams import install

    install()  # plain flags without pydantic
    app(prog_name="plantid")
