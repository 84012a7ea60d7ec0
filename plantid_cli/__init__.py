"""plantid: identify plant photos with Plant.id (and Pl@ntNet), guarded and cached.

The public Python API is what ``__all__`` lists; everything else may move. ::

    import plantid_cli

    for record in plantid_cli.identify(["photos/"], top=1):
        print(record["path"], record["status"], (record.get("best") or {}).get("scientific_name"))

``identify`` reads its configuration where the CLI does (flags > ``PLANTID_*`` environment >
config file > defaults; keys also from the keys file) unless given ``settings=``, and shares the
CLI's cache, single-flight locks, breaker and rate limit, so a photo the CLI has paid for is
served from the cache here, and the other way round.

Why the lazy names: ``import plantid_cli`` runs before every CLI command (``python -m`` imports
the package first) and in every program that only wants ``__version__`` or the error classes;
Typer, Rich, httpx and Pillow are loaded when a call needs them, never by the import.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "identify",
    "plantnet_projects",
    "Record",
    # configuration (plantid_cli.config)
    "Settings",
    "load_settings",
    # the error tree (plantid_cli.errors; its docstring draws it)
    "PlantidError",
    "UsageError",
    "ConfigError",
    "MissingKeyError",
    "AuthError",
    "ImageError",
    "RequestRejected",
    "ServiceUnavailable",
    "UpstreamTimeout",
    "BadResponse",
    "CircuitOpenError",
    "CreditsExhausted",
    "Interrupted",
]

#: Where each lazily loaded public name lives (loaded on first use, then cached in globals()).
#: ``Record``: one record as written by ``plantid identify -f ndjson`` (a TypedDict: at run
#: time a plain dict; records.py declares its keys).
_LAZY = {"Settings": "config", "load_settings": "config", "Record": "records"}
_LAZY.update(dict.fromkeys(__all__[__all__.index("PlantidError") :], "errors"))

if TYPE_CHECKING:
    from plantid_cli.config import Settings, load_settings
    from plantid_cli.errors import (
        AuthError,
        BadResponse,
        CircuitOpenError,
        ConfigError,
        CreditsExhausted,
        ImageError,
        Interrupted,
        MissingKeyError,
        PlantidError,
        RequestRejected,
        ServiceUnavailable,
        UpstreamTimeout,
        UsageError,
    )
    from plantid_cli.records import Record


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*__all__, *(name for name in globals() if name.startswith("__"))})


def identify(
    paths: Iterable[Any] | Any, *, settings: Settings | None = None, **options: Any
) -> Iterator[Record]:
    """Identify the photos (files or folders) in `paths` (one path, or any iterable of str,
    bytes or path-like paths); yield one record per photo (one per
    folder with ``group_by="folder"``) as each is ready, in completion order.

    `options` are the CLI's, spelled as Python names: any `Settings` field (``top=1``,
    ``provider="both"``, ``language="de"``, ``concurrency=2``, ...), which wins over the
    configuration like a flag does, and the run's own ``use_cache``, ``refresh``,
    ``max_credits``, ``latitude``/``longitude``, ``no_location``, ``classification_level``,
    ``custom_id``, ``group_by``, ``shard``.
    A photo that cannot be identified is a record with ``status: "error"``; a problem with the
    whole run (no key, a bad option, the budget refused) raises a `PlantidError` subclass
    before any record. Leaving the loop early stops new work; answers already paid for are
    stored in the cache.
    """
    import dataclasses
    import os
    import queue
    import threading

    # lazy: `import plantid_cli` runs before every CLI command: keeps the settings and the run
    # (diskcache, ...) off it
    from plantid_cli.config import Settings, load_settings, with_flags
    from plantid_cli.errors import UnknownOptionError, UsageError
    from plantid_cli.outputs.writers import Writer
    from plantid_cli.redact import register_secret
    from plantid_cli.run.batch import run_batch
    from plantid_cli.run.options import RUN_FIELDS, IdentifyOptions

    setting_names = {f.name for f in dataclasses.fields(Settings)}
    run_names = set(RUN_FIELDS)
    unknown = sorted(set(options) - setting_names - run_names)
    if unknown:
        raise UnknownOptionError(f"identify() got unknown option(s): {', '.join(unknown)}")
    if settings is not None and not isinstance(settings, Settings):
        raise UsageError(f"settings must be a plantid_cli.Settings, not {type(settings).__name__}")
    flags = {k: v for k, v in options.items() if k in setting_names and v is not None}
    # one path is one path: a str is not split into its characters (`identify("/x.jpg")` walked
    # "/" and paid for every image on the machine: red team, session 19)
    given: Any = paths if isinstance(paths, str | bytes | os.PathLike) else tuple(paths)
    batch = IdentifyOptions(
        paths=given, **{k: v for k, v in options.items() if k in run_names}
    )  # refuses a bad combination before the configuration is read, as the CLI does
    if settings is None:
        settings = load_settings(flags)
    elif flags:
        settings = with_flags(settings, flags)  # read and checked as load_settings reads flags
    register_secret(settings.api_key)
    register_secret(settings.plantnet_api_key)

    done = object()
    records: queue.SimpleQueue[Any] = queue.SimpleQueue()
    stop = threading.Event()

    class _QueueWriter(Writer):
        def write(self, record: Record) -> None:
            records.put(record)

        def close(self) -> None:
            pass

    def work() -> None:
        try:
            run_batch(settings, batch, _QueueWriter(), stop=stop)
        except BaseException as exc:  # handed to the caller's thread below
            records.put((done, exc))
        else:
            records.put((done, None))

    worker = threading.Thread(target=work, name="plantid-identify", daemon=True)
    worker.start()
    try:
        while True:
            item = records.get()
            if isinstance(item, tuple) and item and item[0] is done:
                if item[1] is not None:
                    raise item[1]
                return
            yield item
    finally:
        stop.set()  # no new work; in-flight answers land in the cache
        worker.join()


def plantnet_projects(
    latitude: float | None = None,
    longitude: float | None = None,
    *,
    language: str | None = None,
    settings: Settings | None = None,
) -> list[dict[str, Any]]:
    """Pl@ntNet's floras as `plantid projects -f json` lists them ({id, title, description,
    species}); with a position, those covering it. The ids are what ``project=`` takes. Free
    (no quota), and guarded like an identification: the Pl@ntNet key, its breaker, its rate
    limit (UsageError for half a position or one out of range)."""
    # lazy: `import plantid_cli` runs before every CLI command: keeps the settings and the
    # guards (httpx, sqlite) off it
    from plantid_cli.config import load_settings, read_option
    from plantid_cli.redact import register_secret
    from plantid_cli.run.lookups import check_position
    from plantid_cli.run.lookups import plantnet_projects as lookup

    # "10" as a number, the way identify() reads its options (run/options.py)
    latitude = read_option(float, "latitude", latitude, "plantnet_projects()")
    longitude = read_option(float, "longitude", longitude, "plantnet_projects()")
    check_position(latitude, longitude, ("latitude", "longitude"))  # before any settings
    if settings is None:
        settings = load_settings({})
    register_secret(settings.plantnet_api_key)
    return [dict(project) for project in lookup(settings, latitude, longitude, language)]
