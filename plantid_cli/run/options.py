"""The options of one identify run, and what a run returns.

Why one object: the identify options used to exist three times (the Typer parameters, the fast
path's dict of defaults, the body's lookups) and drifted. `IdentifyOptions` holds every option
of a run with its only default; the CLI (cli/identify.py), the open-breaker fast path
(cli/fastpath.py) and the library (`plantid_cli.identify`) all build one, and the Typer
declarations take their defaults from it. It checks its own combinations when built, so a bad
combination is refused the same way whoever builds it, before anything is read or sent.

Settings (timeouts, guards, defaults such as `top`) stay in `config.Settings`: the fields below
that override one are None unless given, and `setting_overrides()` hands the given ones to
`config.load_settings` as flags (flags > environment > file > defaults).

Stdlib only at import: the fast path builds this without the command-line framework.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from typing import TYPE_CHECKING, Any

from plantid_cli.constants import CLASSIFICATION_LEVELS, GROUP_BY, NAME_STYLES, TASKS
from plantid_cli.constants import OUTPUT_FORMATS as FORMATS
from plantid_cli.errors import EXIT_INTERRUPTED, UsageError

if TYPE_CHECKING:  # records (base64, ...) is not needed to parse a command line
    from plantid_cli.run.summary import RunStats

#: The options of the run itself (the library's `identify` takes these and Settings fields;
#: the others are about the CLI's outputs and terminal).
RUN_FIELDS = (
    "use_cache",
    "refresh",
    "rehash",
    "max_credits",
    "latitude",
    "longitude",
    "no_location",
    "related_images",
    "classification_level",
    "custom_id",
    "group_by",
    "shard",
    "health",
    "extensions",
    "catalog_number",
    "yes",  # skips the credit check against usage_info (run/budget.py)
)

#: The fields that override a `config.Settings` field of the same name (None: not given).
SETTING_FIELDS = (
    "top",
    "language",
    "details",
    "similar_images",
    "concurrency",
    "timeout",
    "max_image_side",
    "provider",
    "organ",
    "project",
    "confidence_threshold",
    "metrics_file",
)


@dataclass(frozen=True)
class IdentifyOptions:
    """Every option of one identify run; the defaults here are the only defaults."""

    paths: tuple[str, ...] = ()  # any iterable of str/PathLike, or one, is accepted
    null: bool = False  # `-` reads NUL-ended paths (find -print0), not one per line
    # what is read and what may be spent
    use_cache: bool = True
    refresh: bool = False
    rehash: bool = False  # read and hash every photo again (the hash index is rewritten)
    max_credits: int | None = None
    yes: bool = False  # no confirmation before a large run (the CLI asks only on a terminal)
    # what is sent
    latitude: float | None = None
    longitude: float | None = None
    no_location: bool = False
    related_images: bool = False  # Pl@ntNet: each result's reference photos in the record
    classification_level: str = "species"  # CLASSIFICATION_LEVELS[0] (Plant.id's default)
    custom_id: int | None = None  # Plant.id's custom_id: one photo only
    # what is asked (TASKS): identify (with `health`: plus a health assessment, Plant.id only)
    # or `health` alone (`plantid health`); `disease_details`: the disease details asked for
    task: str = "identify"
    health: bool = False
    disease_details: str | None = None
    # units of work
    group_by: str | None = None
    shard: tuple[int, int] | str | None = None  # (i, n); "I/N" text is parsed when built
    inline: bool = False  # no thread pools: the open-breaker fast path (cli/fastpath.py)
    extensions: tuple[str, ...] = ()  # --ext: more file extensions a folder walk picks up
    catalog_number: str | None = None  # --catalog-number REGEX (inputs/identity.py)
    dry_run: bool = False  # walk, hash, look up the cache, say what would be sent; send nothing
    # outputs
    format: str | None = None  # None: table on a terminal, ndjson otherwise (the CLI decides)
    quiet: bool = False
    report: str | None = None
    output: str | None = None  # the records go to this file, atomically (cli/outfile.py)
    write_xmp: bool = False
    xmp_name: str = "short"  # outputs.xmp.NAME_STYLES[0] (not imported: start-up)
    pushgateway: str | None = None
    job_name: str | None = None
    # overrides of config.Settings (SETTING_FIELDS); None: from the configuration
    top: int | None = None
    language: str | None = None
    details: str | None = None
    similar_images: bool | None = None
    concurrency: int | None = None
    timeout: float | None = None
    max_image_side: int | None = None
    provider: str | None = None
    organ: str | None = None
    project: str | None = None
    confidence_threshold: float | None = None
    metrics_file: str | None = None

    def __post_init__(self) -> None:
        given: Any = self.paths  # any iterable of paths, or one
        paths = (given,) if isinstance(given, str | bytes | os.PathLike) else given
        # bytes paths (a non-UTF-8 name as os.listdir(b".") gives it) as str, as the walk takes
        object.__setattr__(self, "paths", tuple(os.fsdecode(p) for p in paths))
        _typed(self)
        if isinstance(self.shard, str):
            object.__setattr__(self, "shard", _parse_shard(self.shard))
        elif self.shard is not None:
            object.__setattr__(self, "shard", _checked_shard(self.shard))
        if isinstance(self.extensions, str):
            object.__setattr__(self, "extensions", (self.extensions,))
        object.__setattr__(self, "extensions", tuple(self.extensions))
        self.validate()

    def validate(self) -> None:
        """Refuse combinations that cannot run (UsageError, exit 2), naming the flags."""
        if not self.use_cache and self.refresh:
            raise UsageError("--no-cache and --refresh cannot be used together")
        if self.paths.count("-") > 1:
            raise UsageError("'-' (read paths from stdin) can be given only once")
        if self.null and "-" not in self.paths:
            raise UsageError("-0/--null reads NUL-ended paths from stdin: give - as a path")
        if (self.latitude is None) != (self.longitude is None):
            raise UsageError("--lat and --lon go together")
        if self.no_location and self.latitude is not None:
            raise UsageError("--no-location sends no position: it cannot go with --lat/--lon")
        if self.latitude is not None and not -90 <= self.latitude <= 90:
            raise UsageError("--lat must be between -90 and 90")
        if self.longitude is not None and not -180 <= self.longitude <= 180:
            raise UsageError("--lon must be between -180 and 180")
        if self.task not in TASKS:
            raise UsageError(f"the task must be one of {', '.join(TASKS)}, not {self.task!r}")
        if self.health and self.task == "health":
            raise UsageError("--health is for identify; plantid health assesses health alone")
        if self.disease_details is not None and not (self.health or self.task == "health"):
            raise UsageError("--disease-details goes with --health")
        if self.group_by is not None and self.group_by not in GROUP_BY:
            raise UsageError(f"--group-by must be {' or '.join(GROUP_BY)}, not {self.group_by!r}")
        if self.classification_level not in CLASSIFICATION_LEVELS:
            raise UsageError(
                f"--classification-level must be one of {', '.join(CLASSIFICATION_LEVELS)},"
                f" not {self.classification_level!r}"
            )
        if self.custom_id is not None:
            self._check_custom_id()
        if self.max_credits is not None and self.max_credits < 0:
            raise UsageError("--max-credits must be 0 or more")
        if self.format is not None and self.format not in FORMATS:
            raise UsageError(f"--format must be one of {', '.join(FORMATS)}, not {self.format!r}")
        if self.extensions or self.catalog_number is not None:
            _check_identity_options(self)
        if self.output and self.report and _same_file(self.output, self.report):
            # the page renamed over the records: exit 0 and no record left (red team, s. 19)
            raise UsageError("--output and --report name the same file: give each its own")
        if self.xmp_name != IdentifyOptions.xmp_name:  # the default needs no look-up
            if self.xmp_name not in NAME_STYLES:
                raise UsageError(
                    f"--xmp-name must be one of {', '.join(NAME_STYLES)}, not {self.xmp_name!r}"
                )
            if not self.write_xmp:
                raise UsageError("--xmp-name goes with --write-xmp")

    def _check_custom_id(self) -> None:
        """A custom id names one identification: one photo, given by name."""
        one_file = len(self.paths) == 1 and self.paths[0] != "-" and self.group_by is None
        if not one_file or os.path.isdir(self.paths[0]):
            raise UsageError("--custom-id names one identification: give exactly one photo")
        if self.custom_id is not None and not 0 <= self.custom_id <= 2**31 - 1:
            raise UsageError("--custom-id must be a whole number from 0 to 2147483647")

    @property
    def reads_stdin(self) -> bool:
        return "-" in self.paths

    def setting_overrides(self) -> dict[str, Any]:
        """The given overrides of config.Settings, as flags for config.load_settings."""
        given = {name: getattr(self, name) for name in SETTING_FIELDS}
        return {name: value for name, value in given.items() if value is not None}


#: Each scalar option's type (bool, int, float, str), read off the fields once (`_typed`).
_KINDS: dict[str, type] = {}


def _typed(options: IdentifyOptions) -> None:
    """Every scalar option as its type. The command line gives them typed; from Python
    (`plantid_cli.identify(refresh="false", max_credits="5")`) a value was used as given: a
    string read as true re-bought cached answers, a health check ran on `health="no"`, and a
    number as text ended in a TypeError deep in the run (red team, session 19). Now each is
    read the way the configuration reads its settings ("no" is False, "5" is 5), or refused
    with the option's name (UsageError) before anything is read or sent."""
    global _KINDS
    if not _KINDS:  # built whole, then published: threads building options at once
        names: dict[str, type] = {"bool": bool, "int": int, "float": float, "str": str}
        _KINDS = {
            f.name: names[hint]
            for f in dataclass_fields(IdentifyOptions)
            if (hint := str(f.type).removesuffix(" | None")) in names
        }
    for name, kind in _KINDS.items():
        value = getattr(options, name)
        if value is None or (type(value) is kind) or (kind is float and type(value) is int):
            continue
        # lazy: the configuration's reading of values, only for a value not already typed
        from plantid_cli.config import read_option

        object.__setattr__(options, name, read_option(kind, name, value, "identify option"))


def _same_file(first: str, second: str) -> bool:
    """Whether two output paths name one file (through `~`, `..` and symlinks)."""
    resolved = [os.path.realpath(os.path.expanduser(path)) for path in (first, second)]
    return resolved[0] == resolved[1]


def _checked_shard(shard: Any) -> tuple[int, int]:
    """A shard given as (i, n) from Python, checked as --shard I/N is."""
    try:
        i, n = shard
    except (TypeError, ValueError):
        raise UsageError(f"shard must be (i, n) or 'I/N', not {shard!r}") from None
    if not all(type(part) is int for part in (i, n)):
        raise UsageError(f"shard must be two whole numbers (i, n), not {shard!r}")
    return _parse_shard(f"{i}/{n}")


def _parse_shard(spec: str) -> tuple[int, int]:
    # lazy: keeps inputs.walk off every command's start-up (app imports all)
    from plantid_cli.inputs.walk import parse_shard

    try:
        return parse_shard(spec)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _check_identity_options(options: IdentifyOptions) -> None:
    # lazy: keeps inputs (re, os walks) off every command's start-up (app imports all)
    from plantid_cli.inputs.identity import compile_pattern
    from plantid_cli.inputs.walk import normalise_extensions

    try:
        normalise_extensions(options.extensions)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    compile_pattern(options.catalog_number)


@dataclass
class RunOptions:
    """What the engine itself needs of the options (built by run/batch.py from IdentifyOptions
    and Settings)."""

    use_cache: bool = True
    refresh: bool = False
    rehash: bool = False  # --rehash: read every photo again (the hash index is rewritten)
    top: int = 3
    concurrency: int = 4
    mode: str | None = None  # --provider: plantid, plantnet, auto, both (None: the one given)
    inline: bool = False  # everything in the calling thread (the open-breaker fast path)


@dataclass(frozen=True)
class RunResult:
    """What a run returns: its figures, the exit code it deserves, whether it was stopped.

    `exit_code` follows the exit table (errors.exit_code_for); a stopped run is
    EXIT_INTERRUPTED (130) whatever its records were (the CLI turns that into 128 + the signal
    that stopped it). `empty_folders` are the folder arguments that held no image."""

    stats: RunStats
    exit_code: int
    interrupted: bool = False
    empty_folders: tuple[str, ...] = ()

    @classmethod
    def of(cls, stats: RunStats, code: int, interrupted: bool, empty: list[str]) -> RunResult:
        return cls(stats, EXIT_INTERRUPTED if interrupted else code, interrupted, tuple(empty))
