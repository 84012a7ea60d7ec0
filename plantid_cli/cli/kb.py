"""`plantid search NAME` and `plantid about NAME-OR-TOKEN`: Plant.id's knowledge base.

Thin: parse, call run/kb.KnowledgeBase (guards, cache, costs), print with outputs/kb.py. A
search is free; an entry costs half a credit, is cached, and says what it cost on stderr."""

from __future__ import annotations

from typing import Annotated

import typer

from plantid_cli.cli.common import load, print_note, run_guarded, setup_logging
from plantid_cli.cli.options import PlantidCommand, Quiet, RecordFormat, shared_options
from plantid_cli.cli.run_options import NoCache, setting_option
from plantid_cli.constants import (
    CREDITS_KB_DETAIL,
    DEFAULT_KB_DETAILS,
    KB_SEARCH_LIMIT,
    KB_SEARCH_MAX,
)
from plantid_cli.errors import UsageError

SEARCH_EXAMPLES = """
Free: a search costs no credits. Names match scientific names, synonyms and common names (in
--language). The tokens go to `plantid about`.

Examples:

  plantid search aloe

  plantid search "stinging nettle" --limit 3 --format json

  plantid search Weizen --language de --format csv
"""

ABOUT_EXAMPLES = f"""
An entry costs {CREDITS_KB_DETAIL:g} credits and is cached: asking again costs nothing (until
--refresh). A name is first looked up with the free search (an exact match wins).

Examples:

  plantid about "Aloe vera"

  plantid about "Quercus robur" --details common_names,taxonomy,description,edible_parts

  plantid about bG1NbjFDTkoxOHNTTHlIYwpcKF8CIS9yCAoXY3ofelA- --format json
"""

#: The `language` setting unless given (its first language: one per request here).
Language = Annotated[
    str | None,
    setting_option("language", "--language", help="Language of names and texts, e.g. en"),
]


def register(app: typer.Typer) -> None:
    app.command(
        "search",
        cls=PlantidCommand,
        help="Search Plant.id's knowledge base for plant names." + SEARCH_EXAMPLES,
        short_help="Search Plant.id's knowledge base for plant names (free).",
    )(search)
    app.command(
        "about",
        cls=PlantidCommand,
        help="Show one plant's entry from Plant.id's knowledge base." + ABOUT_EXAMPLES,
        short_help="Show one plant's knowledge-base entry.",
    )(about)


def _format(fmt: str | None) -> str:
    import sys

    return fmt or ("table" if sys.stdout is not None and sys.stdout.isatty() else "ndjson")


@shared_options
def search(
    name: Annotated[str, typer.Argument(help="A scientific or common name, or part of one.")],
    limit: Annotated[
        int,
        typer.Option("--limit", help=f"How many names at most (1-{KB_SEARCH_MAX})."),
    ] = KB_SEARCH_LIMIT,
    language: Language = None,
    fmt: RecordFormat = None,
    quiet: Quiet = False,
) -> None:

    def body() -> int:
        import sys

        # lazy: the KB, its guards and httpx only for these two commands
        from plantid_cli.outputs.kb import write_search
        from plantid_cli.run.kb import KnowledgeBase

        setup_logging()
        if not 1 <= limit <= KB_SEARCH_MAX:
            raise UsageError(f"--limit must be 1 to {KB_SEARCH_MAX}, not {limit}")
        settings = load({"language": language} if language else {})
        with KnowledgeBase(settings) as kb:
            found = kb.search(name, limit, settings.language.split(",")[0])
        write_search(found["entities"], _format(fmt), sys.stdout)
        if not quiet:
            count = len(found["entities"])
            more = f"; more match, raise --limit ({KB_SEARCH_MAX} at most)"
            print_note(
                f"{count} name{'s' * (count != 1)} found"
                + (more if found["entities_trimmed"] else "")
                + ", 0 credits used",
                event="kb.search",
                found=count,
                trimmed=found["entities_trimmed"],
            )
        return 0 if found["entities"] else 1

    raise typer.Exit(run_guarded(body))


@shared_options
def about(
    name_or_token: Annotated[
        str, typer.Argument(metavar="NAME-OR-TOKEN", help="A plant name or a search token.")
    ],
    details: Annotated[
        str | None,
        typer.Option(
            "--details",
            help=f"Comma list of details to ask for (default: {','.join(DEFAULT_KB_DETAILS)}).",
            show_default=False,
        ),
    ] = None,
    language: Language = None,
    fmt: RecordFormat = None,
    no_cache: NoCache = False,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Ask the service again (and pay again).")
    ] = False,
    max_credits: Annotated[
        float | None,
        typer.Option("--max-credits", help="Refuse to buy an entry that would cost more."),
    ] = None,
    quiet: Quiet = False,
) -> None:

    def body() -> int:
        import sys

        # lazy: the KB, its guards and httpx only for these two commands
        from plantid_cli.outputs.kb import write_entry
        from plantid_cli.run.kb import KnowledgeBase

        setup_logging()
        if no_cache and refresh:
            raise UsageError("--no-cache and --refresh cannot be used together")
        # `not >= 0` also refuses nan, which compares false with everything: the budget check
        # (`cost > nan` is false) then let any entry through
        if max_credits is not None and not max_credits >= 0:
            raise UsageError("--max-credits must be a number, 0 or more")
        asked = tuple(d.strip() for d in (details or "").split(",") if d.strip())
        settings = load({"language": language} if language else {})
        lang = settings.language.split(",")[0]
        with KnowledgeBase(settings) as kb:
            token, matched = kb.resolve(name_or_token.strip(), lang)
            if matched is not None and matched.lower() != name_or_token.strip().lower():
                print_note(f"{name_or_token!r}: the entry of {matched!r}", event="kb.resolved")
            try:
                entry, cached = kb.about(
                    token,
                    asked or DEFAULT_KB_DETAILS,
                    lang,
                    use_cache=not no_cache,
                    refresh=refresh,
                    max_credits=max_credits,
                )
            finally:
                spent = kb.credits_used
        write_entry({**entry, "cached": cached}, _format(fmt), sys.stdout)
        if not quiet:
            print_note(
                f"{'cached, ' if cached else ''}{spent:g} credits used",
                event="kb.about",
                cached=cached,
                credits_used=spent,
            )
        return 0

    raise typer.Exit(run_guarded(body))
