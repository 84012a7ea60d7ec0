"""The open-breaker fast path answers exactly like the full command line, without its cost."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import runs
from conftest import run_plantid
from photos import green_photo

WATCHED = ("typer", "httpx", "PIL", "pybreaker", "portalocker")


def probe(args, env):
    """The fast path is taken for `identify ARGS`."""
    return runs.probe(["identify", *args], env, WATCHED)


def open_breaker(tmp_path, sandbox, env):
    sandbox.configure(mode="error503")
    opener = run_plantid(["identify", green_photo(tmp_path / "opener.jpg", seed=99)], env)
    assert opener.returncode == 4
    sandbox.configure(mode=None)


def test_open_breaker_answer_skips_the_framework_and_matches_the_full_path(
    tmp_path, sandbox, cli_env
):
    env = dict(cli_env, PLANTID_BREAKER_FAIL_MAX="1", PLANTID_BREAKER_RESET_TIMEOUT="600")
    cached = green_photo(tmp_path / "cached.jpg", seed=1)
    fresh = green_photo(tmp_path / "fresh.jpg", seed=2)
    assert run_plantid(["identify", cached], env).returncode == 0
    open_breaker(tmp_path, sandbox, env)
    calls_before = sandbox.stats()["plantid_identify"]

    code, loaded, fast_out = probe([cached, fresh], env)
    assert (code, loaded) == (4, [])  # no Typer, no HTTP stack, no image decoder
    full = run_plantid(["identify", cached, fresh, "--log-format", "text"], env)  # not simple
    assert full.returncode == 4

    def comparable(text):
        records = [json.loads(line) for line in text.splitlines()]
        for record in records:
            record.pop("identified_at", None)
            (record.get("error") or {}).pop("retry_at", None)
        return sorted(records, key=lambda r: r["index"])

    fast, slow = comparable(fast_out), comparable(full.stdout)
    assert fast == slow
    assert [r["status"] for r in fast] == ["ok", "error"]
    assert fast[0]["cached"] is True
    assert fast[1]["error"]["reason"] == "circuit-open"
    assert sandbox.stats()["plantid_identify"] == calls_before


def test_a_closed_breaker_run_from_a_script_is_answered_without_typer_too(
    tmp_path, sandbox, cli_env
):
    """Before: only a refused run skipped Typer; a run that sends paid for the framework
    (~100 ms of CPU) in front of its first upload, in every scripted call."""
    code, loaded, out = probe([green_photo(tmp_path / "p.jpg")], cli_env)
    assert code == 0
    # sent, through the guards; a closed circuit's call needs no pybreaker (issue 17: ~12 ms
    # in front of the first upload), only a failure does
    assert loaded == ["httpx", "PIL", "portalocker"]
    assert json.loads(out)["status"] == "ok"
    assert sandbox.stats()["plantid_identify"] == 1


def test_only_command_lines_read_as_typer_reads_them_are_taken(tmp_path):
    """What the fast parser cannot read exactly as Typer does goes to Typer (tests/test_fastspec
    compares the two on the lines it reads); a table for a terminal also goes to Typer."""
    from plantid_cli.cli.fastpath import parse_identify

    assert parse_identify(["a.jpg", "-f", "json", "-q"]) == (
        ["a.jpg"],
        {"fmt": "json", "quiet": True},
    )
    assert parse_identify(["a.jpg", "--format=csv"]) == (["a.jpg"], {"fmt": "csv"})
    for argv in (["-"], [], ["a.jpg", "-f"], ["a.jpg", "-qv"], ["a.jpg", "--help"]):
        assert parse_identify(argv) is None, argv


def test_open_breaker_with_flags_sends_nothing_not_even_the_free_credit_check(
    tmp_path, sandbox, cli_env
):
    """A defect: `identify PHOTO --top 2` (flags: the Typer path) on an open breaker asked
    usage_info before refusing, importing the whole HTTP stack for a run that could send
    nothing (3.7x the CPU of `--version`). An open breaker refuses the free call too."""
    env = dict(cli_env, PLANTID_BREAKER_FAIL_MAX="1", PLANTID_BREAKER_RESET_TIMEOUT="600")
    open_breaker(tmp_path, sandbox, env)
    before = sandbox.stats()
    photo = green_photo(tmp_path / "p.jpg", seed=3)
    code, loaded, out = runs.probe(
        ["identify", photo, "--top", "2", "-f", "json"],
        env,
        ("httpx", "pydantic", "PIL", "diskcache"),
    )
    assert (code, loaded) == (4, [])
    [record] = json.loads(out)
    assert record["error"]["reason"] == "circuit-open"
    after = sandbox.stats()
    assert after["plantid_usage"] == before["plantid_usage"]
    assert after["plantid_identify"] == before["plantid_identify"]


def test_an_open_breaker_run_loads_only_what_refusing_needs(tmp_path, sandbox, cli_env):
    """A defect: the refused run (1.40x the CPU of `--version`, goal 1.3x) imported the image
    modules to hash the photo, both services' clients and parsers to build the one it asked,
    the review layer for a json writer and the TOML parser to read an empty config file."""
    env = dict(cli_env, PLANTID_BREAKER_FAIL_MAX="1", PLANTID_BREAKER_RESET_TIMEOUT="600")
    open_breaker(tmp_path, sandbox, env)
    photo = green_photo(tmp_path / "p.jpg", seed=5)
    unneeded = (
        "plantid_cli.images.prepare",
        "plantid_cli.images.scan",
        "plantid_cli.providers.plantnet",
        "plantid_cli.providers.plantid_health",
        "plantid_cli.outputs.review.verify",
        "tomllib",
    )
    code, loaded, out = runs.probe(["identify", photo, "--top", "2", "-f", "json"], env, unneeded)
    assert (code, loaded) == (4, [])
    [record] = json.loads(out)
    assert record["error"]["reason"] == "circuit-open"


def test_a_dry_run_on_an_open_breaker_does_not_ask_usage_info_either(tmp_path, sandbox, cli_env):
    """The dry run asked the free usage_info of a service its breaker had marked as down."""
    env = dict(cli_env, PLANTID_BREAKER_FAIL_MAX="1", PLANTID_BREAKER_RESET_TIMEOUT="600")
    open_breaker(tmp_path, sandbox, env)
    before = sandbox.stats()["plantid_usage"]
    photo = green_photo(tmp_path / "p.jpg", seed=4)
    result = run_plantid(["identify", photo, "--dry-run", "-f", "json"], env)
    assert result.returncode == 0, result.stderr
    assert [row["action"] for row in json.loads(result.stdout)] == ["send"]
    assert "nothing was sent" in result.stderr
    assert sandbox.stats()["plantid_usage"] == before


def test_a_run_that_sends_does_not_import_trio(tmp_path, sandbox, cli_env):
    """A defect: httpx's transport imported trio (installed here by selenium) for async locks
    the command line never uses: 180 ms of CPU before the first upload. The command's process
    marks it absent (cli/__init__._without_async_backends); this fails the day httpcore stops
    taking the marker for "not installed"."""
    if importlib.util.find_spec("trio") is None:
        pytest.skip("trio is not installed: nothing to keep out")
    photo = green_photo(tmp_path / "p.jpg", seed=6)
    code, loaded, out = runs.probe(["identify", photo, "-f", "json"], cli_env, ("httpx", "trio"))
    assert (code, loaded) == (0, ["httpx"])  # the call went out, without trio
    [record] = json.loads(out)
    assert record["status"] == "ok"
    assert sandbox.stats()["plantid_identify"] == 1


COUNT_TLS_CONTEXTS = """
import ssl, sys
made, loaded = [], []
real_context, real_load = ssl.create_default_context, ssl.SSLContext.load_verify_locations
ssl.create_default_context = lambda *a, **k: made.append(1) or real_context(*a, **k)
ssl.SSLContext.load_verify_locations = lambda *a, **k: loaded.append(1) or real_load(*a, **k)
sys.argv = ["plantid", *sys.argv[1:]]
from plantid_cli.cli import main
try:
    main()
except SystemExit as exit:
    print("TLS", exit.code, len(made), len(loaded), file=sys.stderr)
"""


def count_tls_setup(args, env) -> tuple[str, subprocess.CompletedProcess]:
    """`plantid ARGS` in a process that counts SSL contexts made and CA bundles loaded:
    ("TLS <exit code> <contexts> <bundles>", the process)."""
    result = subprocess.run(
        [sys.executable, "-c", COUNT_TLS_CONTEXTS, *map(str, args)],
        env=env, cwd=runs.REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    line = next(x for x in result.stderr.splitlines() if x.startswith("TLS"))
    return line, result


def test_a_run_against_plain_http_loads_no_ca_bundle(tmp_path, sandbox, cli_env):
    """Two defects in turn. Each HTTP client loaded the CA bundle into an SSL context of its
    own (50 ms of CPU each; a run opens two: usage_info's, then the run's); then, with one
    context per process, the bundle was still loaded by a run that only speaks plain http (the
    sandbox, a local proxy): 48 ms in front of its first upload (issue 17). tests/test_tls.py
    has the https side: loaded once, at the first handshake, verification on."""
    photos = [green_photo(tmp_path / f"p{i}.jpg", seed=10 + i) for i in range(2)]
    line, result = count_tls_setup(["identify", *photos, "-f", "json"], cli_env)
    assert line == "TLS 0 0 0", result.stderr
    stats = sandbox.stats()
    assert (stats["plantid_usage"], stats["plantid_identify"]) == (1, 2)


FREEZE_AT_EXIT = """
import gc, sys
sys.argv = ["plantid", *sys.argv[1:]]
from plantid_cli.cli import main
try:
    main()
except SystemExit as exit:
    print("FROZEN", exit.code, gc.get_freeze_count() > 0, gc.isenabled(), file=sys.stderr)
"""


def test_the_interpreter_shutdown_skips_collecting_what_a_command_made(tmp_path, sandbox, cli_env):
    """Before: every invocation ended in collections over all the objects of the framework
    and the run (20-35 ms of CPU: `--version` cost 1.19x `import typer`); the command freezes
    them when it is over, and its records are whole all the same."""
    out = tmp_path / "out.ndjson"
    photo = green_photo(tmp_path / "p.jpg", seed=21)
    for args in (["--version"], ["identify", str(photo), "-o", str(out)]):
        result = subprocess.run(
            [sys.executable, "-c", FREEZE_AT_EXIT, *args],
            env=cli_env, cwd=runs.REPO, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert "FROZEN 0 True True" in result.stderr, (args, result.stderr)
    [record] = [json.loads(line) for line in out.read_text().splitlines()]
    assert record["status"] == "ok"
    assert sandbox.stats()["plantid_identify"] == 1
    # every database was closed (a connection left open leaves its write-ahead log behind)
    assert sorted(p.name for p in Path(cli_env["PLANTID_CACHE_DIR"]).rglob("*-wal")) == []


@pytest.mark.parametrize("closed", ["stdout", "stderr"])
def test_started_with_stdout_or_stderr_closed_is_no_traceback(tmp_path, sandbox, cli_env, closed):
    """Red team: `plantid identify photo >&-` (no -f) died in a traceback on
    `sys.stdout.isatty()` (Python sets a stream closed at start-up to None), and `2>&-`
    ended in "internal error" on `sys.stderr.isatty()`."""
    photo = green_photo(tmp_path / "p.jpg", seed=31)
    fd = 1 if closed == "stdout" else 2
    result = subprocess.run(
        [sys.executable, "-m", "plantid_cli", "identify", str(photo)],
        env=cli_env, cwd=runs.REPO, capture_output=True, text=True, timeout=120,
        preexec_fn=lambda: os.close(fd),
    )  # fmt: skip
    both = result.stdout + result.stderr
    assert "Traceback" not in both and "internal error" not in both, both
    if closed == "stdout":
        assert result.returncode == 1
        assert "standard output is closed" in result.stderr
    else:
        assert result.returncode == 0
        assert json.loads(result.stdout)["status"] == "ok"
