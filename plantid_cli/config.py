"""One typed settings object, merged as flags > environment (PLANTID_*) > config file > defaults.

Why one place: every setting's default and the merge live here, so the CLI, the engine and
`plantid config show` agree on them; the names (environment, URLs, choice lists, limits) are in
constants.py. Stdlib only at import (start-up matters).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from plantid_cli.constants import (
    APP_NAME,
    CONFIG_ENV,
    DEFAULT_API_URL,
    DEFAULT_DETAILS,
    DEFAULT_PLANTNET_URL,
    ENV_OVERRIDES,
    ENV_PREFIX,
    KEYS_FILE_ENV,
    MAX_INT,
    MAX_WAIT_SECONDS,
    ORGANS,
    PILLOW_MAX_IMAGE_PIXELS,
    PROVIDER_MODES,
)
from plantid_cli.errors import ConfigError, MissingKeyError, UsageError

SECRET_FIELDS = frozenset({"api_key", "plantnet_api_key"})
#: Command-line options whose name is not --<field-name-with-dashes>.
FLAG_NAMES = {"max_image_side": "--max-side"}


@dataclass(slots=True)
class Settings:
    """Effective settings; field names are the config-file keys and the env suffixes."""

    api_key: str | None = None
    api_url: str = DEFAULT_API_URL
    plantnet_api_key: str | None = None
    plantnet_api_url: str = DEFAULT_PLANTNET_URL
    provider: str = "plantid"
    cache_dir: str | None = None
    timeout: float = 30.0
    retries: int = 2
    rate_limit: str = "5/second"
    breaker_fail_max: int = 3
    breaker_reset_timeout: float = 60.0
    breaker_success_threshold: int = 2
    lock_timeout: float | None = None  # None: wait for the holder (guarded.deadlines)
    cache_ttl: float = 30 * 86400.0
    cache_size_limit: int = 1 << 30
    credits_cooldown: float = 300.0
    max_image_side: int = 1500
    jpeg_quality: int = 90
    max_file_mb: float = 50.0
    max_megapixels: float = 89.0  # at most Pillow's own bomb limit (PILLOW_MAX_IMAGE_PIXELS)
    language: str = "en"
    details: list[str] = field(default_factory=lambda: list(DEFAULT_DETAILS))
    similar_images: bool = False
    top: int = 3
    concurrency: int = 4
    confirm_above: int = 100
    organ: str = "auto"
    project: str = "all"
    confidence_threshold: float = 0.5
    redis_url: str | None = None
    metrics_file: str | None = None

    # ----- derived values -----
    @property
    def cache_path(self) -> Path:
        if self.cache_dir:
            return Path(self.cache_dir).expanduser()
        return Path(_platform_dir("user_cache_dir"))

    def url_for(self, provider: str) -> str:
        """The API URL of `provider` (part of the account its shared state belongs to)."""
        return self.api_url if provider == "plantid" else self.plantnet_api_url

    def key_for(self, provider: str) -> str:
        """The API key for `provider`, or MissingKeyError naming both ways to set one."""
        key = self.api_key if provider == "plantid" else self.plantnet_api_key
        if key:
            return key
        env = env_name("api_key" if provider == "plantid" else "plantnet_api_key")
        raise MissingKeyError(
            f"no API key for {provider}: set {env} or run `plantid keys set {provider}`"
        )

    def redacted(self) -> dict[str, Any]:
        """Settings as a dict for display: keys shown only as a short redacted hint."""
        from plantid_cli.redact import redact

        shown = dataclasses.asdict(self)
        for name, value in shown.items():  # a password in redis_url, a key pasted into a URL
            if isinstance(value, str):
                shown[name] = redact(value)
        for name in SECRET_FIELDS:
            shown[name] = redact_key(getattr(self, name))
        shown["cache_dir"] = str(self.cache_path)
        return shown


def clean_key(key: str | None, source: str) -> str | None:
    """A key without the whitespace around it (a secret made from a file ends in a newline);
    one that still holds whitespace or a control character is refused, naming where it came
    from and never showing it: sent as-is it fails inside the HTTP library, whose error text
    quotes the header value (and looked like an outage)."""
    if key is None:
        return None
    key = key.strip()
    if not all(" " < char < "\x7f" for char in key):  # keys are printable ASCII tokens
        raise ConfigError(
            f"the API key from {source} holds whitespace, a control character or a non-ASCII"
            " character inside it (not shown); store it again (plantid keys set)"
        )
    return key or None


def redact_key(key: str | None) -> str | None:
    if not key:
        return None
    return "****" + key[-2:] if len(key) >= 12 else "****"


def env_name(field_name: str) -> str:
    return ENV_OVERRIDES.get(field_name, ENV_PREFIX + field_name.upper())


def flag_name(field_name: str) -> str:
    return FLAG_NAMES.get(field_name, "--" + field_name.replace("_", "-"))


def _platform_dir(kind: str) -> str:
    import platformdirs  # lazy: only when no explicit folder is configured

    return str(getattr(platformdirs, kind)(APP_NAME, appauthor=False))


def config_file_path(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    explicit = environ.get(CONFIG_ENV)
    if explicit:
        return Path(_checked_path(explicit, CONFIG_ENV)).expanduser()
    return Path(_platform_dir("user_config_dir")) / "config.toml"


def _checked_path(text: str, source: str) -> str:
    """A path from the environment, or a ConfigError: a NUL byte or an undecodable byte
    (surrogate escape) would otherwise fail later inside open() as an internal error."""
    if "\0" in text:
        raise ConfigError(f"{source} holds a NUL byte: not a usable path")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            os.fsencode(text)
        except UnicodeEncodeError:
            raise ConfigError(f"{source} is not a usable path (undecodable bytes)") from None
    return text


def keys_file_path(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    explicit = environ.get(KEYS_FILE_ENV)
    if explicit:
        return Path(_checked_path(explicit, KEYS_FILE_ENV)).expanduser()
    return config_file_path(environ).parent / "keys.json"


_FIELD_TYPES: dict[str, Any] = {}


def _field_types() -> dict[str, Any]:
    if not _FIELD_TYPES:
        hints = {"str": str, "int": int, "float": float, "bool": bool}
        for f in fields(Settings):
            text = str(f.type)
            if text.startswith("list"):
                _FIELD_TYPES[f.name] = list
            else:
                _FIELD_TYPES[f.name] = hints[text.split(" ")[0]]
    return _FIELD_TYPES


def coerce(name: str, value: Any, source: str) -> Any:
    """Turn a raw value (TOML or env string) into the field's type, or a ConfigError naming it."""
    kind = _field_types().get(name)
    if kind is None:
        raise ConfigError(f"{source}: unknown setting '{name}'")
    if value is None:
        return None
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if kind is list:
            if isinstance(value, str):
                return [part.strip() for part in value.split(",") if part.strip()]
            return [str(part) for part in value]
        if kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            number = int(value)
            if abs(number) > MAX_INT:  # would overflow SQLite (the cache's size limit) later
                raise ConfigError(f"{source}: '{name}' is too large ({number})")
            return number
        if kind is float:
            if isinstance(value, bool):
                raise ValueError(value)
            real = float(value)
            if not math.isfinite(real):  # nan/inf pass float() and every `<=` check
                raise ConfigError(f"{source}: '{name}' must be a finite number, got {value!r}")
            return real
        text = str(value)
        if "\0" in text:
            raise ConfigError(f"{source}: '{name}' holds a NUL byte")
        return text
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{source}: '{name}' must be {kind.__name__}, got {value!r}") from None


def _read_toml(path: Path, required: bool = False) -> dict[str, Any]:
    """The config file's settings; a missing file is no settings unless the user named it
    (PLANTID_CONFIG): then a typo in the name must not silently run on defaults."""
    import tomllib

    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        if required:
            raise ConfigError(f"{CONFIG_ENV} names {path}, which does not exist") from None
        return {}
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    # Allow an optional [plantid] table as well as top-level keys.
    table = data.get("plantid", data)
    if not isinstance(table, dict):
        raise ConfigError(f"config file {path}: [plantid] must be a table")
    return {key.replace("-", "_"): value for key, value in table.items()}


def read_keys_file(path: Path) -> dict[str, str]:
    try:
        with path.open(encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"keys file {path}: {exc}") from None
    return {str(k): str(v) for k, v in data.items() if isinstance(v, str)}


def load_settings(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_path: Path | None = None,
) -> Settings:
    """Merge the four layers. `flags` holds only options the user actually gave (None = unset)."""
    environ = os.environ if environ is None else environ
    merged: dict[str, Any] = {}
    source: dict[str, str] = {}  # where each merged value came from, for messages
    path = config_path or config_file_path(environ)
    required = config_path is None and bool(environ.get(CONFIG_ENV))
    for name, value in _read_toml(path, required).items():
        merged[name] = coerce(name, value, f"config file {path}")
        source[name] = f"config file {path}"
    keys_path = keys_file_path(environ)
    stored = read_keys_file(keys_path)
    for provider, name in (("plantid", "api_key"), ("plantnet", "plantnet_api_key")):
        if stored.get(provider):
            merged[name], source[name] = stored[provider], f"keys file {keys_path} ({provider})"
    for f in fields(Settings):
        raw = environ.get(env_name(f.name))
        if raw not in (None, ""):
            merged[f.name] = coerce(f.name, raw, f"environment {env_name(f.name)}")
            source[f.name] = f"environment {env_name(f.name)}"
    flags = flags or {}
    given = {name for name, value in flags.items() if value is not None}
    for name in given:
        merged[name] = coerce(name, flags[name], f"option {flag_name(name)}")
        source[name] = f"option {flag_name(name)}"
    from plantid_cli.redact import register_secret  # stdlib only

    for name in SECRET_FIELDS & merged.keys():
        merged[name] = clean_key(merged[name], source[name])
        register_secret(merged[name])  # at load: every later message is masked, any caller
    settings = Settings(**merged)
    # A bad value typed on the command line is a usage error (exit 2) named by its flag; one
    # from the environment or the config file is a configuration error (exit 3).
    flagged = [msg for name, msg in _problems(settings) if name in given]
    if flagged:
        raise UsageError("; ".join(_flag_message(msg) for msg in flagged))
    validate(settings)
    return settings


def _flag_message(message: str) -> str:
    name, _, rest = message.partition(" ")
    return f"{flag_name(name)} {rest}"


def validate(settings: Settings) -> None:
    """Reject values that would only fail later, with the setting's name in the message."""
    problems = [message for _, message in _problems(settings)]
    if problems:
        raise ConfigError("invalid configuration: " + "; ".join(problems))


def _problems(settings: Settings) -> list[tuple[str, str]]:
    """(field, message) for every invalid value; each message starts with the field name."""
    problems: list[str] = []
    if settings.provider not in PROVIDER_MODES:
        choices = ", ".join(PROVIDER_MODES[:-1]) + " or " + PROVIDER_MODES[-1]
        problems.append(f"provider must be {choices}, not {settings.provider!r}")
    for name in ("timeout", "lock_timeout", "breaker_reset_timeout"):
        if getattr(settings, name) is not None and getattr(settings, name) <= 0:
            problems.append(f"{name} must be > 0")
    for name in ("timeout", "lock_timeout", "breaker_reset_timeout", "credits_cooldown"):
        if (getattr(settings, name) or 0) > MAX_WAIT_SECONDS:
            problems.append(f"{name} must be at most {MAX_WAIT_SECONDS:g} seconds")
    for name in ("credits_cooldown", "cache_size_limit"):
        if getattr(settings, name) < 0:
            problems.append(f"{name} must be >= 0")
    for name in ("cache_ttl", "max_file_mb", "max_megapixels"):
        if getattr(settings, name) <= 0:
            problems.append(f"{name} must be > 0")
    if settings.max_megapixels * 1_000_000 > PILLOW_MAX_IMAGE_PIXELS:
        limit = PILLOW_MAX_IMAGE_PIXELS / 1_000_000
        problems.append(
            f"max_megapixels must be at most {limit:g} (Pillow refuses larger images as"
            " decompression bombs whatever this says)"
        )
    for name in (
        "breaker_fail_max",
        "breaker_success_threshold",
        "concurrency",
        "top",
        "max_image_side",
    ):
        if getattr(settings, name) < 1:
            problems.append(f"{name} must be >= 1")
    if settings.retries < 0:
        problems.append("retries must be >= 0")
    if not 1 <= settings.jpeg_quality <= 95:
        problems.append("jpeg_quality must be between 1 and 95")
    if settings.organ not in ORGANS:
        problems.append(f"organ must be one of {', '.join(ORGANS)}")
    for name in ("api_url", "plantnet_api_url"):
        if not str(getattr(settings, name)).lower().startswith(("http://", "https://")):
            problems.append(f"{name} must start with http:// or https://")
    if not 0 <= settings.confidence_threshold <= 1:
        problems.append("confidence_threshold must be between 0 and 1")
    from plantid_cli.guards.disk.ratelimit import parse_rate_limit  # stdlib only

    try:
        parse_rate_limit(settings.rate_limit)
    except ValueError as exc:
        problems.append(f"rate_limit is invalid: {exc}")
    return [(message.partition(" ")[0], message) for message in problems]


def write_key(provider: str, key: str, environ: Mapping[str, str] | None = None) -> Path:
    """Store a key in a file created 0600 inside a 0700 folder (never a moment wider)."""
    from plantid_cli.guards.disk.state import make_private_dir

    path = keys_file_path(environ)
    make_private_dir(path.parent)  # every folder it creates is 0700, parents included
    keys = read_keys_file(path)
    keys[provider] = key
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(keys, handle, indent=2)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
