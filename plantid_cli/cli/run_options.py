"""The options of a run, shared by `identify` and `health`, and the help of an option that
overrides a setting.

Apart from cli/options.py (every command's options, the parser classes) because these show
their setting's default in their help, read from config.Settings, its one place: a command
line that declares none of them (`plantid --version`, `plantid keys list`) does not import the
configuration to build its parser. Defaults of the run: run/options.IdentifyOptions.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import typer

from plantid_cli.config import Settings
from plantid_cli.constants import GROUP_BY


def setting_default(name: str) -> str:
    """The built-in value of a setting as help shows it (config.Settings is its one place);
    PLANTID_<NAME> and the config file change it (README)."""
    spec = Settings.__dataclass_fields__[name]
    value: Any = spec.default_factory() if callable(spec.default_factory) else spec.default
    return ",".join(value) if isinstance(value, list) else "unset" if value is None else str(value)


def with_default(help: str, name: str) -> str:
    """`help` of an option that overrides a setting: unset unless given, so help says what
    the setting's default is, `(default: 3)`."""
    return f"{help} (default: {setting_default(name)})."


def setting_option(name: str, *flags: str, help: str) -> Any:
    """An option that overrides setting `name`: unset (None) unless given, so the setting's
    own sources (PLANTID_*, the config file) apply; help shows its default."""
    return typer.Option(*flags, help=with_default(help, name), show_default=False)


# ----- a run's options, shared by identify and health (defaults: run/options.IdentifyOptions) --
Paths = Annotated[
    list[str], typer.Argument(help="Image files, folders (recursive), or - for a list on stdin.")
]
Latitude = Annotated[
    float | None,
    typer.Option("--lat", help="Latitude to send instead of the photo's EXIF position."),
]
Longitude = Annotated[
    float | None,
    typer.Option("--lon", help="Longitude to send instead of the photo's EXIF position."),
]
NoLocation = Annotated[
    bool, typer.Option("--no-location", help="Send no position at all (rare plants).")
]
Concurrency = Annotated[
    int | None,
    setting_option("concurrency", "--concurrency", "-j", help="Requests in flight per service"),
]
NoCache = Annotated[
    bool, typer.Option("--no-cache", help="Neither read nor write the result cache.")
]
Refresh = Annotated[
    bool, typer.Option("--refresh", help="Ask the service again and store the new answer.")
]
MaxCredits = Annotated[
    int | None, typer.Option("--max-credits", help="Refuse to start a run that would spend more.")
]
Timeout = Annotated[
    float | None, setting_option("timeout", "--timeout", help="Seconds per HTTP request")
]
MaxSide = Annotated[
    int | None,
    setting_option("max_image_side", "--max-side", help="Long side of the upload in pixels"),
]
Shard = Annotated[
    str | None,
    typer.Option(
        "--shard",
        metavar="I/N",
        help="Take only share I (0-based) of N of the inputs, split by a hash of each "
        "path below its folder argument; N workers on the same folder cover it exactly once.",
    ),
]
GroupBy = Annotated[
    Literal[GROUP_BY] | None,
    typer.Option(
        "--group-by",
        help="folder: each folder's photos (1-5) are one specimen, one request, one record.",
    ),
]
#: Common names' languages (identify, refetch): the `language` setting unless given.
Languages = Annotated[
    str | None,
    setting_option("language", "--language", help="Language(s) of common names, e.g. en or en,de"),
]
#: Plant.id details beyond the record's own (identify, refetch): the `details` setting.
Details = Annotated[
    str | None,
    setting_option(
        "details",
        "--details",
        help="Comma list of Plant.id details to ask for besides the record's own (they land "
        "under each suggestion's `details`)",
    ),
]
