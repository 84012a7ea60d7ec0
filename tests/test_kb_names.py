"""Names `search` and `about` cannot send, and languages no request can carry: usage errors.

DEFECT (red team, session 14): `search $'\\xff'` (bytes that are not UTF-8, as a Latin-1
terminal passes them) and `about` with a 100,000-character name ended in exit 1 with the
encoder's or the URL parser's words (`request failed (UnicodeEncodeError ...)`, `InvalidURL:
URL too long`); `--language $'\\xff'` the same, for every command. Correct: exit 2 with what is
wrong with the argument, and nothing sent.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import REPO

CASES = {
    "not UTF-8": (b"\xff", "the name is not valid UTF-8 text"),
    "100,000 characters": (b"a" * 100_000, "a name of 100,000 characters: give at most 200"),
    "a newline": (b"Rosa\ncanina", "the name holds a control character"),
    "blank": (b"   ", "give a name to search for"),
}


def _run(argv, env):
    return subprocess.run([sys.executable, "-m", "plantid_cli", *argv], env=env, cwd=REPO,
                          capture_output=True, timeout=60)  # fmt: skip


@pytest.mark.parametrize("command", ["search", "about"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_name_no_search_could_mean_is_a_usage_error(command, case, cli_env, sandbox):
    name, why = CASES[case]
    done = _run([command, name], cli_env)
    stderr = os.fsdecode(done.stderr)
    assert done.returncode == 2, stderr
    assert f"plantid: error: {why}" in stderr
    assert "request failed" not in stderr and "internal error" not in stderr
    assert sandbox.stats()["calls"] == []


@pytest.mark.parametrize("language", [b"\xff", b"d e", b"en,x!"])
@pytest.mark.parametrize("command", [["search", "rose"], ["about", "Rosa canina"]])
def test_a_language_no_request_can_carry_is_a_usage_error(command, language, cli_env, sandbox):
    done = _run([*command, "--language", language], cli_env)
    stderr = os.fsdecode(done.stderr)
    assert done.returncode == 2, stderr
    assert "plantid: error: --language must be language codes such as en or en,de" in stderr
    assert sandbox.stats()["calls"] == []


def test_a_language_in_the_environment_is_a_configuration_error(cli_env, sandbox, tmp_path):
    done = _run(["search", "rose"], {**cli_env, "PLANTID_LANGUAGE": "en,x!"})
    assert done.returncode == 3
    assert b"invalid configuration: language must be language codes" in done.stderr
    assert sandbox.stats()["calls"] == []


@pytest.mark.parametrize("language", ["de", "pt-BR", "zh-Hant", "en,de,cs"])
def test_real_language_codes_still_reach_the_service(language, cli_env, sandbox):
    done = _run(["search", "rose", "--language", language, "-f", "json"], cli_env)
    assert done.returncode in (0, 1), done.stderr  # 1: no name found in that language
    assert f"language={language.split(',')[0]}" in sandbox.stats()["calls"][-1]["path"]


def test_a_no_break_space_is_a_space_not_a_control_character(cli_env, sandbox):
    """DEFECT (red team, session 15, in this session's own check): `str.isprintable()` refused
    a no-break space (names pasted from a web page) as a control character."""
    done = _run(["search", "Rosa\u00a0canina".encode(), "-f", "json"], cli_env)
    assert done.returncode in (0, 1), done.stderr  # 1: no name matched
    assert len(sandbox.stats()["calls"]) == 1
