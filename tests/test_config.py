"""Configuration: flags > environment > config file > defaults, for generated values; the example
config is complete and valid; `config show` never shows a key."""

from __future__ import annotations

import dataclasses
import json
import re
import tempfile
import tomllib
from pathlib import Path

import pytest
from conftest import REPO, run_plantid
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from photos import green_photo

from plantid_cli.config import Settings, coerce, load_settings
from plantid_cli.constants import MAX_WAIT_SECONDS
from plantid_cli.errors import ConfigError, UsageError

EXAMPLE = REPO / "config.example.toml"

_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
_spec = st.sampled_from(["off", "5/second", "1/s", "10/minute,1000/day", "2/hour"])

#: field -> strategy of valid typed values
FIELDS = {
    "timeout": st.floats(
        min_value=0.001, max_value=MAX_WAIT_SECONDS, allow_nan=False, allow_infinity=False
    ),
    "retries": st.integers(min_value=0, max_value=20),
    "concurrency": st.integers(min_value=1, max_value=256),
    "top": st.integers(min_value=1, max_value=20),
    "language": st.sampled_from(["en", "de", "fr", "en,de", "cs"]),
    "rate_limit": _spec,
    "similar_images": st.booleans(),
    "details": st.lists(_word, min_size=1, max_size=4),
    "confidence_threshold": st.floats(min_value=0, max_value=1, allow_nan=False),
    "breaker_fail_max": st.integers(min_value=1, max_value=100),
}


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return json.dumps(value)  # a TOML basic string for these alphabets


@st.composite
def env_text(draw, value: object) -> str:
    """How a user could spell the value in an environment variable."""
    if isinstance(value, bool):
        words = ["1", "true", "yes", "on", "TRUE"] if value else ["0", "false", "no", "off"]
        return draw(st.sampled_from(words))
    if isinstance(value, list):
        separator = draw(st.sampled_from([",", ", ", " ,"]))
        return separator.join(value)
    return repr(value) if isinstance(value, float) else str(value)


@st.composite
def layers(draw):
    """For each field, an optional value in the file, in the environment and as a flag."""
    plan = {}
    for name, values in FIELDS.items():
        plan[name] = {layer: draw(st.none() | values) for layer in ("file", "env", "flag")}
    keys = {
        layer: draw(st.none() | _word.map(lambda w: f"key-{w}-0000"))
        for layer in ("file", "keys_file", "env")
    }
    return plan, keys


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), drawn=layers())
def test_flags_beat_env_beat_file_beat_defaults(data, drawn):
    plan, keys = drawn
    defaults = Settings()
    with tempfile.TemporaryDirectory() as folder:
        config_path = Path(folder) / "config.toml"
        keys_path = Path(folder) / "keys.json"
        lines = [
            f"{name} = {toml_value(p['file'])}" for name, p in plan.items() if p["file"] is not None
        ]
        if keys["file"] is not None:
            lines.append(f"api_key = {toml_value(keys['file'])}")
        config_path.write_text("\n".join(lines) + "\n")
        if keys["keys_file"] is not None:
            keys_path.write_text(json.dumps({"plantid": keys["keys_file"]}))
        environ = {"PLANTID_KEYS_FILE": str(keys_path), "PLANTID_CONFIG": str(config_path)}
        for name, p in plan.items():
            if p["env"] is not None:
                environ["PLANTID_" + name.upper()] = data.draw(env_text(p["env"]))
        if keys["env"] is not None:
            environ["PLANTID_API_KEY"] = keys["env"]
        flags = {name: p["flag"] for name, p in plan.items()}
        if flags["details"] is not None:
            flags["details"] = ",".join(flags["details"])  # what the CLI passes
        merged = load_settings(flags, environ)

    for name, p in plan.items():
        expected = next(
            (p[layer] for layer in ("flag", "env", "file") if p[layer] is not None),
            getattr(defaults, name),
        )
        assert getattr(merged, name) == expected, name
    expected_key = next((keys[k] for k in ("env", "keys_file", "file") if keys[k]), None)
    assert merged.api_key == expected_key
    untouched = set(dataclasses.asdict(defaults)) - set(FIELDS) - {"api_key"}
    for name in untouched:
        assert getattr(merged, name) == getattr(defaults, name), name


@given(st.integers(min_value=-(10**9), max_value=10**9))
def test_int_settings_accept_integral_values_only(number):
    assert coerce("retries", number, "test") == number
    assert coerce("retries", str(number), "test") == number
    assert coerce("retries", float(number), "test") == number
    with pytest.raises(ConfigError, match="'retries' must be int"):
        coerce("retries", number + 0.5, "test")


def test_bad_values_name_their_setting_and_source(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("timout = 3\n")
    with pytest.raises(ConfigError, match="unknown setting 'timout'"):
        load_settings({}, {"PLANTID_KEYS_FILE": str(tmp_path / "k.json")}, config)
    config.write_text('retries = "many"\n')
    with pytest.raises(ConfigError, match=r"config file .*'retries' must be int"):
        load_settings({}, {"PLANTID_KEYS_FILE": str(tmp_path / "k.json")}, config)
    config.write_text("")
    with pytest.raises(ConfigError, match="environment PLANTID_TIMEOUT: 'timeout' must be float"):
        load_settings({}, {"PLANTID_TIMEOUT": "soon", "PLANTID_KEYS_FILE": "x"}, config)
    with pytest.raises(ConfigError, match="timeout must be > 0"):
        load_settings({}, {"PLANTID_TIMEOUT": "0", "PLANTID_KEYS_FILE": "x"}, config)
    with pytest.raises(UsageError, match="--timeout must be > 0"):  # a flag: usage error
        load_settings({"timeout": 0}, {"PLANTID_KEYS_FILE": "x"}, config)
    config.write_text("[plantid]\nmax-image-side = 800\n")  # table and dashes are accepted
    assert load_settings({}, {"PLANTID_KEYS_FILE": "x"}, config).max_image_side == 800


@pytest.mark.parametrize(
    "args, message",
    [
        (["--top", "0"], "--top must be >= 1"),
        (["--concurrency", "0"], "--concurrency must be >= 1"),
        (["--max-side", "0"], "--max-side must be >= 1"),
        # fixed sets are declared to the parser: Click's message names the flag and the choices
        (["--provider", "foo"], "Invalid value for '--provider': 'foo' is not one of"),
        (["--organ", "stem"], "Invalid value for '--organ': 'stem' is not one of"),
        (["--confidence-threshold", "2"], "--confidence-threshold must be between 0 and 1"),
        (["--log-format", "yaml"], "Invalid value for '--log-format': 'yaml' is not one of"),
    ],
)
def test_a_bad_flag_value_is_a_usage_error_named_by_its_flag(cli_env, tmp_path, args, message):
    """Exit table: a bad flag is 2 (usage), not 3 (configuration), and nothing is sent."""
    photo = green_photo(tmp_path / "leaf.jpg")
    result = run_plantid(["identify", photo, *args], cli_env)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "env, message",
    [
        ({"PLANTID_TOP": "0"}, "top must be >= 1"),
        ({"PLANTID_RATE_LIMIT": "5/fortnight"}, "rate_limit is invalid"),
        ({"PLANTID_RATE_LIMIT": "abc"}, "rate_limit is invalid"),
        ({"PLANTID_LOG_FORMAT": "yaml"}, "PLANTID_LOG_FORMAT must be text or json"),
        ({"PLANTID_API_URL": "127.0.0.1:8765/api/v3"}, "api_url must start with http://"),
    ],
)
@pytest.mark.parametrize("command", [["identify", "PHOTO"], ["identify", "PHOTO", "--top", "2"]])
def test_a_bad_setting_is_a_configuration_error(cli_env, tmp_path, env, message, command):
    """From the environment (or file) it is exit 3 with the setting named, never a traceback;
    the bare form also goes through the no-Typer fast path (cli/fastpath.py)."""
    photo = green_photo(tmp_path / "leaf.jpg")
    args = [photo if arg == "PHOTO" else arg for arg in command]
    if "--top" in args and "PLANTID_TOP" in env:
        pytest.skip("the flag overrides the bad setting")
    result = run_plantid(args, {**cli_env, **env})
    assert result.returncode == 3, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    if "PLANTID_LOG_FORMAT" not in env:  # `status` writes no logs
        status = run_plantid(["status"], {**cli_env, **env})
        assert status.returncode == 3 and "internal error" not in status.stderr, status.stderr


@pytest.mark.parametrize("command", [["status"], ["cache", "clear", "--yes"], ["identify"]])
def test_an_unusable_cache_folder_is_a_configuration_error(cli_env, tmp_path, command):
    """It was 'internal error: NotADirectoryError' (exit 1)."""
    (tmp_path / "a-file").write_text("not a folder")
    env = {**cli_env, "PLANTID_CACHE_DIR": str(tmp_path / "a-file")}
    if command == ["identify"]:
        command = ["identify", green_photo(tmp_path / "leaf.jpg")]
    result = run_plantid(command, env)
    assert result.returncode == 3, result.stderr
    assert "cache folder" in result.stderr and "PLANTID_CACHE_DIR" in result.stderr
    assert "internal error" not in result.stderr


# --- config.example.toml -------------------------------------------------------------------------


def test_example_config_loads_and_every_key_is_valid_with_its_default():
    data = tomllib.loads(EXAMPLE.read_text())
    assert data, "the example sets some keys"
    defaults = dataclasses.asdict(Settings())
    for name, value in data.items():
        assert coerce(name, value, "example") == defaults[name], name
    merged = load_settings({}, {"PLANTID_KEYS_FILE": "/nonexistent/keys.json"}, EXAMPLE)
    assert dataclasses.asdict(merged) == defaults


def test_example_config_documents_every_setting():
    text = EXAMPLE.read_text()
    documented = set(re.findall(r"^#?\s*([a-z_]+)\s*=", text, flags=re.MULTILINE))
    missing = {f.name for f in dataclasses.fields(Settings)} - documented
    assert not missing, f"config.example.toml does not mention {sorted(missing)}"


def test_example_config_commented_lines_are_valid_too():
    """Uncommenting any `# key = value` line gives a valid setting."""
    for line in EXAMPLE.read_text().splitlines():
        match = re.match(r"^#\s*([a-z_]+\s*=\s*.+?)\s*(#.*)?$", line)
        if not match:
            continue
        try:
            data = tomllib.loads(match.group(1))
        except tomllib.TOMLDecodeError:
            continue  # prose that merely looks like an assignment
        for name, value in data.items():
            coerce(name, value, "example (commented)")


# --- config show ---------------------------------------------------------------------------------


def test_config_show_merges_and_redacts(cli_env, isolated_env):
    config = isolated_env / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    file_key = "file-key-abcdef0123456"
    config.write_text(f'api_key = "{file_key}"\ntimeout = 7.0\nretries = 5\ntop = 4\n')
    env = {**cli_env, "PLANTID_TIMEOUT": "9", "PLANTID_CONFIG": str(config)}
    env.pop("PLANTID_API_KEY")
    result = run_plantid(["config", "show", "--json"], env)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["timeout"] == 9.0  # env beats file
    assert shown["retries"] == 0  # cli_env sets PLANTID_RETRIES=0
    assert shown["top"] == 4  # file beats default
    assert shown["api_key"] == "****56"
    assert file_key not in result.stdout + result.stderr
    assert shown["plantnet_api_key"].startswith("****")
    assert cli_env["PLANTNET_API_KEY"] not in result.stdout
    text = run_plantid(["config", "show", "-f", "table"], env)
    assert 'api_key = "****56"' in text.stdout
    assert file_key not in text.stdout + text.stderr


@pytest.mark.parametrize("raw", [b"\x0c", b"\x0b\n", b" \r "])
def test_a_config_file_of_what_toml_is_not_whitespace_is_a_configuration_error(tmp_path, raw):
    """Red team: a file of form feeds or vertical tabs (bytes.strip() whitespace, not TOML's)
    was read as empty and the run went on on defaults; TOML refuses it, so must plantid."""
    config = tmp_path / "config.toml"
    config.write_bytes(raw)
    with pytest.raises(ConfigError, match="config file"):
        load_settings({}, environ={"PLANTID_CONFIG": str(config)})


@pytest.mark.parametrize("raw", [b"", b" \t\n", b"\r\n\r\n"])
def test_an_empty_config_file_sets_nothing(tmp_path, raw):
    config = tmp_path / "config.toml"
    config.write_bytes(raw)
    assert load_settings({}, environ={"PLANTID_CONFIG": str(config)}) == load_settings(
        {}, environ={"PLANTID_CONFIG": "/dev/null"}
    )
