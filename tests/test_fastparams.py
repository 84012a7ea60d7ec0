"""cli/fastparams.py patches private Typer internals to keep pydantic out of start-up. These tests
fail the moment the patch stops taking effect (a Typer outside the range pyproject.toml pins),
instead of start-up silently doubling."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from importlib.metadata import version

import pytest
import runs
from conftest import REPO, run_plantid
from photos import green_photo

WATCHED = ("typer", "pydantic")


def probe(args, env):
    return runs.probe(args, env, WATCHED)


def test_identify_with_flags_parses_through_typer_without_pydantic(tmp_path, cli_env):
    # `-qy` (short flags run together) makes this the full Typer path (not cli/fastpath):
    # every value is coerced by Typer
    args = ["identify", tmp_path / "missing.jpg", "--top", "2", "-f", "json", "--no-cache", "-qy"]
    code, loaded, out = probe(args, cli_env)
    assert (code, loaded) == (1, ["typer"])  # typer parsed the flags; pydantic never loaded
    (record,) = json.loads(out)
    assert record["status"] == "error"


def test_open_breaker_identify_with_flags_imports_no_pydantic(tmp_path, sandbox, cli_env):
    env = dict(cli_env, PLANTID_BREAKER_FAIL_MAX="1", PLANTID_BREAKER_RESET_TIMEOUT="600")
    sandbox.configure(mode="error503")
    assert run_plantid(["identify", green_photo(tmp_path / "opener.jpg", seed=9)], env).returncode
    sandbox.configure(mode=None)
    photo = green_photo(tmp_path / "x.jpg")
    # `-qy` (short flags run together) is a form the fast path leaves to Typer
    code, loaded, out = probe(["identify", photo, "--top", "2", "-f", "json", "-qy"], env)
    assert (code, loaded) == (4, ["typer"])
    assert json.loads(out)[0]["error"]["reason"] == "circuit-open"
    # the same flags written apart: the fast path, without Typer at all (cli/fastpath.py)
    code, loaded, out = probe(["identify", photo, "--top", "2", "-f", "json", "-q", "-y"], env)
    assert (code, loaded) == (4, [])
    assert json.loads(out)[0]["error"]["reason"] == "circuit-open"
    assert sandbox.stats()["plantid_identify"] == 1  # only the opener's call


def test_bad_plain_values_are_still_refused_like_typer_does(cli_env):
    result = run_plantid(["identify", "x.jpg", "--top", "two"], cli_env)
    assert result.returncode == 2
    assert "'two' is not a valid integer" in result.stderr


def test_the_installed_typer_is_in_the_pinned_range_and_takes_the_patch():
    from packaging.requirements import Requirement

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    (spec,) = [Requirement(d) for d in project["dependencies"] if d.startswith("typer")]
    assert spec.specifier.contains(version("typer")), (version("typer"), str(spec))
    assert any(s.operator == "<" for s in spec.specifier), "pin an upper bound for the shim"
    code = (
        "from plantid_cli.cli import fastparams\n"
        "from typer import core\n"
        "print(fastparams.install(), core.build_runtime_param._plantid_fast,"
        " fastparams.install())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.split() == ["True", "True", "False"], result.stderr  # once, idempotent


@pytest.mark.parametrize("flag", ["--top", "--concurrency"])
def test_integer_flags_keep_their_values(flag, tmp_path, sandbox, cli_env):
    photo = green_photo(tmp_path / "p.jpg")
    result = run_plantid(["identify", photo, flag, "1", "-f", "json"], cli_env)
    assert result.returncode == 0, result.stderr
    (record,) = json.loads(result.stdout)
    assert record["status"] == "ok"
    if flag == "--top":
        assert len(record["suggestions"]) == 1
