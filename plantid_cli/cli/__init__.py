"""The command line: a thin Typer layer. Each command group lives in its own module.

Parses, calls the core, renders. May import every package (and the public API); nothing
imports cli back. Command modules are all imported by `app` for every command, so their
imports of the core stay inside the commands (each says what it keeps off start-up).
"""

from __future__ import annotations

import sys


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "identify":
        # lazy: only `identify` may take the fast path
        from plantid_cli.cli.fastpath import answer_if_refusing

        code = answer_if_refusing(sys.argv[2:])
        if code is not None:
            sys.exit(code)
    # lazy: the fast path above answers without Typer (typer, pydantic)
    from plantid_cli.cli.app import app
    from plantid_cli.cli.fastparams import install

    install()  # plain flags without pydantic
    app(prog_name="plantid")
