"""The words of an `identify` command line, as the function parameters of cli/identify.py,
turned into the one IdentifyOptions of a run.

Why a module of its own: two parsers fill these parameters, Typer (cli/identify.py) and the
open-breaker fast path (cli/fastpath.py, from the table tools/fastspec.py generates out of the
Typer declarations), and the step from parameters to options must be one, or the two drift.
Stdlib and run/options only: the fast path imports it without the command-line framework.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from plantid_cli.run.options import IdentifyOptions

#: Parameters of the command that are not options of the run: they set up logging.
LOGGING_PARAMS = ("verbose", "debug", "log_format")
#: A parameter whose IdentifyOptions field has another name (a short flag's word, or a
#: negated sense).
_FIELD_OF = {
    "fmt": "format",
    "lat": "latitude",
    "lon": "longitude",
    "max_side": "max_image_side",
}


def options_from_args(args: Mapping[str, Any], **fixed: Any) -> IdentifyOptions:
    """IdentifyOptions from the command's parameters (`args`: those given, or all of them at
    their defaults; the logging ones are ignored); `fixed` fields are set as given. A bad
    combination raises UsageError (IdentifyOptions checks itself)."""
    fields: dict[str, Any] = dict(fixed)
    for name, value in args.items():
        if name in LOGGING_PARAMS:
            continue
        if name == "paths":
            fields["paths"] = tuple(value)
        elif name == "no_cache":
            fields["use_cache"] = not value
        elif name == "ext":
            fields["extensions"] = tuple(value or ())
        else:
            fields[_FIELD_OF.get(name, name)] = value
    return IdentifyOptions(**fields)
