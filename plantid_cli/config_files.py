"""The files settings come from: the TOML config file and the keys file (written 0600), and
how a key from any source is cleaned and shown.

Split from config.py (which merges the layers into `Settings`) so each stays one job and short;
config.py re-exports the public names. Also owns `make_private_dir`, the one way a folder of
ours is created (0700 at every level), used by the keys file and by every guard's state.
Stdlib only at import (platformdirs only when no folder is configured).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from plantid_cli.constants import APP_NAME, CONFIG_ENV, KEYS_FILE_ENV, NESTED_TOO_DEEPLY
from plantid_cli.errors import ConfigError
from plantid_cli.file_targets import NotAFile, look, read_bounded, replacing


def make_private_dir(directory: Path) -> None:
    """Create `directory` and any missing parents with mode 0o700 (existing ones untouched).

    ``Path.mkdir(parents=True, mode=...)`` applies the mode to the last component only."""
    directory = Path(directory)
    missing = []
    while not directory.exists():
        missing.append(directory)
        if directory.parent == directory:
            break
        directory = directory.parent
    for path in reversed(missing):
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass


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


def platform_dir(kind: str) -> str:
    import platformdirs  # lazy: only when no explicit folder is configured

    return str(getattr(platformdirs, kind)(APP_NAME, appauthor=False))


def config_file_path(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    explicit = environ.get(CONFIG_ENV)
    if explicit:
        return Path(_checked_path(explicit, CONFIG_ENV)).expanduser()
    return Path(platform_dir("user_config_dir")) / "config.toml"


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


#: The most a config or keys file may hold: a hand-written file is a few hundred bytes.
MAX_SETTINGS_BYTES = 1 << 20


def _read_settings_file(path: Path, what: str) -> bytes:
    """The bytes of a config or keys file, refusing what would never end: a pipe (a FIFO
    named as the file hung every command, waiting for a writer) or an endless device
    (`/dev/zero`, read until memory ran out). /dev/null stays "empty", as before."""
    try:
        return read_bounded(path, MAX_SETTINGS_BYTES)
    except NotAFile as refused:
        if refused.kind == "pipe":
            message = f"{what} {path}: a pipe, not a file (it would be waited on)"
            raise ConfigError(message) from None
        if refused.kind == "folder":
            raise ConfigError(f"{what} {path} is a folder, not a file") from None
        raise ConfigError(
            f"{what} {path}: larger than {MAX_SETTINGS_BYTES >> 20} MB: not one"
        ) from None


def read_toml(path: Path, required: bool = False) -> dict[str, Any]:
    """The config file's settings; a missing file is no settings unless the user named it
    (PLANTID_CONFIG): then a typo in the name must not silently run on defaults."""
    try:
        raw = _read_settings_file(path, "config file")
    except FileNotFoundError:
        if required:
            raise ConfigError(f"{CONFIG_ENV} names {path}, which does not exist") from None
        return {}
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    if not raw.replace(b"\r\n", b"").strip(b" \t\n"):  # TOML's whitespace only: a form
        return {}  # feed is a TOML error. An empty file (or /dev/null: "no config") sets nothing
    # lazy: the TOML parser is paid by a config file that says something
    import tomllib

    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    except RecursionError:  # `a = [[[[...` thousands deep: the parser recurses per level
        raise ConfigError(f"config file {path}: {NESTED_TOO_DEEPLY}") from None
    # Allow an optional [plantid] table as well as top-level keys.
    table = data.get("plantid", data)
    if not isinstance(table, dict):
        raise ConfigError(f"config file {path}: [plantid] must be a table")
    return {key.replace("-", "_"): value for key, value in table.items()}


def read_keys_file(path: Path) -> dict[str, str]:
    """The stored keys (see `_read_keys_object`); an entry that is not a string (a note a
    person added) is kept in the file but is no key."""
    return {str(k): v for k, v in _read_keys_object(path).items() if isinstance(v, str)}


def unusable_key_entry(path: Path, provider: str) -> str | None:
    """The JSON type of `provider`'s entry in the keys file when it is there but no key (a
    number, an object: hand-edited), else None; for the missing-key error to name it."""
    try:
        entry = _read_keys_object(path).get(provider)
    except (OSError, ValueError):  # the file's own errors are said where it is read
        return None
    if entry is None or isinstance(entry, str):
        return None
    return {bool: "true/false", int: "number", float: "number", list: "list", dict: "object"}.get(
        type(entry), type(entry).__name__
    )


def _read_keys_object(path: Path) -> dict[str, Any]:
    """The keys file's whole object. An empty file (or /dev/null, the usual way to say "none")
    stores none, as an empty config file sets nothing: both stopped every command with a
    JSON error. A file that is JSON but not an object (a list) is a clear error, never a
    crash."""
    try:
        raw = _read_settings_file(path, "keys file")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"keys file {path}: {exc}") from None
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError as exc:  # UnicodeDecodeError is one
        raise ConfigError(f"keys file {path}: {exc}") from None
    except RecursionError:
        raise ConfigError(f"keys file {path}: {NESTED_TOO_DEEPLY}") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f'keys file {path}: not a JSON object of provider and key ({{"plantid": "..."}})'
        )
    return data


def write_key(provider: str, key: str, environ: Mapping[str, str] | None = None) -> Path:
    """Store a key in a file created 0600 inside a 0700 folder (never a moment wider)."""
    path = keys_file_path(environ)
    make_private_dir(path.parent)  # every folder it creates is 0700, parents included
    keys = _read_keys_object(path)  # every entry, the ones that are no key too: kept as they are
    keys[provider] = key
    _write_keys(path, keys)
    return path


def remove_key(provider: str, environ: Mapping[str, str] | None = None) -> bool:
    """Forget the stored key of `provider`; False when none was stored (nothing changed)."""
    path = keys_file_path(environ)
    keys = _read_keys_object(path)
    if not isinstance(keys.get(provider), str):
        return False
    del keys[provider]
    _write_keys(path, keys)
    return True


def _write_keys(path: Path, keys: dict[str, Any]) -> None:
    """Replace the keys file in one step: a new 0600 file renamed over the old one. Never
    over a device, a pipe or a socket (PLANTID_KEYS_FILE=/dev/null): renamed over as root,
    /dev/null itself became a file holding the key; and a secret is not written into a
    stream either, where it would not be stored."""
    where = look(path)  # a symlinked keys file stays a link (file_targets.py)
    if where.stream:
        raise ConfigError(
            f"keys file {path} is not a regular file (a device, a pipe or a socket): no key "
            f"can be stored there; point {KEYS_FILE_ENV} at a file"
        )
    with replacing(dataclasses.replace(where, mode=None)) as handle:  # 0600 from its creation
        json.dump(keys, handle, indent=2)
