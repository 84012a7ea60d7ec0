"""One typed settings object, merged as flags > environment (PLANTID_*) > config file > defaults.

Why one place: every setting's default and the merge live here, so the CLI, the engine and
`plantid config show` agree on them; the names (environment, URLs, choice lists, limits) are in
constants.py. Stdlib only at import (start-up matters).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from plantid_cli.config_files import (
    clean_key,
    config_file_path,
    keys_file_path,
    platform_dir,
    read_keys_file,
    read_toml,
    redact_key,
    remove_key,
    unusable_key_entry,
    write_key,
)
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
from plantid_cli.rate_spec import parse_rate_limit
from plantid_cli.redact import redact, register_secret

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
    lock_timeout: float | None = None  # None: wait for the holder (provider_guards.deadlines)
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
    # the Darwin Core Archive's eml.xml (`plantid export dwca`; its flags override these)
    dataset_title: str | None = None
    dataset_creator: str | None = None
    dataset_license: str = "CC-BY-4.0"  # one of DATASET_LICENSES

    # ----- derived values -----
    @property
    def cache_path(self) -> Path:
        if self.cache_dir:
            return Path(self.cache_dir).expanduser()
        return Path(platform_dir("user_cache_dir"))

    def url_for(self, provider: str) -> str:
        """The API URL of `provider` (part of the account its shared state belongs to)."""
        return self.api_url if provider == "plantid" else self.plantnet_api_url

    def key_for(self, provider: str) -> str:
        """The API key for `provider`, or MissingKeyError naming both ways to set one."""
        key = self.api_key if provider == "plantid" else self.plantnet_api_key
        if key:
            return key
        env = key_env(provider)
        path = keys_file_path()
        found = unusable_key_entry(path, provider)
        # was: "no API key" alone, the hand-edited entry that was not taken never named
        why = f" (keys file {path} holds a {found} for {provider}, not a key)" if found else ""
        raise MissingKeyError(
            f"no API key for {provider}{why}: set {env} or run `plantid keys set {provider}`"
        )

    def __repr__(self) -> str:
        """The settings as `redacted` shows them: a `print(settings)`, a log line or a
        traceback's locals never carry a key or a URL's password."""
        shown = ", ".join(f"{name}={value!r}" for name, value in self.redacted().items())
        return f"Settings({shown})"

    def redacted(self) -> dict[str, Any]:
        """Settings as a dict for display: keys shown only as a short redacted hint."""
        shown = dataclasses.asdict(self)
        for name, value in shown.items():  # a password in redis_url, a key pasted into a URL
            if isinstance(value, str):
                shown[name] = redact(value)
        for name in SECRET_FIELDS:
            shown[name] = redact_key(getattr(self, name))
        shown["cache_dir"] = str(self.cache_path)
        return shown


def env_name(field_name: str) -> str:
    return ENV_OVERRIDES.get(field_name, ENV_PREFIX + field_name.upper())


def key_env(provider: str) -> str:
    """The environment variable that holds `provider`'s key (it wins over the keys file)."""
    return env_name("api_key" if provider == "plantid" else "plantnet_api_key")


def flag_name(field_name: str) -> str:
    return FLAG_NAMES.get(field_name, "--" + field_name.replace("_", "-"))


_FIELD_TYPES: dict[str, Any] = {}


def _field_types() -> dict[str, Any]:
    """Each setting's type, worked out once. Built whole, then published: threads loading
    settings at once never see it half filled (they read a valid setting as unknown: red
    team, session 19)."""
    global _FIELD_TYPES
    if not _FIELD_TYPES:
        hints = {"str": str, "int": int, "float": float, "bool": bool}
        types: dict[str, Any] = {}
        for f in fields(Settings):
            text = str(f.type)
            types[f.name] = list if text.startswith("list") else hints[text.split(" ")[0]]
        _FIELD_TYPES = types
    return _FIELD_TYPES


def coerce(name: str, value: Any, source: str) -> Any:
    """Turn a raw value (TOML or env string) into the field's type, or a ConfigError naming it."""
    kind = _field_types().get(name)
    if kind is None:
        raise ConfigError(f"{source}: unknown setting '{name}'")
    return convert(kind, name, value, source)


def convert(kind: type, name: str, value: Any, source: str) -> Any:
    """`value` as a `kind` (bool, list, int, float or str) the way the configuration file and
    the environment are read ("no" is False, "4" is 4, 1.5 is no int), or a ConfigError
    naming `name` and `source`. Also for the run's own options given from Python
    (run/options.py)."""
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


def load_settings(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_path: Path | None = None,
) -> Settings:
    """Merge the four layers. `flags` holds only options the user actually gave (None = unset)."""
    merged, source, given = _merge(flags, environ, config_path)
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


def read_option(kind: type, name: str, value: Any, source: str) -> Any:
    """`convert` for a value a caller gave as an option (from Python: `identify(top="1")`):
    one that cannot be read is a usage error (exit 2) naming it, not a configuration one."""
    try:
        return convert(kind, name, value, source)
    except ConfigError as exc:
        raise UsageError(exc.message) from None


def with_flags(settings: Settings, flags: Mapping[str, Any]) -> Settings:
    """`settings` with `flags` over them, as `load_settings` takes flags: each value turned
    into its setting's type (or refused, named by its flag), a key cleaned, every value
    checked. For a caller that built its Settings itself (`plantid_cli.identify(settings=)`)."""
    changes = {name: _flag_value(name, value) for name, value in flags.items() if value is not None}
    for name in SECRET_FIELDS & changes.keys():
        changes[name] = clean_key(changes[name], f"option {flag_name(name)}")
        register_secret(changes[name])
    updated = dataclasses.replace(settings, **changes)
    flagged = [msg for name, msg in _problems(updated) if name in changes]
    if flagged:
        raise UsageError("; ".join(_flag_message(msg) for msg in flagged))
    validate(updated)
    return updated


def setting_sources(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_path: Path | None = None,
) -> dict[str, str]:
    """Where each setting's effective value comes from, in the words `config show` and `keys
    list` print: `option --top`, `environment PLANTID_TIMEOUT`, `config file PATH`, `keys
    file PATH`, or `default`. The same merge as load_settings, so the two never disagree."""
    _, source, _ = _merge(flags, environ, config_path)
    return {f.name: source.get(f.name, "default") for f in fields(Settings)}


def _merge(
    flags: Mapping[str, Any] | None,
    environ: Mapping[str, str] | None,
    config_path: Path | None,
) -> tuple[dict[str, Any], dict[str, str], set[str]]:
    """(values, where each came from, the flags given): file, keys file, environment, flags."""
    environ = os.environ if environ is None else environ
    merged: dict[str, Any] = {}
    source: dict[str, str] = {}
    path = config_path or config_file_path(environ)
    required = config_path is None and bool(environ.get(CONFIG_ENV))
    for name, value in read_toml(path, required).items():
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
        merged[name] = _flag_value(name, flags[name])
        source[name] = f"option {flag_name(name)}"
    return merged, source, given


def _flag_value(name: str, value: Any) -> Any:
    """A flag's value as its setting's type: one that cannot be read is a usage error (exit
    2), as a bad flag is (Typer types the command line's; `plantid_cli.identify(top="abc")`
    from Python was a ConfigError where the README says UsageError)."""
    kind = _field_types().get(name)
    if kind is None:
        raise ConfigError(f"option {flag_name(name)}: unknown setting '{name}'")
    return read_option(kind, name, value, f"option {flag_name(name)}")


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
    if not _flora_id(str(settings.project)):  # a path segment of Pl@ntNet's URL
        problems.append(
            "project must be a flora id such as all, k-world-flora or k-western-europe (`plantid "
            f"projects` lists them), not {settings.project!r}"
        )
    for code in str(settings.language).split(","):
        if code.strip() and not _language_code(code.strip()):
            problems.append(f"language must be language codes such as en or en,de, not {code!r}")
    for name in ("api_url", "plantnet_api_url"):
        if (problem := _url_problem(str(getattr(settings, name)))) is not None:
            problems.append(f"{name} {problem}")
    if not 0 <= settings.confidence_threshold <= 1:
        problems.append("confidence_threshold must be between 0 and 1")
    try:
        parse_rate_limit(settings.rate_limit)
    except ValueError as exc:
        problems.append(f"rate_limit is invalid: {exc}")
    return [(message.partition(" ")[0], message) for message in problems]


# These are checked at every load (the open-breaker path too), so with str methods, not
# regular expressions compiled at import (0.5 ms of every invocation).


def _flora_id(project: str) -> bool:
    """A Pl@ntNet flora id (all, k-world-flora, k-western-europe): it is sent as a path
    segment, so no `/`, `?` or `#` may reach it (`k?x=1` asked flora `k` while the answer was
    cached as `k?x=1`). [A-Za-z0-9][A-Za-z0-9._-]{0,99}."""
    return (
        0 < len(project) <= 100
        and project.isascii()
        and project[0].isalnum()
        and all(c.isalnum() or c in "._-" for c in project)
    )


def _language_code(code: str) -> bool:
    """An ISO 639 code, with a region or script (en, pt-BR, zh-Hant): what reaches
    `language=`. [A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*."""
    first, *rest = code.replace("_", "-").split("-")
    return (
        code.isascii()
        and 2 <= len(first) <= 3
        and first.isalpha()
        and all(1 <= len(part) <= 8 and part.isalnum() for part in rest)
    )


def _valid_host(host: str, *, bracketed: bool) -> bool:
    """What the HTTP client will take as a host: an IPv6 address in brackets (a zone id
    allowed), an ASCII name or IPv4 address, or a name IDNA encodes (the `idna` package httpx
    itself uses: `http://ⅷ.com` or `é_x.com` parsed here and failed every request)."""
    if bracketed:
        # lazy: ipaddress only for a bracketed host
        import ipaddress

        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:  # [v1.fe] (IPvFuture) and other bracketed junk
            return False
        return True
    if not all(c.isalnum() or c in "_.~%-" for c in host):  # a name (IDN too) or IPv4
        return False
    if host.isascii():
        return True
    try:
        # lazy: idna (httpx's dependency) only for a host that is not ASCII
        import idna
    except ImportError:  # pragma: no cover - httpx depends on it
        return True
    try:
        idna.encode(host.lower())
    except (idna.IDNAError, UnicodeError, ValueError):
        return False
    return True


def _url_problem(url: str) -> str | None:
    """What makes `url` unusable as a service's base URL, found when the settings load (exit
    3): a URL that only parses at the first request ended every photo's record in an error, or
    `usage` in an internal error. The request paths are appended to it, so a query or a
    fragment would swallow them."""
    # lazy: urllib.parse is paid only here
    from urllib.parse import urlsplit

    if not url.lower().startswith(("http://", "https://")):
        return "must start with http:// or https://"
    # a password, and a query or fragment (where keys are pasted: ?key=...), never printed
    shown = repr(re.sub(r"[?#].*", "?***", re.sub(r"//[^/?#]*@", "//***@", url), flags=re.S))
    if any(c.isspace() or not c.isprintable() for c in url):
        return f"is not a URL (a space or a control character in it): {shown}"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as exc:
        return f"is not a URL ({exc}): {shown}"
    host = parts.hostname or ""
    if not host or not _valid_host(host, bracketed="[" in parts.netloc):
        return f"names no valid host: {shown}"
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        return f"must not carry a query or a fragment (request paths are added to it): {shown}"
    return None


__all__ = [
    "APP_NAME",
    "CONFIG_ENV",
    "KEYS_FILE_ENV",
    "clean_key",
    "config_file_path",
    "keys_file_path",
    "read_keys_file",
    "redact_key",
    "remove_key",
    "write_key",
]
