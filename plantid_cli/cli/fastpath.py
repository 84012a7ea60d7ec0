"""`plantid identify FILE...` without Typer when the service is known to be refusing calls.

Why: an open breaker (or a credits cool-down) is exactly when batch scripts call plantid in a
tight loop, and each of those calls should cost no more than starting Python. The framework
(Typer, which drags in pydantic) is most of a plain start-up, so for the simplest invocation —
files, an optional `--format ndjson|json|csv`, `-q` — this module checks the shared guard state
first and, when the primary service is refusing, runs the normal identify body
(identify_run.run_identify: same engine, same records, cached answers still served) directly.
Anything else, or a closed breaker, returns None and Typer takes over as usual.
"""

from __future__ import annotations

import os
import sys

from plantid_cli.constants import FAST_FORMATS, FLAG_VALUE_WORDS


def parse_simple(argv: list[str]) -> tuple[list[str], str | None, bool] | None:
    """(paths, format, quiet) for the simple invocations this path handles, else None."""
    paths: list[str] = []
    fmt: str | None = None
    quiet = False
    args = iter(argv)
    for arg in args:
        if arg in ("-f", "--format"):
            fmt = next(args, None)
            if fmt is None:
                return None
        elif arg.startswith("--format="):
            fmt = arg.partition("=")[2]
        elif arg in ("-q", "--quiet"):
            quiet = True
        elif arg == "--" or arg.startswith("-"):
            return None  # any other flag, or '-' (stdin): the full command line handles it
        else:
            paths.append(arg)
    if not paths or (fmt is not None and fmt not in FAST_FORMATS):
        return None
    if quiet and any(p.lower() in FLAG_VALUE_WORDS and not os.path.exists(p) for p in paths):
        return None  # `-q true`: the full command line says that flags take no value

    return paths, fmt, quiet


def answer_if_refusing(argv: list[str]) -> int | None:
    """Exit code of a run answered without Typer, or None to go the usual way."""
    parsed = parse_simple(argv)
    if parsed is None:
        return None
    paths, fmt, quiet = parsed
    if fmt is None and sys.stdout.isatty():
        return None  # a table for a person: not the scripted loop this path is for

    # lazy: what follows is paid only by a command line this path may answer (a command line
    # with other flags goes to Typer without it)
    from plantid_cli.cli.common import run_guarded
    from plantid_cli.cli.identify_run import run_identify
    from plantid_cli.config import load_settings
    from plantid_cli.errors import PlantidError, ServiceUnavailable
    from plantid_cli.run.options import IdentifyOptions

    try:
        settings = load_settings({})
        if settings.provider != "plantid" or settings.redis_url or not settings.api_key:
            return None
        # lazy: keeps events off every command's start-up (app imports all)
        from plantid_cli.events import EventBus
        from plantid_cli.guards.provider_guards import ProviderGuards

        ProviderGuards(settings, "plantid", settings.api_key, EventBus()).check()
        return None  # the service may be asked: the normal path
    except ServiceUnavailable:
        pass  # circuit open or credits cooling down: answer here
    except PlantidError:
        return None  # let the normal path report configuration problems its usual way
    except Exception:
        return None  # an optimisation only: anything unexpected goes the usual way too

    def build() -> IdentifyOptions:  # every other option at its one default
        return IdentifyOptions(paths=tuple(paths), format=fmt, quiet=quiet, inline=True)

    return run_guarded(run_identify, build)
