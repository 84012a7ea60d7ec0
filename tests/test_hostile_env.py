"""What the environment throws at the CLI: keys with line endings, NUL bytes in stdin paths,
numbers that are not numbers, a config file that is not there, float credit counts.

Each test runs the real `plantid` in a subprocess against the test's sandbox.
"""

from __future__ import annotations

import json

import pytest
from conftest import run_plantid
from photos import green_photo

STRIPPED_KEY = "file-made-key-8d2c4b6a19"


def records_of(result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


# --- item: API keys with surrounding or inner whitespace -----------------------------------------


@pytest.mark.parametrize("ending", ["\n", "\r\n", " \t"])
def test_a_key_from_the_environment_loses_its_line_ending(tmp_path, sandbox, cli_env, ending):
    sandbox.configure(key=STRIPPED_KEY)  # the sandbox accepts exactly the stripped key
    photo = green_photo(tmp_path / "leaf.jpg")
    result = run_plantid(["identify", photo], {**cli_env, "PLANTID_API_KEY": STRIPPED_KEY + ending})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "ok"
    assert sandbox.stats()["statuses"] == {"201": 1}
    assert STRIPPED_KEY not in result.stdout + result.stderr


def test_a_key_from_the_keys_file_loses_its_line_ending(tmp_path, sandbox, cli_env, isolated_env):
    sandbox.configure(key=STRIPPED_KEY)
    keys_file = isolated_env / "config" / "keys.json"
    keys_file.parent.mkdir(parents=True)
    keys_file.write_text(json.dumps({"plantid": STRIPPED_KEY + "\r\n"}))
    env = {k: v for k, v in cli_env.items() if k != "PLANTID_API_KEY"}
    photo = green_photo(tmp_path / "leaf.jpg")
    result = run_plantid(["identify", photo], env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "ok"
    assert sandbox.stats()["statuses"] == {"201": 1}


@pytest.mark.parametrize("inner", ["\x01", "\n", " ", "\x7f", "\u00e9"])
def test_a_key_with_an_inner_control_character_is_a_configuration_error(
    tmp_path, sandbox, cli_env, inner
):
    """Exit 3 naming where the key came from; no byte of the key in any output, although
    httpx's LocalProtocolError would quote the header value (`Illegal header value b'...'`)."""
    head, tail = "inner-secret-7f3a", "b9c2d1e0"
    photo = green_photo(tmp_path / "leaf.jpg")
    env = {**cli_env, "PLANTID_API_KEY": head + inner + tail}
    for args in (["identify", photo], ["usage"], ["config", "show"]):
        result = run_plantid(args, env)
        assert result.returncode == 3, (args, result.stdout, result.stderr)
        output = result.stdout + result.stderr
        assert "environment PLANTID_API_KEY" in result.stderr
        assert head not in output and tail not in output
        assert "Traceback" not in output and "internal error" not in output
    assert sandbox.stats()["plantid_identify"] == 0


def test_keys_are_registered_for_redaction_by_loading_the_settings(isolated_env, monkeypatch):
    """Any caller of load_settings (the fast path, a library user), not only the CLI's load()."""
    from plantid_cli.config import load_settings
    from plantid_cli.redact import redact

    secret = "library-loaded-key-3e5f7a9b"
    monkeypatch.setenv("PLANTNET_API_KEY", secret + "\n")
    settings = load_settings({})
    assert settings.plantnet_api_key == secret
    assert redact(f"LocalProtocolError: Illegal header value b'{secret}'") == (
        "LocalProtocolError: Illegal header value b'****'"
    )
    quoted = "key-with-'quote'-and\\backslash"  # printable ASCII: a valid key
    monkeypatch.setenv("PLANTID_API_KEY", quoted)
    load_settings({})
    shown = redact(f"ValueError: {quoted.encode()!r} and {quoted!r}")
    assert shown == 'ValueError: b"****" and "****"'


# --- item: a NUL byte in a path read from stdin --------------------------------------------------


def test_a_nul_byte_in_a_stdin_line_is_one_error_record_and_the_rest_run(
    tmp_path, sandbox, cli_env
):
    first = green_photo(tmp_path / "first.jpg", seed=1)
    last = green_photo(tmp_path / "last.jpg", seed=2)
    lines = f"{first}\n{tmp_path}/bad\x00name.jpg\n{last}\n"
    result = run_plantid(["identify", "-"], cli_env, input=lines)
    assert result.returncode == 1, result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    named = {r["path"].rsplit("/", 1)[-1]: r for r in records_of(result)}
    assert {name: r["status"] for name, r in named.items()} == {
        "first.jpg": "ok",
        "bad\\x00name.jpg": "error",
        "last.jpg": "ok",
    }
    assert named["bad\\x00name.jpg"]["error"]["code"] == "bad_path"
    assert sandbox.stats()["plantid_identify"] == 2


# --- item: numeric settings and the config file --------------------------------------------------


@pytest.mark.parametrize(
    "env, message",
    [
        ({"PLANTID_TIMEOUT": "nan"}, "'timeout' must be a finite number"),
        ({"PLANTID_TIMEOUT": "inf"}, "'timeout' must be a finite number"),
        ({"PLANTID_TIMEOUT": "1e10"}, "timeout must be at most 604800 seconds"),
        ({"PLANTID_LOCK_TIMEOUT": "-inf"}, "'lock_timeout' must be a finite number"),
        ({"PLANTID_CONFIDENCE_THRESHOLD": "nan"}, "must be a finite number"),
        ({"PLANTID_CONFIDENCE_THRESHOLD": "1.5"}, "confidence_threshold must be between 0 and 1"),
        ({"PLANTID_MAX_MEGAPIXELS": "200"}, "max_megapixels must be at most 89.4785"),
        ({"PLANTID_MAX_MEGAPIXELS": "0"}, "max_megapixels must be > 0"),
        ({"PLANTID_MAX_FILE_MB": "-1"}, "max_file_mb must be > 0"),
        ({"PLANTID_CACHE_TTL": "-5"}, "cache_ttl must be > 0"),
        ({"PLANTID_CACHE_SIZE_LIMIT": "-1"}, "cache_size_limit must be >= 0"),
        ({"PLANTID_CREDITS_COOLDOWN": "-1"}, "credits_cooldown must be >= 0"),
        ({"PLANTID_CONCURRENCY": "-3"}, "concurrency must be >= 1"),
        ({"PLANTID_RETRIES": "-1"}, "retries must be >= 0"),
        ({"PLANTID_BREAKER_RESET_TIMEOUT": "nan"}, "must be a finite number"),
        ({"PLANTID_CACHE_SIZE_LIMIT": "9" * 23}, "'cache_size_limit' is too large"),
    ],
)
def test_impossible_numbers_are_configuration_errors(tmp_path, sandbox, cli_env, env, message):
    photo = green_photo(tmp_path / "leaf.jpg")
    result = run_plantid(["identify", photo], {**cli_env, **env})
    assert result.returncode == 3, result.stdout + result.stderr
    assert message in result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert sandbox.stats()["plantid_identify"] == 0


def test_a_config_file_named_but_missing_is_a_configuration_error(tmp_path, sandbox, cli_env):
    missing = tmp_path / "conifg.toml"  # a typo: running on defaults would hide it
    photo = green_photo(tmp_path / "leaf.jpg")
    env = {**cli_env, "PLANTID_CONFIG": str(missing)}
    for args in (["identify", photo], ["config", "show"]):
        result = run_plantid(args, env)
        assert result.returncode == 3, result.stdout + result.stderr
        assert f"PLANTID_CONFIG names {missing}, which does not exist" in result.stderr
    assert sandbox.stats()["plantid_identify"] == 0


def test_the_pillow_limit_known_to_config_is_pillows():
    from PIL import Image

    from plantid_cli.config import Settings
    from plantid_cli.constants import PILLOW_MAX_IMAGE_PIXELS

    assert PILLOW_MAX_IMAGE_PIXELS == Image.MAX_IMAGE_PIXELS
    assert Settings().max_megapixels * 1_000_000 <= Image.MAX_IMAGE_PIXELS


@pytest.mark.parametrize("threshold", ["2", "-0.1", "nan"])
def test_tag_confidence_threshold_outside_0_to_1_is_a_usage_error(tmp_path, cli_env, threshold):
    results = tmp_path / "results.ndjson"
    results.write_text("")
    result = run_plantid(["tag", results, "--confidence-threshold", threshold], cli_env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--confidence-threshold must be between 0 and 1" in result.stderr


# --- item: usage_info counts are floats ----------------------------------------------------------


def test_usage_with_float_counts_ends_the_credits_cool_down(tmp_path, sandbox, cli_env):
    sandbox.configure(credits=0)
    photo = green_photo(tmp_path / "topup.jpg")
    # --yes: past the credit check (usage_info says 0 left), to meet the 429 itself
    assert run_plantid(["identify", photo, "--yes"], cli_env).returncode == 4
    sandbox.configure(credits=50)  # a top-up
    usage = run_plantid(["usage", "--format", "json"], cli_env)
    assert usage.returncode == 0, usage.stderr
    total = json.loads(usage.stdout)["remaining"]["total"]
    assert total == 50  # the sandbox sends 50.0, as the real service does; shown as a count
    assert "cool-down is over" in usage.stderr
    status = run_plantid(["status", "--format", "json"], cli_env)
    credits = json.loads(status.stdout)["providers"]["plantid"]["credits"]
    assert credits["exhausted"] is False and credits["remaining"] == 50
    result = run_plantid(["identify", photo], cli_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sandbox.stats()["plantid_identify"] == 2


def test_keys_set_refuses_a_key_with_an_inner_control_character(cli_env, isolated_env):
    keys_file = isolated_env / "config" / "keys.json"
    result = run_plantid(["keys", "set", "plantid"], cli_env, input="pasted-key\x1b[2~tail\n")
    assert result.returncode == 2, result.stderr
    assert "nothing stored" in result.stderr and "pasted-key" not in result.stderr
    assert not keys_file.exists()
    stored = run_plantid(["keys", "set", "plantid"], cli_env, input=STRIPPED_KEY + "\r\n")
    assert stored.returncode == 0, stored.stderr
    assert json.loads(keys_file.read_text()) == {"plantid": STRIPPED_KEY}


# --- item: a keys file that is empty, /dev/null, a device, or JSON of the wrong shape --------


def test_an_empty_keys_file_or_dev_null_stores_no_keys(tmp_path, sandbox, cli_env):
    """Before: `PLANTID_KEYS_FILE=/dev/null` (the usual "none") or an empty file stopped every
    command: "keys file /dev/null: Expecting value" (exit 3), though the key was in the
    environment."""
    photo = green_photo(tmp_path / "leaf.jpg")
    empty = tmp_path / "empty.json"
    empty.write_text("\n")
    for keys in ("/dev/null", str(empty)):
        result = run_plantid(
            ["identify", photo, "-f", "json"], {**cli_env, "PLANTID_KEYS_FILE": keys}
        )
        assert result.returncode == 0, (keys, result.stderr)
        assert json.loads(result.stdout)[0]["status"] == "ok"


def test_a_keys_file_that_is_json_but_not_an_object_is_a_configuration_error(tmp_path, cli_env):
    """Before: `["a key"]` in the keys file was an internal error ('list' object has no
    attribute 'items') on every command."""
    keys = tmp_path / "keys.json"
    keys.write_text('["plantid-key"]')
    result = run_plantid(["config", "show"], {**cli_env, "PLANTID_KEYS_FILE": str(keys)})
    assert result.returncode == 3, result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert "not a JSON object" in result.stderr


def test_keys_set_never_replaces_a_device_named_as_the_keys_file(tmp_path, cli_env):
    """Before: with the keys file pointed at a device (`PLANTID_KEYS_FILE=/dev/null`, read as
    no keys), `keys set` renamed its new file over it: run as root, /dev/null became a file
    holding the key. Here a character device like /dev/null, made in the test's folder."""
    import os
    import stat

    node = tmp_path / "null"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("making a device node needs root (where the defect bit)")
    env = {**cli_env, "PLANTID_KEYS_FILE": str(node)}
    result = run_plantid(["keys", "set", "plantid"], env, input="stored-key-0123456789\n")
    assert result.returncode == 3, result.stderr
    assert "not a regular file" in result.stderr and "stored-key" not in result.stderr
    assert stat.S_ISCHR(os.stat(node).st_mode)  # still the device
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]  # no temporary file left


def test_keys_set_keeps_the_entries_of_the_keys_file_that_are_not_keys(tmp_path, cli_env):
    """Before: `{"plantid": 5, "note": "keep"}` then `keys set plantnet` rewrote the file
    with the plantnet key alone: the note and the other entry were dropped, exit 0."""
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"plantid": 5, "note": ["keep", "this"]}))
    env = {**cli_env, "PLANTID_KEYS_FILE": str(keys)}
    stored = run_plantid(["keys", "set", "plantnet"], env, input="pn-key-0123456789\n")
    assert stored.returncode == 0, stored.stderr
    assert json.loads(keys.read_text()) == {
        "plantid": 5, "note": ["keep", "this"], "plantnet": "pn-key-0123456789"
    }  # fmt: skip
    removed = run_plantid(["keys", "remove", "plantnet", "--yes"], env)
    assert removed.returncode == 0, removed.stderr
    assert json.loads(keys.read_text()) == {"plantid": 5, "note": ["keep", "this"]}


def test_an_empty_report_name_is_a_usage_error(tmp_path, sandbox, cli_env):
    """Before: `--report ''` wrote no report and said nothing, exit 0 (`-o ''` is an error)."""
    photo = green_photo(tmp_path / "leaf.jpg")
    result = run_plantid(["identify", photo, "--report", ""], cli_env)
    assert result.returncode == 2, result.stderr
    assert "--report needs a file name" in result.stderr
    assert sandbox.stats()["plantid_identify"] == 0  # refused before anything was bought


@pytest.mark.parametrize("form", [["-"], ["-0", "-"]])
def test_a_path_list_from_a_closed_stdin_is_a_usage_error(cli_env, sandbox, form):
    """`plantid identify - <&-`: Python starts with sys.stdin None; was an internal error
    (TypeError: 'NoneType' object is not iterable)."""
    import os
    import subprocess
    import sys

    from conftest import REPO

    result = subprocess.run(
        [sys.executable, "-m", "plantid_cli", "identify", *form],
        env=cli_env, cwd=REPO, capture_output=True, text=True, timeout=120,
        preexec_fn=lambda: os.close(0),
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "standard input, which is closed" in result.stderr
    assert "internal error" not in result.stderr
    assert sandbox.stats()["plantid_identify"] == 0


@pytest.mark.parametrize(
    ("args", "env", "said"),
    [
        (["--metrics-file", ""], {}, "--metrics-file (or PLANTID_METRICS_FILE) needs a file name"),
        ([], {"PLANTID_METRICS_FILE": " "}, "needs a file name (it was given an empty one)"),
        (["-o", ""], {}, "--output needs a file name (it was given an empty one)"),
    ],
)
def test_an_empty_output_or_metrics_file_name_is_a_usage_error(
    tmp_path, sandbox, cli_env, args, env, said
):
    """Before: `--metrics-file ''` wrote no metrics and said nothing, exit 0; `-o ''` said
    "--output : is a folder, not a file" (the empty path read as the current folder)."""
    photo = green_photo(tmp_path / "leaf.jpg")
    # run in tmp_path: a run that took the blank name wrote its metrics there, as a file named
    # " " in the current folder (one such run, of the code before, left it in the repository)
    result = run_plantid(["identify", photo, "-f", "ndjson", *args], {**cli_env, **env},
                         cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert said in result.stderr
    assert "is a folder" not in result.stderr
    assert sandbox.stats()["plantid_identify"] == 0


def test_a_cache_folder_that_cannot_be_made_still_answers_with_warnings(tmp_path, sandbox, cli_env):
    """PLANTID_CACHE_DIR=/proc/self: the result cache's folder cannot be made (ENOENT under
    /proc); was "internal error: FileNotFoundError". Now the run answers, says once that answers
    are not stored, and the hash index is not called damaged (nothing there to move aside)."""
    photo = green_photo(tmp_path / "leaf.jpg")
    result = run_plantid(["identify", photo, "-f", "ndjson"],
                         {**cli_env, "PLANTID_CACHE_DIR": "/proc/self"})  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "ok"
    assert "answers are not being stored" in result.stderr
    assert "internal error" not in result.stderr and "damaged" not in result.stderr
    assert sandbox.stats()["plantid_identify"] == 1


def test_config_path_create_refuses_a_config_path_that_is_a_folder(tmp_path, cli_env):
    """Before: it printed the folder, exit 0, and the README's `cp config.example.toml
    "$(plantid config path --create)"` copied the example into that folder under its own name,
    where nothing reads it."""
    folder = tmp_path / "conf.d"
    folder.mkdir()
    result = run_plantid(["config", "path", "--create"], {**cli_env, "PLANTID_CONFIG": str(folder)})
    assert result.returncode == 3, result.stderr
    assert result.stdout == ""
    assert f"{folder} is a folder, not a config file (PLANTID_CONFIG)" in result.stderr


def test_a_keys_file_entry_that_is_no_key_is_named_in_the_missing_key_error(
    tmp_path, sandbox, cli_env
):
    """A hand-edited keys file with a number under "plantid": the entry is kept but is no key;
    before, the run said only "no API key for plantid", as if the file held nothing."""
    keys = tmp_path / "keys.json"
    keys.write_text('{"plantid": 1234567890123}')
    env = {k: v for k, v in cli_env.items() if k != "PLANTID_API_KEY"}
    env["PLANTID_KEYS_FILE"] = str(keys)
    result = run_plantid(["identify", green_photo(tmp_path / "leaf.jpg"), "-f", "ndjson"], env)
    assert result.returncode == 3, result.stderr
    assert f"keys file {keys} holds a number for plantid, not a key" in result.stderr
    assert "1234567890123" not in result.stderr + result.stdout
    assert sandbox.stats()["plantid_identify"] == 0


@pytest.mark.parametrize("which", ["PLANTID_CONFIG", "PLANTID_KEYS_FILE"])
def test_a_pipe_or_an_endless_device_as_the_config_or_keys_file_is_refused(
    tmp_path, sandbox, cli_env, which
):
    """Before: a FIFO named as the config or keys file hung every command (waiting for a
    writer that never came), and /dev/zero was read until memory ran out."""
    import os

    fifo = tmp_path / "settings.fifo"
    os.mkfifo(fifo)
    photo = green_photo(tmp_path / "leaf.jpg")
    label = "config file" if which == "PLANTID_CONFIG" else "keys file"
    for target, said in ((fifo, "a pipe, not a file"), ("/dev/zero", "larger than 1 MB")):
        result = run_plantid(["identify", photo, "-f", "ndjson"], {**cli_env, which: str(target)})
        assert result.returncode == 3, result.stderr
        assert f"{label} {target}: {said}" in result.stderr
    assert sandbox.stats()["plantid_identify"] == 0


def test_a_pipe_where_the_shared_state_file_should_be_does_not_hang_the_run(
    tmp_path, sandbox, cli_env
):
    """Before: the state file's stand-in copied from it read-only, and a read-only open of a
    FIFO waits for a writer for ever (the fast path's credits check hung). Now: the run goes
    on with its state kept by this process alone, and says so."""
    import os

    cache = tmp_path / "cache"
    cache.mkdir()
    os.mkfifo(cache / "state.sqlite3")
    photo = green_photo(tmp_path / "leaf.jpg")
    result = run_plantid(["identify", photo, "-f", "ndjson"],
                         {**cli_env, "PLANTID_CACHE_DIR": str(cache)}, timeout=30)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "ok"
    assert "kept by this process alone" in result.stderr
    assert sandbox.stats()["plantid_identify"] == 1
