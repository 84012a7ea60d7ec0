"""The command line: a thin Typer layer. Each command group lives in its own module."""

from __future__ import annotations


def main() -> None:
    from .app import app
    from .fastparams import install

    install()  # plain flags without pydantic: keeps an open-breaker run near --version
    app(prog_name="plantid")
