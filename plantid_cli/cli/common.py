"""Shared CLI plumbing: stderr console, logging set-up, settings loading, the error boundary.

The error boundary is the one place where exceptions become exit codes and short messages
(httpie's habit): expected failures never show a traceback; `--debug` re-raises.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from datetime import UTC
from typing import Any

from plantid_cli.cli import stdout
from plantid_cli.constants import DEBUG_ENV, LOG_FORMAT_ENV, LOG_FORMATS
from plantid_cli.errors import ConfigError, OutputError, PlantidError, UsageError
from plantid_cli.redact import RedactingFilter, one_line, redact, register_secret

_state: dict[str, Any] = {"debug": False, "verbose": 0, "log_format": None}


def set_global(**values: Any) -> None:
    for key, value in values.items():
        if value:
            _state[key] = value


def debug_enabled() -> bool:
    return bool(_state["debug"]) or os.environ.get(DEBUG_ENV) == "1"


def json_logs() -> bool:
    """True when stderr must carry only JSON objects (`--log-format json`)."""
    if _state.get("json_logs") is not None:
        return bool(_state["json_logs"])
    return (_state["log_format"] or os.environ.get(LOG_FORMAT_ENV)) == "json"


def _to_stderr(text: str) -> None:
    """Diagnostics that cannot be written (`2>/dev/full`, stderr closed) are dropped: the exit
    code says what happened to the photos, and failing over a note would hide that."""
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):  # full, closed, or None (started closed)
        pass


def _write_json_line(level: str, event: str, message: str, fields: dict[str, Any]) -> None:
    record = logging.LogRecord("plantid", logging.INFO, "", 0, message, None, None)
    record.levelname = level.upper()
    record.event = event
    record.fields = fields
    _to_stderr(JsonLogFormatter().format(record) + "\n")


def print_error(message: str, event: str = "error", **fields: Any) -> None:
    if json_logs():
        _write_json_line("error", event, redact(message), fields)
        return
    _to_stderr(f"plantid: error: {one_line(redact(message))}\n")


def print_note(message: str, event: str = "note", **fields: Any) -> None:
    """A line for the user on stderr; with JSON logs an object with `event` and `fields`."""
    if json_logs():
        _write_json_line("info", event, redact(message), fields)
        return
    _to_stderr(f"plantid: {one_line(redact(message))}\n")


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: ts, level, event, provider, path and numbers; never a key."""

    def format(self, record: logging.LogRecord) -> str:
        from datetime import datetime

        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": getattr(record, "event", "log"),
        }
        if record.name != "plantid":
            payload["logger"] = record.name
        for key, value in (getattr(record, "fields", None) or {}).items():
            payload[key] = (
                value if isinstance(value, (int, float, bool, type(None))) else redact(value)
            )
        payload["message"] = redact(record.getMessage())
        if record.exc_text:
            payload["exception"] = redact(record.exc_text)
        return redact(json.dumps(payload, ensure_ascii=False, default=str))


class TextLogFormatter(logging.Formatter):
    """`-v` lines as they are (`[CACHE] hit ...`); a warning or an error reads like every other
    one the tool prints (`plantid: warning: ...`, print_note/print_error), so a read-only
    cache or a full output is never a bare line a reader cannot place."""

    def __init__(self) -> None:
        super().__init__("%(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if record.levelno >= logging.WARNING and not record.exc_info:  # a traceback has lines
            text = one_line(text)
        if record.levelno >= logging.ERROR:
            return f"plantid: error: {text}"
        if record.levelno >= logging.WARNING:
            return f"plantid: warning: {text}"
        return text


def setup_logging(verbose: int = 0, debug: bool = False, log_format: str | None = None) -> None:
    """Install one stderr handler with the redaction filter; idempotent."""
    verbose = max(verbose, _state["verbose"] or 0)
    debug = debug or debug_enabled()
    _state["debug"] = debug  # a subcommand's --debug also shows tracebacks (run_guarded)
    flag = log_format or _state["log_format"]
    log_format = flag or os.environ.get(LOG_FORMAT_ENV)
    if log_format is not None and log_format not in LOG_FORMATS:
        allowed = " or ".join(LOG_FORMATS)
        if flag:  # typed on the command line: a usage error (exit 2); else configuration (3)
            raise UsageError(f"--log-format must be {allowed}, not {log_format!r}")
        raise ConfigError(f"{LOG_FORMAT_ENV} must be {allowed}, not {log_format!r}")
    logger = logging.getLogger("plantid")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    if log_format == "json":
        handler.setFormatter(JsonLogFormatter())
    else:
        handler.setFormatter(TextLogFormatter())
    logger.addHandler(handler)
    logger.propagate = False
    _state["json_logs"] = log_format == "json"
    # Other modules' log records and Python warnings reach stderr through the root logger:
    # with JSON logs they must be JSON objects too.
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_plantid", False)]:
        root.removeHandler(old)
    logging.captureWarnings(log_format == "json")
    if log_format == "json":
        root_handler = logging.StreamHandler(sys.stderr)
        root_handler._plantid = True  # type: ignore[attr-defined]
        root_handler.addFilter(RedactingFilter())
        root_handler.setFormatter(JsonLogFormatter())
        root_handler.setLevel(logging.WARNING)
        root.addHandler(root_handler)
    if debug or verbose >= 2:
        logger.setLevel(logging.DEBUG)
    elif verbose == 1 or log_format == "json":
        logger.setLevel(logging.INFO)
    else:
        logger.setLevel(logging.WARNING)


def load(flags: dict[str, Any] | None = None):
    # lazy: keeps config off every command's start-up (app imports all)
    from plantid_cli.config import load_settings

    settings = load_settings(flags or {})
    register_secret(settings.api_key)
    register_secret(settings.plantnet_api_key)
    return settings


def echo(text: str, nl: bool = True) -> None:
    """A line on stdout; a stdout that refuses it (full disk, closed) is an OutputError."""
    import typer

    if sys.stdout is None:
        raise OutputError.from_os_error(None)
    try:
        typer.echo(text, nl=nl)
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OutputError.from_os_error(exc) from None


def echo_mapping(
    data: dict[str, Any], as_json: bool, *, sep: str = ": ", render: Callable[[Any], str] = str
) -> None:
    """Print `data` on stdout: indented JSON, or one `key<sep>render(value)` line per item."""
    if as_json:
        echo(json.dumps(data, indent=2))
    else:
        for key, value in data.items():
            echo(f"{key}{sep}{render(value)}")


def run_guarded(func, *args: Any, **kwargs: Any) -> int:
    """Call `func`; map the error tree to exit codes. The only place that does.

    Logging is set up first (idempotent; identify sets it again with its own flags): a
    warning raised while a command opens its state (a damaged state file moved aside) went
    out through Python's last-resort handler, a bare line that broke `--log-format json`.
    An invalid log format is left to the commands that log (identify says so, exit 2 or 3).
    """
    try:
        try:
            setup_logging()
        except PlantidError:
            pass
        result = func(*args, **kwargs)
    except PlantidError as exc:
        if debug_enabled():
            _print_traceback()
        print_error(exc.message or type(exc).__name__)
        if isinstance(exc, OutputError):
            _silence_stdout()
        return exc.exit_code
    except KeyboardInterrupt:
        print_note("interrupted")
        return 130
    except BrokenPipeError as exc:  # a consumer like `head` closed the pipe
        return output_failed(exc)
    except Exception as exc:  # a bug: say so briefly; --debug shows where
        # stdout refused a write (a full disk, /dev/full) or was closed at start (`>&-`):
        # one line and exit 1, whichever command was printing
        if isinstance(exc, OSError) and stdout.refused(exc):
            return output_failed(exc)
        if stdout.closed_at_start(exc):
            return output_failed(None)
        if (unencodable := stdout.cannot_carry(exc)) is not None:
            _silence_stdout()  # what is buffered would fail again at the interpreter's exit
            print_error(unencodable)
            return 1
        if debug_enabled():
            _print_traceback()
        print_error(f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)")
        return 1
    return int(result or 0)


def output_failed(exc: OSError | None) -> int:
    """The exit code for a stdout that refused a write: quiet 0 for a reader that left (`head`
    closed the pipe, as Unix tools do), else the one-line OutputError."""
    _silence_stdout()
    if isinstance(exc, BrokenPipeError):
        return 0
    error = OutputError.from_os_error(exc)
    print_error(error.message)
    return error.exit_code


def _silence_stdout() -> None:
    """stdout failed: point it at /dev/null, so the interpreter's last flush of what is still
    buffered does not fail again ("Exception ignored ... OSError", exit 120)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout closed or None: nothing to flush
        pass


def _print_traceback() -> None:
    import traceback

    if json_logs():
        _write_json_line("error", "traceback", redact(traceback.format_exc()), {})
        return
    _to_stderr(redact(traceback.format_exc()))
