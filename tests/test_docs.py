"""Every command explains itself: help text with an example, and the README names it."""

from __future__ import annotations

from pathlib import Path

import typer.main

from plantid_cli.cli.app import build_app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def leaf_commands():
    def walk(command, path):
        children = getattr(command, "commands", None)
        if children:
            for name, child in children.items():
                yield from walk(child, [*path, name])
        else:
            yield " ".join(path), command

    return list(walk(typer.main.get_command(build_app()), []))


def test_every_command_has_help_with_an_example():
    commands = leaf_commands()
    assert len(commands) >= 16
    for name, command in commands:
        assert command.help and "Example" in command.help, name


def test_readme_lists_every_command_group():
    for name, _ in leaf_commands():
        assert f"plantid {name.split()[0]}" in README, name


def test_help_texts_survive_rich_markup():
    """Typer renders help with Rich markup: "[default 3]" was eaten and shown as " ."."""
    from rich.text import Text

    for name, command in leaf_commands():
        for param in command.params:
            text = getattr(param, "help", None)
            if text:
                assert Text.from_markup(text).plain == text, (name, param.name, text)


def test_identify_help_shows_its_defaults(cli_env):
    from conftest import run_plantid

    result = run_plantid(["identify", "--help"], {**cli_env, "COLUMNS": "200"})
    assert result.returncode == 0
    for shown in ("(default: 3)", "(default: 4)", "(default: 1500)", "(default: all)"):
        assert shown in result.stdout, shown


def test_readme_names_every_environment_variable_the_code_reads():
    """Every setting has PLANTID_<KEY> (README says so); other variables must be named."""
    import re

    from plantid_cli.config import Settings, env_name

    package = Path(__file__).resolve().parents[1] / "plantid_cli"
    source = "".join(path.read_text() for path in package.rglob("*.py"))
    read = set(re.findall(r'"(PLANT(?:ID|NET)_[A-Z_]+)"', source))
    settings = {env_name(name) for name in Settings.__dataclass_fields__}
    missing = {name for name in read - settings if name not in README}
    assert not missing, f"README does not mention {sorted(missing)}"
