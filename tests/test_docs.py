"""Every command explains itself: help text with an example, and the README names it."""

from __future__ import annotations

from pathlib import Path

import typer.main

from plantid_cli.cli.app import app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def leaf_commands():
    def walk(command, path):
        children = getattr(command, "commands", None)
        if children:
            for name, child in children.items():
                yield from walk(child, [*path, name])
        else:
            yield " ".join(path), command

    return list(walk(typer.main.get_command(app), []))


def test_every_command_has_help_with_an_example():
    commands = leaf_commands()
    assert len(commands) >= 16
    for name, command in commands:
        assert command.help and "Example" in command.help, name


def test_readme_lists_every_command_group():
    for name, _ in leaf_commands():
        assert f"plantid {name.split()[0]}" in README, name
