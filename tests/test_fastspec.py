"""The fast path's identify parser (cli/fastpath.py, table cli/fastspec.py) says what Typer says.

Why: the fast path skips Typer for an identify command line on an open breaker; a word it
read differently would build another run than the one the user asked for. Both parsers feed
the same step (cli/identify_args.options_from_args); here the same command lines go through
both and must build equal IdentifyOptions, and every line Typer refuses the fast parser must
leave to Typer (None), so the user gets Typer's message.
"""

from __future__ import annotations

import pytest

from plantid_cli.cli.fastpath import parse_identify
from plantid_cli.cli.identify_args import LOGGING_PARAMS, options_from_args

ACCEPTED = [
    ["a.jpg"],
    ["a.jpg", "b.jpg", "-f", "json", "-q"],
    ["a.jpg", "--format=csv"],
    ["a.jpg", "--top", "2", "-f", "json", "-q"],
    ["--top=7", "a.jpg", "--top", "5"],  # the last one wins
    ["a.jpg", "--lat", "-33.87", "--lon=151.21", "--language", "en,de", "-j", "8"],
    ["a.jpg", "--no-cache", "--rehash", "--yes", "-y", "--health"],
    ["a.jpg", "--refresh", "--related-images", "--no-location", "--organ", "leaf"],
    ["dir", "--group-by", "folder", "--catalog-number", "LE[0-9]+", "--ext", "jp2", "--ext=tif"],
    ["a.jpg", "--classification-level", "all", "--similar-images", "--details", "taxonomy"],
    ["a.jpg", "--provider", "plantid", "--timeout", " 12.5 ", "--max-side", "800"],
    ["a.jpg", "-o", "out.ndjson", "--max-credits", "10", "--custom-id", "42"],
    ["a.jpg", "-v", "--verbose", "-v", "--debug", "--log-format", "json"],
    ["a.jpg", "--report", "r.html", "--write-xmp", "--xmp-name", "full", "--dry-run"],
    ["a.jpg", "--output", "-", "--shard", "0/2", "--confidence-threshold", "0.7"],
]
REFUSED_BY_TYPER = [
    ["a.jpg", "--top", "two"],
    ["a.jpg", "--format", "xml"],
    ["a.jpg", "-f"],
    ["a.jpg", "--bogus"],
    ["a.jpg", "--quiet=yes"],
    ["a.jpg", "--provider", "Plantid"],
    ["a.jpg", "--timeout", ""],
    # a flag's "value" (red team: the fast parser took `true` for a photo and paid for it)
    ["a.jpg", "-q", "no"],
    ["a.jpg", "-v", "true"],
    ["a.jpg", "--verbose", "off"],
    ["a.jpg", "-o", "-q", "true"],
    [],
]
LEFT_TO_TYPER = [["-"], ["a.jpg", "--", "-b.jpg"], ["a.jpg", "-qy"], ["a.jpg", "-j4"]]


def _command():
    import typer.main

    from plantid_cli.cli.app import build_app
    from plantid_cli.cli.fastparams import install

    install()  # as the CLI runs it
    return typer.main.get_command(build_app(["identify"])).commands["identify"]


def _typer_options(argv):
    params = _command().make_context("identify", list(argv)).params
    return options_from_args(params), {k: params[k] for k in LOGGING_PARAMS}


def _fast_options(argv):
    parsed = parse_identify(list(argv))
    assert parsed is not None, argv
    paths, given = parsed
    logging = {name: given.pop(name) for name in LOGGING_PARAMS if name in given}
    return options_from_args({"paths": paths, **given}), logging


@pytest.mark.parametrize("argv", ACCEPTED, ids=" ".join)
def test_both_parsers_build_the_same_run(argv):
    typer_options, typer_logging = _typer_options(argv)
    fast_options, fast_logging = _fast_options(argv)
    assert fast_options == typer_options
    defaults = {"verbose": 0, "debug": False, "log_format": None}
    assert {**defaults, **fast_logging} == typer_logging


@pytest.mark.parametrize("argv", REFUSED_BY_TYPER, ids=lambda a: " ".join(a) or "nothing")
def test_what_typer_refuses_is_left_to_typer(argv):
    from typer._click.exceptions import ClickException

    with pytest.raises(ClickException):
        _command().make_context("identify", list(argv))
    assert parse_identify(list(argv)) is None


@pytest.mark.parametrize("argv", LEFT_TO_TYPER, ids=" ".join)
def test_forms_the_fast_parser_does_not_read_go_to_typer(argv):
    assert parse_identify(list(argv)) is None


def test_the_table_is_what_the_typer_command_declares():
    """Regenerate with `python -m tools.fastspec` when this fails."""
    from tools.fastspec import TARGET, render

    assert TARGET.read_text() == render(), "cli/fastspec.py is stale: python -m tools.fastspec"
