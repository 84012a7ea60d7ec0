"""Constants, environment names and choice lists are written once, in constants.py.

Why a source scan: a second spelling of a choice list or an environment name works until one
of the two copies changes (issue 13 found provider modes, organs and formats listed twice each,
and env names read in cli/common.py); this fails the moment a copy reappears.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import plantid_cli
from plantid_cli import constants

PACKAGE = Path(plantid_cli.__file__).parent
ENV_NAME = re.compile(r"PLANT(ID|NET)_[A-Z_]+")
#: The choice lists: every tuple of strings constants.py declares.
CHOICES = {
    name: frozenset(value)
    for name, value in vars(constants).items()
    if name.isupper() and isinstance(value, tuple) and all(isinstance(v, str) for v in value)
}


def _modules() -> dict[str, ast.AST]:
    return {
        str(path.relative_to(PACKAGE)): ast.parse(path.read_text(encoding="utf-8"))
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "constants.py"
    }


def test_the_scan_sees_the_choice_lists():
    assert {"PROVIDERS", "PROVIDER_MODES", "ORGANS", "OUTPUT_FORMATS"} <= CHOICES.keys()


def test_env_names_are_spelled_only_in_constants():
    found = [
        f"{module}:{node.lineno}: {node.value}"
        for module, tree in _modules().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and ENV_NAME.fullmatch(node.value)
    ]
    assert found == []


def test_choice_lists_are_written_once():
    found = []
    for module, tree in _modules().items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Tuple | ast.List | ast.Set) or len(node.elts) < 2:
                continue
            if not all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
                continue
            values = frozenset(e.value for e in node.elts if isinstance(e, ast.Constant))
            copies = [name for name, choice in CHOICES.items() if values == choice]
            if copies:
                found.append(f"{module}:{node.lineno}: {sorted(values)} is {copies[0]}")
    assert found == []
