"""`plantid identify ...` from a script, without Typer.

Why: batch scripts call plantid once per photo or per folder, in loops, and every call paid
for the command-line framework before its first upload (Typer and its command: about 100 ms
of CPU on this project's 2-core machine, most of a plain start-up), and an open breaker is
exactly when such loops spin. So for an identify command line that writes records for a
program (json, ndjson, csv, or any format to a pipe or a file), this module parses the words
itself, from the table tools/fastspec.py generates out of the Typer command (cli/fastspec.py),
and runs the normal identify body (identify_run.run_identify: the same options object built
by the same step, cli/identify_args.py; same engine, same records, same exit codes). When
the primary service is refusing (checked in the shared guard state), the run goes in the
calling thread, with no pools to start.
Anything it does not parse exactly as Typer would (an unknown word, `-qy`, `-j4`, `--`, a
bad value, `-` for stdin, `--help`), a table for a terminal, or a configuration it cannot
load returns None and Typer takes over as usual, so the errors and help a person sees are
always Typer's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import sys
from collections.abc import Iterator
from typing import Any

from plantid_cli.cli.fastspec import OPTIONS
from plantid_cli.cli.flag_words import flag_given_a_value
from plantid_cli.constants import FAST_FORMATS

_FLAGS = frozenset(word for word, (_, kind, _) in OPTIONS.items() if kind in ("flag", "count"))
_CONVERT = {"int": int, "float": float, "str": str}


def parse_identify(argv: list[str]) -> tuple[list[str], dict[str, Any]] | None:
    """(paths, the parameters given, by cli/identify.identify's names) for a command line
    Typer would parse the same way, else None (Typer parses it, and reports what is wrong)."""
    paths: list[str] = []
    given: dict[str, Any] = {}
    args = iter(argv)
    for arg in args:
        if arg == "-":
            return None  # stdin: the full command line reads it
        if not arg.startswith("-"):
            paths.append(arg)
            continue
        word, has_value, inline_value = (
            arg.partition("=") if arg.startswith("--") else (arg, "", "")
        )
        spec = OPTIONS.get(word)
        if spec is None:
            return None  # `--`, `-qy`, `-j4`, --help, a typo: Typer's to parse or explain
        name, kind, choices = spec
        if kind in ("flag", "count"):
            if has_value:
                return None  # `--quiet=1`: Typer says a flag takes no value
            given[name] = given.get(name, 0) + 1 if kind == "count" else True
            continue
        value = inline_value if has_value else next(args, None)
        if value is None:
            return None  # the value is missing
        if kind == "choice":
            if value not in choices:
                return None
            given[name] = value
        elif kind == "list":
            given.setdefault(name, []).append(value)
        else:
            try:
                given[name] = _CONVERT[kind](value)
            except ValueError:
                return None
    if not paths:
        return None
    if flag_given_a_value(argv, _FLAGS):
        return None  # `-q true`, `-v 1`: the full command line says that flags take no value
    return paths, given


def answer_without_typer(argv: list[str]) -> int | None:
    """Exit code of a run answered without Typer, or None to go the usual way."""
    parsed = parse_identify(argv)
    if parsed is None:
        return None
    paths, given = parsed
    fmt = given.get("fmt")
    if fmt is not None and fmt not in FAST_FORMATS:
        return None  # a table (Rich): for a person, not the scripted runs this path is for
    if fmt is None and given.get("output") is None and (sys.stdout is None or sys.stdout.isatty()):
        return None

    with _no_collections_while_importing():
        # lazy: what follows is paid only by a command line this path answers
        from plantid_cli.cli.common import load, run_guarded, setup_logging
        from plantid_cli.cli.identify_args import LOGGING_PARAMS, options_from_args
        from plantid_cli.cli.identify_run import run_identify
        from plantid_cli.errors import PlantidError
        from plantid_cli.run import batch  # noqa: F401 - the run's modules, imported here
        from plantid_cli.run.options import IdentifyOptions

    logging = {name: given.pop(name) for name in LOGGING_PARAMS if name in given}
    try:
        options = options_from_args({"paths": paths, **given})
        settings = load(options.setting_overrides())  # its secrets registered for redaction
        # before the state file is opened: a damaged one is moved aside with a warning, which
        # must go out as the command line says (JSON, the `plantid: warning:` prefix)
        setup_logging(**logging)
        if _refusing(settings):
            options = dataclasses.replace(options, inline=True)  # no thread pools to start
    except PlantidError:
        return None  # let the usual path report configuration problems its usual way
    except Exception:
        return None  # parsing here is an optimisation only: anything unexpected goes there too

    def build() -> IdentifyOptions:  # every option not given at its one default
        return options

    return run_guarded(run_identify, build, settings=settings, **logging)


@contextlib.contextmanager
def _no_collections_while_importing() -> Iterator[None]:
    """Import the run's modules (about a hundred) with the garbage collector paused, then
    freeze what they made: module objects live as long as the process, so every collection
    the imports' allocations set off, and every later one that walks them again, is work for
    nothing (15 ms of CPU here, a tenth of a refused run). Collections resume for the run."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def _refusing(settings: Any) -> bool:
    """Whether Plant.id's guard refuses calls now (an open breaker, a credits cool-down): the
    run is then answered in the calling thread, from the cache or with refusals."""
    if settings.provider != "plantid" or settings.redis_url or not settings.api_key:
        return False
    # lazy: keeps events and guards off every other command's start-up
    from plantid_cli.errors import ProbeInFlight, ServiceUnavailable
    from plantid_cli.events import EventBus
    from plantid_cli.guards.provider_guards import ProviderGuards

    try:
        ProviderGuards(settings, "plantid", settings.api_key, EventBus()).check()
    except ProbeInFlight:
        return False  # a trial call is out: the run waits for it, its calls will go
    except ServiceUnavailable:
        return True
    return False
