"""Issue 13, items 2 and 6: one options object with the only defaults, a run that returns a
result, choices declared to the parser, help that shows choices and defaults, `tag` taking its
threshold from the settings."""

from __future__ import annotations

import hashlib
import json
import threading

import pytest
from conftest import TEST_KEY, run_plantid
from photos import green_photo

from plantid_cli.errors import EXIT_IMAGE_FAILED, EXIT_INTERRUPTED, UsageError
from plantid_cli.run.options import IdentifyOptions, RunResult

WIDE = {"COLUMNS": "200", "TERMINAL_WIDTH": "200"}  # help and errors on one line each

COMMANDS = [
    [],
    ["identify"],
    ["tag"],
    ["report"],
    ["status"],
    ["usage"],
    ["demo"],
    ["sandbox"],
    ["cache", "stats"],
    ["cache", "clear"],
    ["keys", "set"],
    ["keys", "list"],
    ["config", "show"],
    ["breaker", "reset"],
]


# ----- help -------------------------------------------------------------------------------------


def test_identify_help_shows_the_choices_and_defaults_and_no_internal_type_names(cli_env):
    result = run_plantid(["identify", "--help"], {**cli_env, **WIDE})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Usage: plantid identify [OPTIONS] PATHS..." in out
    assert "<table|json|ndjson|csv>" in out
    assert "<plantid|plantnet|auto|both>" in out
    assert "<leaf|flower|fruit|bark|auto>" in out
    assert "<short|full>" in out and "<text|json>" in out and "<folder>" in out
    assert "Suggestions per record (default: 3)." in out  # from config.Settings
    assert "mark the name cf (default: 0.5)." in out
    assert "[default: short]" in out  # from IdentifyOptions
    for internal in ("<bool>", "<list[str]>", "{paths}"):
        assert internal not in out


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "plantid")
def test_no_help_shows_bool_list_or_braces(cli_env, command):
    result = run_plantid([*command, "--help"], {**cli_env, **WIDE})
    assert result.returncode == 0, result.stderr
    assert "Usage: plantid" in result.stdout
    for internal in ("<bool>", "<list[", "{"):
        assert internal not in result.stdout, internal


def test_status_and_breaker_help_offer_their_choices(cli_env):
    status = run_plantid(["status", "--help"], {**cli_env, **WIDE}).stdout
    assert "<table|json|prometheus>" in status
    assert "(default: table on a terminal, json otherwise)" in status  # issue 16
    reset = run_plantid(["breaker", "reset", "--help"], {**cli_env, **WIDE}).stdout
    assert "<plantid|plantnet|all>" in reset and "[default: all]" in reset
    assert "Usage: plantid breaker reset [OPTIONS] [PROVIDER]" in reset


@pytest.mark.parametrize(
    "command",
    [["cache", "clear", "--yes"], ["config", "show"], ["keys", "list"], ["status"]],
    ids=" ".join,
)
def test_the_shared_options_are_accepted_after_every_command(cli_env, command):
    """Declared once (cli/options.py), taken by every command: after the command name as
    before it, and with --log-format json every stderr line is one JSON object."""
    result = run_plantid([*command, "--log-format", "json", "-v", "--debug"], cli_env)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert all(isinstance(json.loads(line), dict) for line in lines), lines
    if command[0] == "cache":
        (note,) = (json.loads(line) for line in lines)
        assert note["message"].startswith("removed ")


# ----- invalid choices: Click's message, exit 2, nothing sent -----------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["identify", "PHOTO", "-f", "xml"],
            "Invalid value for '--format' / '-f': 'xml' is not one of "
            "'table', 'json', 'ndjson', 'csv'.",
        ),
        (["identify", "PHOTO", "--top", "2", "--group-by", "day"], "'day' is not one of 'folder'"),
        (["identify", "PHOTO", "--xmp-name", "odd"], "Invalid value for '--xmp-name': 'odd'"),
        (["status", "-f", "yaml"], "'yaml' is not one of 'table', 'json', 'prometheus'."),
        (["usage", "-f", "prometheus"], "'prometheus' is not one of 'table', 'json'."),
        (["breaker", "reset", "redis"], "'redis' is not one of 'plantid', 'plantnet', 'all'."),
        (["keys", "set", "gbif"], "'gbif' is not one of 'plantid', 'plantnet'."),
        (["--log-format", "yaml", "status"], "'yaml' is not one of 'text', 'json'."),
    ],
)
def test_an_invalid_choice_is_exit_2_with_clicks_message(cli_env, sandbox, tmp_path, args, message):
    photo = green_photo(tmp_path / "leaf.jpg")
    args = [str(photo) if arg == "PHOTO" else arg for arg in args]
    result = run_plantid(args, {**cli_env, **WIDE})
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert sandbox.stats()["plantid_identify"] == 0


# ----- tag: the threshold comes from the settings ------------------------------------------------


def _tag_with(tmp_path, cli_env, env, *flags):
    from plantid_cli.outputs.xmp import check_available

    try:
        check_available()
    except Exception as exc:  # Exempi missing: the sidecar cannot be written at all
        pytest.skip(str(exc))
    photo = green_photo(tmp_path / "wheat.jpg")
    digest = hashlib.sha256(photo.read_bytes()).hexdigest()
    record = {
        "schema_version": 1,
        "index": 0,
        "path": "wheat.jpg",
        "sha256": digest,
        "status": "ok",
        "provider": "plantid",
        "cached": False,
        "best": {"scientific_name": "Triticum durum", "probability": 0.6, "family": "Poaceae"},
        "suggestions": [],
        "identified_at": "2026-11-28T13:33:22+00:00",
        "error": None,
    }
    results = tmp_path / "results.ndjson"
    results.write_text(json.dumps(record) + "\n")
    result = run_plantid(["tag", results, *flags], {**cli_env, **env}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return (tmp_path / "wheat.xmp").read_text(encoding="utf-8")


def test_tag_takes_the_confidence_threshold_from_the_environment(tmp_path, cli_env):
    # 0.6 is above the built-in 0.5 but below the configured 0.7: a cf. identification
    sidecar = _tag_with(tmp_path, cli_env, {"PLANTID_CONFIDENCE_THRESHOLD": "0.7"})
    assert "identificationQualifier" in sidecar and "cf." in sidecar


def test_tag_without_configuration_uses_the_built_in_threshold(tmp_path, cli_env):
    sidecar = _tag_with(tmp_path, cli_env, {})
    assert "Triticum durum" in sidecar and "cf." not in sidecar


def test_tag_flag_wins_over_the_environment(tmp_path, cli_env):
    env = {"PLANTID_CONFIDENCE_THRESHOLD": "0.7"}
    sidecar = _tag_with(tmp_path, cli_env, env, "--confidence-threshold", "0.5")
    assert "Triticum durum" in sidecar and "cf." not in sidecar


# ----- the options object -----------------------------------------------------------------------


def test_the_defaults_override_no_setting_and_shard_text_is_parsed():
    assert IdentifyOptions().setting_overrides() == {}
    options = IdentifyOptions(paths=["a.jpg"], shard="1/4", top=2, provider="both")
    assert options.paths == ("a.jpg",) and options.shard == (1, 4)
    assert options.setting_overrides() == {"top": 2, "provider": "both"}
    assert IdentifyOptions(paths="one.jpg").paths == ("one.jpg",)  # one path, not its letters


@pytest.mark.parametrize(
    "options, message",
    [
        ({"latitude": 1.0}, "--lat and --lon go together"),
        ({"latitude": 91.0, "longitude": 0.0}, "--lat must be between -90 and 90"),
        ({"latitude": 1.0, "longitude": 2.0, "no_location": True}, "cannot go with --lat"),
        ({"use_cache": False, "refresh": True}, "--no-cache and --refresh"),
        ({"paths": ("-", "-")}, "'-' (read paths from stdin) can be given only once"),
        ({"shard": "4/4"}, "--shard '4/4'"),
        ({"shard": "x"}, "--shard must be I/N"),
        ({"group_by": "day"}, "--group-by must be folder"),
        ({"max_credits": -1}, "--max-credits must be 0 or more"),
        ({"xmp_name": "full"}, "--xmp-name goes with --write-xmp"),
        ({"format": "xml"}, "--format must be one of"),
    ],
)
def test_a_bad_combination_is_refused_when_the_options_are_built(options, message):
    with pytest.raises(UsageError) as caught:
        IdentifyOptions(**options)
    assert message in caught.value.message


def test_the_options_are_frozen():
    options = IdentifyOptions()
    with pytest.raises(AttributeError):
        options.refresh = True  # type: ignore[misc]


# ----- the core returns a result ----------------------------------------------------------------


@pytest.fixture
def settings(sandbox, tmp_path):
    from plantid_cli.config import load_settings

    environ = {
        "PLANTID_API_URL": sandbox.plantid_url,
        "PLANTID_API_KEY": TEST_KEY,
        "PLANTID_RATE_LIMIT": "off",
        "PLANTID_RETRIES": "0",
        "PLANTID_CACHE_DIR": str(tmp_path / "cache"),
        "PLANTID_KEYS_FILE": str(tmp_path / "keys.json"),
    }
    return load_settings({}, environ, tmp_path / "no-config.toml")


class Collect:
    def __init__(self) -> None:
        self.records: list[dict] = []
        self.closed = False

    def write(self, record: dict) -> None:
        self.records.append(record)

    def close(self) -> None:
        self.closed = True


def test_a_library_run_returns_its_result(settings, sandbox, tmp_path):
    from plantid_cli.run.batch import run_batch

    green_photo(tmp_path / "photos" / "leaf.jpg")
    writer = Collect()
    result = run_batch(settings, IdentifyOptions(paths=[tmp_path / "photos"]), writer)
    assert isinstance(result, RunResult)
    assert (result.exit_code, result.interrupted, result.empty_folders) == (0, False, ())
    assert result.stats.done == 1 and result.stats.credits_used == 1
    assert [r["status"] for r in writer.records] == ["ok"] and writer.closed
    assert sandbox.stats()["plantid_identify"] == 1


def test_a_failed_photo_and_an_empty_folder_give_exit_1(settings, sandbox, tmp_path):
    from plantid_cli.run.batch import run_batch

    (tmp_path / "empty").mkdir()
    options = IdentifyOptions(paths=[tmp_path / "missing.jpg", tmp_path / "empty"])
    result = run_batch(settings, options, Collect())
    assert result.exit_code == EXIT_IMAGE_FAILED and result.interrupted is False
    assert len(result.empty_folders) == 1 and result.empty_folders[0].endswith("empty")
    assert sandbox.stats()["plantid_identify"] == 0


def test_a_run_given_a_set_stop_event_is_interrupted_and_sends_nothing(settings, sandbox, tmp_path):
    from plantid_cli.run.batch import run_batch

    for i in range(3):
        green_photo(tmp_path / "photos" / f"{i}.jpg", seed=i)
    stop = threading.Event()
    stop.set()  # e.g. a Ctrl-C before the run began
    writer = Collect()
    result = run_batch(settings, IdentifyOptions(paths=[tmp_path / "photos"]), writer, stop=stop)
    assert result.interrupted is True and result.exit_code == EXIT_INTERRUPTED
    assert writer.closed and result.stats.credits_used == 0
    assert sandbox.stats()["plantid_identify"] == 0


def test_stopping_during_a_run_lets_the_answer_in_flight_land(settings, sandbox, tmp_path):
    """The stop event set from another thread while the first answer is awaited (as a signal
    handler does): no new request starts, the one in flight is recorded and paid once."""
    from plantid_cli.run.batch import run_batch

    for i in range(4):
        green_photo(tmp_path / "photos" / f"{i}.jpg", seed=i)
    sandbox.configure(latency_ms=1500)
    settings.concurrency = 1
    stop = threading.Event()

    def stop_when_the_first_call_arrives() -> None:
        while not sandbox.stats()["calls"]:
            if stop.wait(0.02):
                return
        stop.set()

    watcher = threading.Thread(target=stop_when_the_first_call_arrives, daemon=True)
    watcher.start()
    writer = Collect()
    result = run_batch(settings, IdentifyOptions(paths=[tmp_path / "photos"]), writer, stop=stop)
    watcher.join(timeout=60)
    assert result.interrupted is True and result.exit_code == EXIT_INTERRUPTED
    assert sandbox.stats()["plantid_identify"] == 1
    assert [r["status"] for r in writer.records] == ["ok"]
    assert result.stats.credits_used == 1
