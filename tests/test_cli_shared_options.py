"""Issue 13, item 6: options shared by several commands are declared once (cli/options.py)
and reused, as sqlite-utils' `output_options` does.

Why in-process: what is pinned is the parser each command is given (Click's parameters built
from the command functions), not a run; building them needs no sandbox and no subprocess.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import typer.main
from typer.core import TyperArgument, TyperGroup, TyperOption

from plantid_cli.cli.app import build_app

#: The only command with a --verbose of its own meaning (log each request): `plantid sandbox`.
OWN_VERBOSE = {"sandbox"}
#: Options identify and health both take whose help rightly differs (suggestions vs diseases).
WORDED_FOR_THE_TASK = {"--top", "--language", "--details"}


def _commands(group: TyperGroup, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    for name, command in sorted(group.commands.items()):
        if isinstance(command, TyperGroup):
            yield from _commands(command, (*prefix, name))
        else:
            yield " ".join((*prefix, name)), command


@pytest.fixture(scope="module")
def root() -> TyperGroup:
    group = typer.main.get_command(build_app(None))
    assert isinstance(group, TyperGroup)
    return group


def _options(command: Any) -> dict[str, TyperOption]:
    return {
        opt: param
        for param in command.params
        if isinstance(param, TyperOption)
        for opt in param.opts
        if opt.startswith("--")
    }


def test_every_command_takes_the_shared_logging_options(root):
    """--verbose/--debug/--log-format come from one declaration (`shared_options`): every
    command has them, with the same help, and the root has them too."""
    seen = {}
    for name, command in [("plantid", root), *_commands(root)]:
        if name in OWN_VERBOSE:
            continue
        options = _options(command)
        for flag in ("--verbose", "--debug", "--log-format"):
            assert flag in options, f"{name} lacks {flag}"
            seen.setdefault(flag, set()).add(options[flag].help)
    assert all(len(helps) == 1 for helps in seen.values()), seen
    assert len([name for name, _ in _commands(root)]) >= 20  # the walk saw the commands


def test_identify_and_health_share_their_run_options(root):
    """health offers a subset of identify's options; each of them is identify's own
    declaration: the same help, type and default (health once said `Take only share I of N
    inputs` where identify explained the hash split)."""
    identify = _options(root.commands["identify"])
    health = _options(root.commands["health"])
    shared = (health.keys() & identify.keys()) - WORDED_FOR_THE_TASK
    assert {"--lat", "--no-location", "--shard", "--group-by", "--max-credits"} <= shared
    for flag in sorted(shared):
        a, b = identify[flag], health[flag]
        assert (a.help, str(a.type_descriptor.annotation), a.default, a.metavar) == (
            b.help,
            str(b.type_descriptor.annotation),
            b.default,
            b.metavar,
        ), flag


def test_the_results_file_argument_is_described_once(root):
    helps = {
        name: param.help
        for name, command in _commands(root)
        for param in command.params
        if isinstance(param, TyperArgument) and param.name == "results"
    }
    assert {"refetch", "report", "tag", "export dwca", "review apply"} <= helps.keys()
    assert len(set(helps.values())) == 1, helps


def test_a_command_given_debug_after_its_name_shows_tracebacks(cli_env, tmp_path):
    """The decorator applies the options before the body runs: `--debug` after the name
    prints the traceback of a failing command (here: a results file that does not exist)."""
    from conftest import run_plantid

    bad = tmp_path / "missing.ndjson"
    plain = run_plantid(["tag", str(bad)], cli_env)
    debug = run_plantid(["tag", str(bad), "--debug"], cli_env)
    assert plain.returncode == debug.returncode != 0
    assert "Traceback" not in plain.stderr
    assert "Traceback" in debug.stderr, debug.stderr
