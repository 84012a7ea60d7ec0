"""Issue 16, "In scripts": -o/--output, -0/--null, -f/--format on every data command, --yes
without a terminal, and flags that take no value. Every test runs the real CLI in a
subprocess against the sandbox; the terminal cases run it on a pty (pexpect)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from conftest import REPO, Lines, run_plantid, spawn, wait_for
from PIL import Image

PLANTID = f"{sys.executable} -m plantid_cli"


def photos(folder, count):
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        Image.new("RGB", (64, 48), (30 + 7 * n, 160, 60)).save(folder / f"p{n}.jpg", "JPEG")
    return folder


def records_of(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def leftovers(folder, name):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(f".{name}."))


# ----- -o/--output ---------------------------------------------------------------------------


def test_output_writes_the_records_to_the_file_in_the_suffixs_format(cli_env, sandbox, tmp_path):
    folder = photos(tmp_path / "in", 2)
    out = tmp_path / "results.csv"
    result = run_plantid(["identify", folder, "-o", out], cli_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # the data went to the file, not to stdout
    lines = out.read_text().splitlines()
    assert lines[0].startswith("scientificName,") and len(lines) == 3
    assert leftovers(tmp_path, "results.csv") == []
    ndjson = tmp_path / "r.ndjson"
    again = run_plantid(["identify", folder, "--output", ndjson], cli_env)
    assert again.returncode == 0, again.stderr
    assert len(records_of(ndjson.read_text())) == 2
    assert sandbox.stats()["plantid_identify"] == 2  # the second run was served from the cache


def test_output_in_a_missing_folder_is_refused_before_any_call(cli_env, sandbox, tmp_path):
    folder = photos(tmp_path / "in", 1)
    result = run_plantid(["identify", folder, "-o", tmp_path / "no" / "such" / "r.ndjson"], cli_env)
    assert result.returncode == 2, result.stderr
    assert (
        result.stderr.startswith("plantid: error: --output ")
        and "nothing was sent" in result.stderr
    )
    assert sandbox.stats()["plantid_identify"] == 0


def test_sigterm_leaves_the_output_file_as_it_was(cli_env, sandbox, tmp_path):
    """The first answer is written to the temporary file, the second is held in the sandbox;
    SIGTERM then stops the run: FILE keeps the previous complete output, no temporary file."""
    folder = photos(tmp_path / "in", 3)
    out = tmp_path / "results.ndjson"
    out.write_text('{"previous": "run"}\n')
    sandbox.configure(hold_after=1)
    proc = spawn(["identify", folder, "-o", out, "-j", "1", "-q"], cli_env, text=False)
    try:
        wait_for(lambda: any(c.get("held") for c in sandbox.stats()["calls"]))
        assert len(leftovers(tmp_path, "results.ndjson")) == 1  # the records go there
        notes = Lines(proc.stderr)
        proc.send_signal(signal.SIGTERM)
        notes.until("waiting for answers in flight")
        sandbox.configure(hold_after=None)
        _, rest = proc.communicate(timeout=60)
        stderr = (notes.buffer + rest).decode()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, stderr
    assert out.read_text() == '{"previous": "run"}\n'
    assert leftovers(tmp_path, "results.ndjson") == []
    assert "left as it was" in stderr


@pytest.mark.parametrize(
    "command",
    [["status"], ["config", "show"], ["keys", "list"], ["cache", "stats"]],
)
def test_every_data_command_takes_output(cli_env, tmp_path, command):
    out = tmp_path / "data.json"
    result = run_plantid([*command, "-o", out], cli_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert isinstance(json.loads(out.read_text()), dict)  # a file, not a terminal: JSON
    assert leftovers(tmp_path, "data.json") == []


def test_a_failing_data_command_leaves_the_output_file_alone(cli_env, tmp_path):
    out = tmp_path / "status.json"
    out.write_text("previous\n")
    env = {**cli_env, "PLANTID_TIMEOUT": "nan"}  # a configuration error, exit 3
    result = run_plantid(["status", "-o", out], env)
    assert result.returncode == 3, result.stderr
    assert out.read_text() == "previous\n"
    assert leftovers(tmp_path, "status.json") == []


# ----- -0/--null -----------------------------------------------------------------------------


def test_null_separated_paths_from_stdin_keep_newlines_and_spaces(cli_env, sandbox, tmp_path):
    folder = photos(tmp_path / "in", 2)
    odd = folder / "with\nnewline.jpg"
    (folder / "p0.jpg").rename(odd)
    spaced = folder / " spaced .jpg"
    (folder / "p1.jpg").rename(spaced)
    listing = f"{odd}\0{spaced}\0".encode()
    result = subprocess.run(
        [sys.executable, "-m", "plantid_cli", "identify", "-0", "-", "-f", "ndjson"],
        input=listing,
        env=cli_env,
        capture_output=True,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    records = records_of(result.stdout.decode())
    from plantid_cli.records import display_path  # a newline is shown escaped in `path`

    assert sorted(r["path"] for r in records) == sorted([display_path(odd), display_path(spaced)])
    assert {r["status"] for r in records} == {"ok"}
    assert sandbox.stats()["plantid_identify"] == 2


def test_null_without_a_dash_is_a_usage_error(cli_env, sandbox, tmp_path):
    folder = photos(tmp_path / "in", 1)
    result = run_plantid(["identify", "--null", folder], cli_env)
    assert result.returncode == 2
    assert "give - as a path" in result.stderr
    assert sandbox.stats()["plantid_identify"] == 0


# ----- -f/--format ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [["status"], ["config", "show"], ["keys", "list"], ["cache", "stats"], ["usage"]],
)
def test_data_commands_print_json_when_piped_and_take_format_and_json(cli_env, command):
    piped = run_plantid(command, cli_env)
    assert piped.returncode == 0, piped.stderr
    as_json = json.loads(piped.stdout)
    assert json.loads(run_plantid([*command, "-f", "json"], cli_env).stdout) == as_json
    assert json.loads(run_plantid([*command, "--format", "json"], cli_env).stdout) == as_json
    if command != ["usage"]:  # usage had no --json before either; the others keep theirs
        assert json.loads(run_plantid([*command, "--json"], cli_env).stdout) == as_json
    table = run_plantid([*command, "-f", "table"], {**cli_env, "COLUMNS": "200"})
    assert table.returncode == 0, table.stderr
    with pytest.raises(ValueError):
        json.loads(table.stdout)


def test_json_and_another_format_is_a_usage_error(cli_env):
    result = run_plantid(["status", "--json", "-f", "table"], cli_env)
    assert result.returncode == 2
    assert "--json and --format table" in result.stderr and result.stdout == ""


def test_demo_prints_a_table_even_when_piped(isolated_env):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    result = run_plantid(["demo", "--latency-ms", "0"], env)
    assert result.returncode == 0, result.stderr
    assert "┃ photo" in result.stdout or "photo" in result.stdout.splitlines()[2]
    with pytest.raises(ValueError):
        json.loads(result.stdout.splitlines()[0])


# ----- --yes without a terminal ---------------------------------------------------------------


def _cached_one(cli_env, tmp_path):
    folder = photos(tmp_path / "in", 1)
    assert run_plantid(["identify", folder], cli_env).returncode == 0
    return json.loads(run_plantid(["cache", "stats", "-f", "json"], cli_env).stdout)["entries"]


def test_cache_clear_without_a_terminal_needs_yes(cli_env, tmp_path):
    assert _cached_one(cli_env, tmp_path) == 1
    refused = subprocess.run(
        [sys.executable, "-m", "plantid_cli", "cache", "clear"],
        stdin=subprocess.DEVNULL,
        env=cli_env,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert refused.returncode == 2
    assert "pass --yes" in refused.stderr and "nothing removed" in refused.stderr
    assert json.loads(run_plantid(["cache", "stats", "-f", "json"], cli_env).stdout)["entries"] == 1
    cleared = run_plantid(["cache", "clear", "--yes"], cli_env)
    assert cleared.returncode == 0, cleared.stderr
    assert cleared.stderr == "plantid: removed 1 cached answer\n"  # not "1 cached answers"
    assert json.loads(run_plantid(["cache", "stats", "-f", "json"], cli_env).stdout)["entries"] == 0


def test_breaker_reset_without_a_terminal_needs_yes(cli_env):
    refused = run_plantid(["breaker", "reset"], cli_env)
    assert refused.returncode == 2
    assert "pass --yes" in refused.stderr and "no breaker changed" in refused.stderr
    assert run_plantid(["breaker", "reset", "--yes"], cli_env).returncode == 0


def test_keys_remove_forgets_the_stored_key_and_needs_yes(isolated_env):
    env = {k: v for k, v in os.environ.items() if k not in ("PLANTID_API_KEY",)}
    stored = run_plantid(["keys", "set", "plantnet"], env, input="pn-key-0123456789\n")
    assert stored.returncode == 0, stored.stderr
    listed = json.loads(run_plantid(["keys", "list", "-f", "json"], env).stdout)
    assert listed["plantnet"]["key"] == "****89"
    assert listed["plantnet"]["source"].startswith("keys file ")
    assert listed["plantid"] == {"key": None, "source": None}
    refused = run_plantid(["keys", "remove", "plantnet"], env)
    assert refused.returncode == 2 and "pass --yes" in refused.stderr
    assert json.loads(run_plantid(["keys", "list", "-f", "json"], env).stdout) == listed
    removed = run_plantid(["keys", "remove", "plantnet", "--yes"], env)
    assert removed.returncode == 0, removed.stderr
    after = json.loads(run_plantid(["keys", "list", "-f", "json"], env).stdout)
    assert after["plantnet"] == {"key": None, "source": None}
    again = run_plantid(["keys", "remove", "plantnet", "--yes"], env)
    assert again.returncode == 2 and "no plantnet key is stored" in again.stderr


def test_keys_list_says_the_environment_wins_over_the_file(isolated_env):
    env = dict(os.environ)
    run_plantid(["keys", "set", "plantid"], env, input="file-key-0123456789\n")
    env["PLANTID_API_KEY"] = "env-key-9876543210"
    listed = json.loads(run_plantid(["keys", "list"], env).stdout)
    assert listed["plantid"] == {"key": "****10", "source": "environment PLANTID_API_KEY"}
    table = run_plantid(["keys", "list", "-f", "table"], env).stdout
    assert "plantid\t****10\tenvironment PLANTID_API_KEY" in table.splitlines()


def test_config_show_says_where_each_setting_comes_from(isolated_env, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("top = 5\n")
    env = {**os.environ, "PLANTID_CONFIG": str(config), "PLANTID_TIMEOUT": "12"}
    shown = json.loads(run_plantid(["config", "show"], env).stdout)
    assert (shown["top"], shown["timeout"], shown["retries"]) == (5, 12.0, 2)
    sources = shown["sources"]
    assert sources["top"] == f"config file {config}"
    assert sources["timeout"] == "environment PLANTID_TIMEOUT"
    assert sources["retries"] == "default"
    table = run_plantid(["config", "show", "-f", "table"], env).stdout.splitlines()
    (line,) = [text for text in table if text.startswith("timeout = ")]
    assert line.endswith("# environment PLANTID_TIMEOUT")


def test_config_path_create_makes_the_folder_so_the_readme_copy_works(isolated_env, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PLANTID_CONFIG"}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "fresh-home" / ".config")
    plain = run_plantid(["config", "path"], env)
    target = plain.stdout.strip()
    assert not os.path.exists(os.path.dirname(target))
    created = run_plantid(["config", "path", "--create"], env)
    assert created.returncode == 0 and created.stdout.strip() == target
    assert os.stat(os.path.dirname(target)).st_mode & 0o777 == 0o700
    copied = subprocess.run(
        [
            "sh",
            "-c",
            f'cp config.example.toml "$({sys.executable} -m plantid_cli config path --create)"',
        ],
        env={**env, "PYTHONPATH": str(REPO)},
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert copied.returncode == 0, copied.stderr
    env["PLANTID_CONFIG"] = target
    assert run_plantid(["config", "show"], env).returncode == 0


# ----- flags take no value -------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["identify", "--quiet", "true"],
        ["identify", "-q", "false"],
        ["status", "--debug", "no"],
        ["--debug", "true", "status"],
    ],
)
def test_a_value_after_a_flag_is_refused(cli_env, sandbox, tmp_path, args):
    folder = photos(tmp_path / "in", 1)
    result = run_plantid([*args, folder] if "identify" in args else args, cli_env)
    assert result.returncode == 2, result.stderr
    assert "is a flag and takes no value" in result.stderr
    assert "not found" not in result.stderr + result.stdout
    assert sandbox.stats()["plantid_identify"] == 0


def test_a_photo_named_true_is_still_a_photo(cli_env, sandbox, tmp_path):
    photos(tmp_path, 1)
    (tmp_path / "p0.jpg").rename(tmp_path / "true")
    result = run_plantid(["identify", "--quiet", "true", "-f", "ndjson"], cli_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [r["status"] for r in records_of(result.stdout)] == ["ok"]


def test_setting_sources_name_the_flag_the_environment_the_file_and_the_default(tmp_path):
    """The one merge behind `config show` and `keys list`: each layer is named."""
    from plantid_cli.config import load_settings, setting_sources

    config = tmp_path / "config.toml"
    config.write_text("retries = 4\ntop = 2\n")
    environ = {"PLANTID_TIMEOUT": "12", "PLANTID_KEYS_FILE": str(tmp_path / "none.json")}
    flags = {"top": 5, "language": None}  # None: not given
    sources = setting_sources(flags, environ, config)
    assert sources["top"] == "option --top"
    assert sources["timeout"] == "environment PLANTID_TIMEOUT"
    assert sources["retries"] == f"config file {config}"
    assert sources["language"] == sources["concurrency"] == "default"
    settings = load_settings(flags, environ, config)
    assert (settings.top, settings.timeout, settings.retries) == (5, 12.0, 4)
