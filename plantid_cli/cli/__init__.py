"""The command line: a thin Typer layer. Each command group lives in its own module.

Parses, calls the core, renders. May import every package (and the public API); nothing
imports cli back. Command modules are all imported by `app` for every command, so their
imports of the core stay inside the commands (each says what it keeps off start-up).
"""

from __future__ import annotations

import sys
from typing import Any


def main() -> None:
    try:
        _main()
    except KeyboardInterrupt:  # Ctrl-C during start-up, before a command handles it
        sys.stderr.write("plantid: interrupted\n")  # not a traceback (issue 12)
        sys.exit(130)
    finally:
        _skip_the_last_collections()


def _skip_the_last_collections() -> None:
    """The command is over (its records written, its state committed): collect its garbage
    once, then freeze what is left, so that the interpreter's shutdown skips the collections
    it would run over every object the command made. Those cost 20-35 ms of CPU per
    invocation on this project's 2-core machine, a seventh of `plantid --version`, paid by
    every call of a script's loop. The one collection matters: the database connections of
    finished threads (diskcache keeps one per thread) sit in reference cycles, and closing
    them is what folds each database's write-ahead log back into it; skipped, the next run
    on a full disk could not read the answers (tests/test_cache_storage.py). `gc.freeze` is
    public; shutdown still runs atexit handlers (logging's flush among them), flushes stdout
    and stderr, joins threads and frees everything by reference count."""
    import gc

    gc.collect()
    gc.freeze()


def _main() -> None:
    _hold_standard_fds()
    _without_async_backends()
    # lazy: a program that imports plantid_cli as a library keeps its own stdout
    from plantid_cli.cli import stdout

    stdout.watch()  # the error boundary can then tell stdout's write errors (cli/stdout.py)
    if len(sys.argv) > 2 and sys.argv[1] == "identify":
        # lazy: only `identify` may take the fast path
        from plantid_cli.cli.fastpath import answer_without_typer

        code = answer_without_typer(sys.argv[2:])
        if code is not None:
            sys.exit(code)
    if completion := [w for w in _option_words(sys.argv[1:]) if w in COMPLETION_OPTIONS]:
        # lazy: shellingham and Typer's completion only for the two completion options
        from plantid_cli.cli.completion_shell import settle_the_shell

        if (refused := settle_the_shell(completion)) is not None:
            sys.stderr.write(refused + "\n")
            sys.exit(2)
    # lazy: the fast path above answers without Typer (typer, pydantic)
    from plantid_cli.cli.app import build_app
    from plantid_cli.cli.fastparams import install

    install()  # plain flags without pydantic
    app = build_app(sys.argv[1:])
    try:
        app(prog_name="plantid")
    except OSError as exc:  # --help, --version: what Typer prints outside run_guarded
        sys.exit(_output_failed(exc))
    except SystemExit as exc:
        if exc.code == 1 and stdout.reader_left():  # Rich's own exit on a closed pipe
            sys.exit(_output_failed(BrokenPipeError()))  # quiet 0, as everywhere
        if sys.stdout is None and (
            (exc.code in (0, None) and _asked_for_text(sys.argv[1:]))
            or (exc.code == 2 and _names_a_group(app, sys.argv[1:]))
        ):
            # Typer's echo skips a missing stdout: help and version "succeeded" unwritten, and
            # `plantid` or `plantid cache` alone (their help, exit 2) ended without a word
            sys.exit(_output_failed(None))
        raise


def _asked_for_text(argv: list[str]) -> bool:
    """Whether the command line asks for help, the version or the completion script (printed
    outside run_guarded, which refuses every command's output to a stdout the process was
    started without)."""
    asking = ("--help", "-h", "--version", SHOW_COMPLETION)
    return any(word in asking for word in _option_words(argv))


def _names_a_group(app: Any, argv: list[str]) -> bool:
    """Whether the command line ends at a group, with nothing after it (`plantid`, `plantid
    cache`, `plantid -v cache`): Typer then prints that group's help on stdout instead of
    running a command, and exits 2. (A group is what has sub-commands: `commands`, by name, on
    Click's groups, which Typer's are.)"""
    if not argv:
        return True
    import typer

    node: Any = typer.main.get_command(app)
    for word in (w for w in _option_words(argv) if not w.startswith("-")):
        commands = getattr(node, "commands", None)
        if not isinstance(commands, dict) or (node := commands.get(word)) is None:
            return False
    is_group = isinstance(getattr(node, "commands", None), dict)
    return is_group and argv[-1] == getattr(node, "name", None)


#: Typer's own completion options (on every Typer app); the second one prints text.
SHOW_COMPLETION = "--show-completion"
COMPLETION_OPTIONS = ("--install-completion", SHOW_COMPLETION)


def _option_words(argv: list[str]) -> list[str]:
    """The words before a `--` (after it, every word is an argument, never an option)."""
    return argv[: argv.index("--")] if "--" in argv else argv


def _without_async_backends() -> None:
    """httpx's transport (httpcore) imports trio, where it is installed (selenium brings it),
    only to offer async locks; the command line makes every call synchronously. That import
    cost a run 180 ms of CPU before its first upload. Marked absent here (the `None` entry
    Python documents for a module that must not be imported; httpcore then takes trio for not
    installed), in the command's own process only: a program that imports plantid_cli as a
    library keeps its trio. tests/test_fastpath.py checks that the marker still takes effect."""
    sys.modules.setdefault("trio", None)  # type: ignore[arg-type]


def _hold_standard_fds() -> None:
    """Started with stdin, stdout or stderr closed (`>&-`, some cron and supervisors): put
    /dev/null on that descriptor, so the next file opened (the cache database) cannot become
    "fd 1" and receive what is meant for stdout. sys.stdout stays None: identify refuses
    with a one-line error before any call (outputs.writers.Writer)."""
    import os

    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR)  # the lowest free descriptor: this one


def _output_failed(exc: OSError | None) -> int:
    """The same ending as run_guarded's for a stdout that refuses writes."""
    # lazy: keeps cli.common (logging set-up) off --version and --help
    from plantid_cli.cli.common import output_failed

    return output_failed(exc)
