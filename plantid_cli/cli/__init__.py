"""The command line: a thin Typer layer. Each command group lives in its own module."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        _main()
    except KeyboardInterrupt:  # Ctrl-C during start-up, before a command handles it
        sys.stderr.write("plantid: interrupted\n")  # not a traceback (issue 12)
        sys.exit(130)


def _main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "identify":
        from plantid_cli.cli.fastpath import answer_if_refusing

        code = answer_if_refusing(sys.argv[2:])
        if code is not None:
            sys.exit(code)
    from plantid_cli.cli.app import app
    from plantid_cli.cli.fastparams import install

    install()  # plain flags without pydantic
    app(prog_name="plantid")
