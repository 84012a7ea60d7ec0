"""Cheap coercion of plain CLI values, so that a command does not import pydantic.

Typer 0.2x coerces every parameter through a pydantic ``TypeAdapter`` (built lazily, but the
first one imports pydantic and builds schemas: `python -X importtime -m plantid_cli identify
x.jpg --top 2 2>&1 | grep -c pydantic` counts 0 modules with this patch, 42 without). That would
make ``plantid identify`` with an open breaker cost 2.5x ``plantid --version`` (docs/design.md,
"Start-up budget"). Every plantid parameter is a plain ``str``/``int``/``float``/``bool`` or a
list of them, which need no schema: :func:`install` routes exactly those through a few lines of
Python, and so does a fixed set of string values (a ``Literal``, cli/options.py: checked with
Typer's own ``coerce_cli_choice``; the message is Click's, ``'xml' is not one of 'table', ...``,
without pydantic's "Value error," prefix); everything else (enums, paths, ranges, custom
parsers, ...) is left to Typer.

Typer internals are used defensively: with a Typer that lacks them, nothing is changed.
"""

from __future__ import annotations

from typing import Any, Literal, get_args, get_origin

_PLAIN = (str, int, float, bool)
_NAMES = {int: "integer", float: "number", bool: "boolean", str: "string"}
_TRUE = {"1", "true", "t", "yes", "y", "on"}
_FALSE = {"0", "false", "f", "no", "n", "off"}


def _convert(kind: type, value: Any) -> Any:
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    if isinstance(value, bytes):
        value = value.decode("utf-8", "surrogateescape")
    if kind is str:
        if value is None:
            raise ValueError("None is not a valid string")
        return str(value)
    text = str(value).strip()
    if kind is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(text)
    return kind(text)


def _string_choices(descriptor: Any) -> tuple[str, ...] | None:
    """The choices of a single-valued Literal of strings, else None."""
    annotation = descriptor.annotation
    if get_origin(annotation) is not Literal:
        return None
    choices = get_args(annotation)
    return choices if choices and all(type(c) is str for c in choices) else None


def _plain_kind(descriptor: Any) -> tuple[type, bool] | None:
    """(leaf type, is_list) when the parameter needs no more than int()/float()/str()."""
    info = descriptor.parameter_info
    for attr in ("parser", "click_type", "min", "max"):
        if getattr(info, attr, None) is not None:
            return None
    if getattr(descriptor, "file_annotation", None) is not None:
        return None
    if _string_choices(descriptor) is not None:
        return str, False
    annotation, is_list = descriptor.annotation, False
    if get_origin(annotation) is list and len(get_args(annotation)) == 1:
        annotation, is_list = get_args(annotation)[0], True
    if annotation not in _PLAIN:
        return None
    if getattr(info, "path_type", None) is not None or getattr(info, "exists", False):
        return None
    return annotation, is_list


def install() -> bool:
    """Patch Typer's per-parameter coercion for plain types; True when installed."""
    try:
        from dataclasses import dataclass

        from typer import _coercion, core
        from typer._click.exceptions import BadParameter
        from typer._param_types import coerce_cli_choice
    except ImportError:
        return False
    original = getattr(core, "build_runtime_param", None)
    base = getattr(_coercion, "RuntimeParam", None)
    if original is None or base is None or getattr(original, "_plantid_fast", False):
        return False

    @dataclass(frozen=True)
    class PlainRuntimeParam(base):  # type: ignore[misc]
        kind: type = str
        is_list: bool = False
        choices: tuple[str, ...] | None = None

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            if self.choices is not None:
                sensitive = getattr(self.parameter_info, "case_sensitive", True)
                try:
                    return coerce_cli_choice(
                        value, choices=self.choices, case_sensitive=sensitive, ctx=ctx
                    )
                except ValueError as exc:  # "'xml' is not one of 'table', 'json', ..."
                    raise BadParameter(str(exc), ctx=ctx, param=param) from None
            try:
                if self.is_list:
                    items = value if isinstance(value, list | tuple) else [value]
                    return [_convert(self.kind, item) for item in items]
                return _convert(self.kind, value)
            except (TypeError, ValueError):
                raise BadParameter(
                    f"{value!r} is not a valid {_NAMES[self.kind]}.", ctx=ctx, param=param
                ) from None

    def build_runtime_param(descriptor: Any) -> Any:
        plain = _plain_kind(descriptor)
        if plain is None:
            return original(descriptor)
        try:
            return PlainRuntimeParam(
                parameter_info=descriptor.parameter_info,
                annotation=descriptor.annotation,
                kind=plain[0],
                is_list=plain[1],
                choices=_string_choices(descriptor),
            )
        except TypeError:  # a Typer whose RuntimeParam has other fields
            return original(descriptor)

    build_runtime_param._plantid_fast = True  # type: ignore[attr-defined]
    core.build_runtime_param = build_runtime_param  # type: ignore[attr-defined]  # not exported
    return True
