"""A strict, small type check of the services' answers; what an unusable paid answer becomes.

Why strict: a 2xx identification has been charged. Anything we cannot use must become one
classified `UnusableAnswer` (code `bad_response`, stored and never bought again) — never a
`KeyError`/`TypeError`/`ValueError`/`RecursionError` that surfaces as an internal error, and
never a record with a string where scripts expect a bool (`"binary": "false"` is truthy) or a
NaN probability that breaks sorting and thresholds.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from plantid_cli.errors import BadResponse, UnusableAnswer
from plantid_cli.redact import redact

T = TypeVar("T")

if TYPE_CHECKING:
    import httpx

#: Suggestions kept per answer: the record shows `--top` of them, the cache keeps this many.
MAX_SUGGESTIONS_KEPT = 100
#: More suggestions than this is not an answer to what was asked (Pl@ntNet is asked for --top,
#: Plant.id sends a handful): the answer is unusable rather than silently cut.
MAX_SUGGESTIONS_ACCEPTED = 1000
#: Raw text of an unusable answer kept in the cache (for a support ticket or a re-parse).
MAX_RAW_CHARS = 64 * 1024
#: What an access token may look like before it goes into a re-read URL.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,128}")
_SURROGATE = re.compile("[\ud800-\udfff]")
_TOKEN_IN_TEXT = re.compile(r'"access_token"\s*:\s*"([A-Za-z0-9_-]{1,128})"')


def mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadResponse(f"{where} is {_kind(value)}, not an object")
    return value


def optional_mapping(value: Any, where: str) -> dict[str, Any]:
    """An object that may be absent or null (read as empty)."""
    return {} if value is None else mapping(value, where)


def items(value: Any, where: str, *, limit: int = MAX_SUGGESTIONS_ACCEPTED) -> list[Any]:
    if not isinstance(value, list):
        raise BadResponse(f"{where} is {_kind(value)}, not a list")
    if len(value) > limit:
        raise BadResponse(f"{where} has {len(value)} entries (more than {limit})")
    return value


def text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadResponse(f"{where} is {_kind(value)}, not a name")
    return _encodable(value)


def optional_text(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadResponse(f"{where} is {_kind(value)}, not text")
    return _encodable(value)


def _encodable(value: str) -> str:
    """JSON's `"\\ud800"` reads as a lone surrogate, which no UTF-8 writer (the cache, stdout)
    accepts: it becomes U+FFFD here, so a paid answer can always be stored and printed."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", value)
    return value


def texts(value: Any, where: str) -> list[str]:
    """A list of strings that may be null (read as empty)."""
    if value is None:
        return []
    return [text(item, f"{where}[]") for item in items(value, where)]


def flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise BadResponse(f"{where} is {_kind(value)}, not true/false")
    return value


def probability(value: Any, where: str) -> float:
    """A finite number in [0, 1] (JSON's 1 and 0 are numbers too; NaN and 1e999 are not)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadResponse(f"{where} is {_kind(value)}, not a probability")
    number = float(value)
    if not math.isfinite(number) or not 0.0 <= number <= 1.0:
        raise BadResponse(f"{where} is {number!r}, not a probability in [0, 1]")
    return number


def count(value: Any, where: str) -> int | None:
    """A whole, non-negative number that may be null (`86.0` is whole)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadResponse(f"{where} is {_kind(value)}, not a count")
    if not math.isfinite(value) or value < 0 or value != int(value):
        raise BadResponse(f"{where} is {value!r}, not a count")
    return int(value)


def or_none(check: Any, value: Any, where: str) -> Any:
    """`check(value, where)`, or None when it fails: for metadata beside the identification
    (a model version, a quota count), whose damage must not cost the paid answer itself."""
    try:
        return check(value, where)
    except BadResponse:
        return None


def valid_token(token: Any) -> bool:
    """Whether `token` may go into a re-read URL (an access token's characters only)."""
    return isinstance(token, str) and _TOKEN.fullmatch(token) is not None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict | list):
        return "an object" if isinstance(value, dict) else "a list"
    shown = repr(value)
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    return f"{type(value).__name__} {shown}"


# ----- a charged answer ---------------------------------------------------------------------
def charged_answer(provider: str, response: httpx.Response, parse: Callable[[Any], T]) -> T:
    """`parse(data)` of a 2xx identification answer; an `UnusableAnswer` when it cannot be used.

    The raw text (capped) and any access token go with the error so the engine can store the
    paid answer and Plant.id can re-read it for free.
    """
    raw = _raw_text(response)
    try:
        # a UTF-8 byte order mark (some proxies add one) is not JSON to json.loads(str), but
        # the answer behind it is whole and paid for: read it (httpx's .json() does so too)
        data = json.loads(raw.removeprefix("\ufeff"))
    except (ValueError, RecursionError):
        raise unusable(provider, "invalid JSON", raw, None) from None
    token = data.get("access_token") if isinstance(data, dict) else None
    token = token if isinstance(token, str) and _TOKEN.fullmatch(token) else None
    try:
        return parse(data)
    except BadResponse as exc:
        raise unusable(provider, exc.message, raw, token) from None
    except (KeyError, TypeError, IndexError, ValueError, AttributeError, RecursionError) as exc:
        raise unusable(provider, f"{type(exc).__name__}: {exc}", raw, token) from None


def _raw_text(response: httpx.Response) -> str:
    try:
        return response.text
    except (LookupError, ValueError):  # an unknown or lying charset
        return response.content.decode("utf-8", "replace")


def unusable(provider: str, why: str, raw: str, token: str | None) -> UnusableAnswer:
    if token is None:  # a truncated answer may still name its token (Plant.id sends it first)
        found = _TOKEN_IN_TEXT.search(raw[:4096])
        token = found.group(1) if found else None
    return UnusableAnswer(
        f"{provider}: the service charged for an answer that cannot be used ({why[:200]})",
        # redacted: the raw text is stored in the (shareable) cache, and a service that echoes
        # the key it was sent (as error bodies do) would put the key's bytes on disk
        raw=redact(raw[:MAX_RAW_CHARS]),
        access_token=token,
    )
