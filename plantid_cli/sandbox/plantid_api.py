"""Request parsing, checks and answer shapes of the sandbox (`plantid_cli.sandbox.server`).

Pure functions, no sockets: they turn request bytes into fields and 400 messages, and picks from
`sandbox_data` into the services' documented JSON. This module holds the shared pieces (replies,
images, multipart, settings, the call log) and Plant.id; Pl@ntNet's live in `sandbox_plantnet`.
Pillow is imported lazily.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import re
import threading
import time
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from plantid_cli.sandbox import data, plantid_taxonomy
from plantid_cli.sandbox.plantid_health import health_result
from plantid_cli.sandbox.settings import DEFAULT_SETTINGS, MODES

CREDITS_TEXT = "The specified api key does not have sufficient number of available credits."
KEY_NOT_FOUND = "The specified api key not found."
MODEL_VERSION = "plant_id:3.2.0"
_NO_MODE = (None, "", "none", "off")
_INTS = ("credits", "plantnet_quota", "seed", "bomb_mb")


class Reply:
    __slots__ = ("status", "body", "ctype", "headers", "payload")

    def __init__(self, status, body, ctype, headers=None, payload=None):
        self.status, self.body, self.ctype = status, body, ctype
        self.headers, self.payload = headers or {}, payload


def text_reply(status: int, text: str) -> Reply:
    return Reply(status, text.encode(), "text/plain; charset=utf-8")


def html_reply(status: int) -> Reply:
    title = f"{status} {HTTPStatus(status).phrase}"
    page = f"<!DOCTYPE html><html><head><title>{title}</title></head>"
    page += f"<body><h1>{title}</h1><p>The server hit a problem.</p></body></html>"
    return Reply(status, page.encode(), "text/html; charset=utf-8")


def json_reply(status: int, payload, headers=None) -> Reply:
    body = json.dumps(payload, ensure_ascii=False).encode()
    return Reply(status, body, "application/json", headers, payload)


def csv_param(query: dict, name: str) -> list[str]:
    return [v.strip() for raw in query.get(name, []) for v in raw.split(",") if v.strip()]


def flag_param(query: dict, name: str) -> bool:
    return query.get(name, ["false"])[-1].lower() in ("true", "1")


def _b64(item) -> bytes | None:
    if not isinstance(item, str):
        return None
    if item.startswith("data:"):
        item = item.partition(",")[2]
    try:  # as sent by a client: one strict pass, without copying the text to strip it
        return base64.b64decode(item, validate=True)
    except (binascii.Error, ValueError):
        pass
    try:  # wrapped (MIME-style line breaks): the service accepts it too
        return base64.b64decode("".join(item.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def access_token(seed: bytes) -> str:
    """15 URL-safe characters, like the service's tokens."""
    return base64.b64encode(hashlib.sha256(seed).digest(), b"xy").decode()[:15]


def digest(blobs: list[bytes]) -> bytes:
    if len(blobs) == 1:
        return hashlib.sha256(blobs[0]).digest()
    return hashlib.sha256(b"".join(hashlib.sha256(b).digest() for b in blobs)).digest()


def inspect_image(blob: bytes) -> tuple[int, int, str | None, tuple[float, ...]] | None:
    """(width, height, format, mean RGB) of a fully decodable image, else None."""
    from PIL import Image, ImageStat  # lazy: the sandbox imports with the stdlib only

    try:
        with Image.open(io.BytesIO(blob)) as image:
            width, height, fmt = *image.size, image.format
            image.draft("RGB", (64, 64))  # JPEG: decode the whole stream at a reduced scale
            rgb = image.convert("RGB")
            rgb.thumbnail((32, 32))
            mean = tuple(ImageStat.Stat(rgb).mean)
    except Exception:  # Pillow raises many types for bad data; all mean "not an image"
        return None
    return width, height, fmt, mean


def looks_like_plant(infos) -> bool:
    return data.is_plant_like(tuple(sum(i[3][c] for i in infos) / len(infos) for c in range(3)))


def parse_multipart(body: bytes, ctype: str) -> list[tuple[str, str | None, bytes]]:
    """(name, filename, bytes) for each part of a multipart/form-data body."""
    from email.message import Message
    from email.utils import collapse_rfc2231_value

    header = Message()
    header["Content-Type"] = ctype
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise ValueError("no boundary")
    parts = []
    for chunk in body.split(b"--" + boundary.encode("latin-1"))[1:]:
        if chunk.startswith(b"--"):
            break
        head, sep, payload = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("malformed part")
        part = Message()
        for line in head.decode("latin-1").strip().split("\r\n"):
            name, _, value = line.partition(":")
            part[name.strip()] = value.strip()
        field = collapse_rfc2231_value(part.get_param("name", "", "content-disposition"))
        payload = payload[:-2] if payload.endswith(b"\r\n") else payload
        parts.append((field, part.get_filename(), payload))
    return parts


def _form_value(name: str, raw: bytes):
    value = raw.decode("utf-8", "replace")
    try:
        if name in ("latitude", "longitude"):
            return float(value)
        if name == "custom_id":
            return int(value)
    except ValueError:
        return value
    if name == "similar_images":
        return {"true": True, "false": False}.get(value.lower(), value)
    return value


def parse_plantid(body: bytes, ctype: str) -> tuple[dict, int, list[bytes], str | None]:
    """(fields, images sent, decoded images, first 400 message or None)."""
    if ctype.startswith("multipart/form-data"):
        try:
            parts = parse_multipart(body, ctype)
        except ValueError:
            return {}, 0, [], "Invalid multipart data"
        fields = {n: _form_value(n, raw) for n, _, raw in parts if n != "images"}
        images: list[Any] = [raw for n, _, raw in parts if n == "images"]
    else:
        try:
            fields = json.loads(body)
        except ValueError:
            return {}, 0, [], "Invalid json data"
        if not isinstance(fields, dict):
            return {}, 0, [], "Invalid json data"
        images = fields["images"] if isinstance(fields.get("images"), list) else []
    if not images or any(not item for item in images):
        return fields, len(images), [], "Missing image data"
    if len(images) > 5:
        return fields, len(images), [], "Too many images: at most 5 are allowed"
    blobs = [item if isinstance(item, bytes) else _b64(item) for item in images]
    decoded = [blob for blob in blobs if blob is not None]
    if len(decoded) != len(blobs):
        return fields, len(images), [], "Invalid base64 image data"
    return fields, len(images), decoded, None


def check_plantid(fields: dict, query: dict) -> str | None:
    for axis, limit in (("latitude", 90), ("longitude", 180)):
        value = fields.get(axis)
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not -limit <= value <= limit
        ):
            return f"Invalid {axis}: expected a number between -{limit} and {limit}"
    moment = fields.get("datetime")
    if moment is not None:
        if not isinstance(moment, str) or moment.strip().upper().endswith("Z"):
            return "Invalid datetime: expected ISO 8601 without a trailing Z"
        try:
            datetime.fromisoformat(moment)
        except ValueError:
            return "Invalid datetime: expected ISO 8601 without a trailing Z"
    if not isinstance(fields.get("similar_images", False), bool):
        return "Invalid similar_images: expected a boolean"
    custom_id = fields.get("custom_id")
    if custom_id is not None and (isinstance(custom_id, bool) or not isinstance(custom_id, int)):
        return "Invalid custom_id: expected an integer"
    if fields.get("health") not in (None, "all", "only", "auto"):
        return "Invalid health: expected all, only or auto"
    if fields.get("classification_level") not in (None, "species", "genus", "all"):
        return "Invalid classification_level: expected species, genus or all"
    if len(csv_param(query, "language")) > 3:
        return "Too many languages: at most 3 are allowed"
    return None


def plantid_identification(token: str, fields: dict, blobs: list[bytes], base_url: str) -> dict:
    """The identification object without `result` (added per request by `render_plantid`)."""
    now = time.time()
    taken = fields.get("datetime")
    moment = datetime.fromisoformat(taken) if taken else datetime.fromtimestamp(now, UTC)
    images = [f"{base_url}/media/imgs/{hashlib.sha256(b).hexdigest()[:32]}.jpg" for b in blobs]
    ident: dict[str, Any] = {
        "access_token": token,
        "model_version": MODEL_VERSION,
        "custom_id": fields.get("custom_id"),
        "input": {
            "latitude": fields.get("latitude"),
            "longitude": fields.get("longitude"),
            "similar_images": bool(fields.get("similar_images", False)),
            "images": images,
            "datetime": moment.isoformat(),
        },
        "status": "COMPLETED",
        "sla_compliant_client": True,
        "sla_compliant_system": True,
        "created": now,
        "completed": now + 0.05,
    }
    if fields.get("health"):
        ident["input"]["health"] = fields["health"]
    if fields.get("classification_level"):
        ident["input"]["classification_level"] = fields["classification_level"]
    return ident


def render_plantid(stored: dict, query: dict, base_url: str) -> dict:
    """A stored identification with its result in the query's `details` and `language`."""
    similar = stored["ident"]["input"]["similar_images"]
    plant, key = stored["plant"], stored["digest"]
    suggestions = plantid_taxonomy.suggestions(
        stored["picks"],
        level=stored["ident"]["input"].get("classification_level"),
        details=csv_param(query, "details"),
        languages=csv_param(query, "language")[:3] or ["en"],
        with_similar=similar,
        base_url=base_url,
    )
    probability = round(0.93 + key[5] % 7 / 100, 3) if plant else 0.05
    result: dict = {"is_plant": {"probability": probability, "binary": plant, "threshold": 0.5}}
    if stored["health"] != "only":  # a health assessment has no classification
        result["classification"] = {"suggestions": suggestions}
    if stored["health"]:
        details = csv_param(query, "details")
        language = (csv_param(query, "language") or ["en"])[0]
        result.update(
            health_result(
                key, details=details, language=language, with_similar=similar, base_url=base_url
            )
        )
    return {**stored["ident"], "result": result}


_BOMBS: dict[int, bytes] = {}
#: One build at a time: eight bomb answers in flight built it eight times over (GIL-bound,
#: past the client's timeout).
_BOMBS_LOCK = threading.Lock()


def gzip_bomb(megabytes: int) -> bytes:
    """A gzip body that decodes to `megabytes` MiB of zeros (about 1 kB sent per MiB); built
    once per size, a megabyte at a time, so the sandbox never holds the decoded form."""
    with _BOMBS_LOCK:
        return _BOMBS.get(megabytes) or _build_bomb(megabytes)


def _build_bomb(megabytes: int) -> bytes:
    import zlib

    if megabytes not in _BOMBS:
        packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: a gzip container
        block = bytes(1 << 20)
        parts = [packer.compress(block) for _ in range(megabytes)]
        _BOMBS[megabytes] = b"".join(parts) + packer.flush()
    return _BOMBS[megabytes]


def usage_payload(total: int, used: float) -> dict:
    """The real service sends its counts as floats (`86.0`, upstream-apis.md): so does this."""
    none = {"day": None, "week": None, "month": None}
    remaining = max(0, total - used)
    return {
        "active": True,
        "credit_limits": {**none, "total": float(total)},
        "used": {**none, "total": float(used)},
        "can_use_credits": {"value": remaining > 0, "reason": None if remaining else CREDITS_TEXT},
        "remaining": {**none, "total": float(remaining)},
    }


def check_setting(name: str, value):
    """The value to store for one sandbox setting; ValueError when it is not acceptable."""
    if name in ("mode", "mode_plantid", "mode_plantnet"):
        if value not in _NO_MODE and value not in MODES:
            raise ValueError(f"{name} must be one of {', '.join(sorted(MODES))} or null")
        return None if value in _NO_MODE else value
    if isinstance(DEFAULT_SETTINGS.get(name), bool):  # the switches (fault_reread, ...)
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false")
        return value
    if name == "hold_after":
        if value is not None and (type(value) is not int or value < 0):
            raise ValueError("hold_after must be an integer >= 0 or null")
        return value
    if name == "key":
        if value is not None and not isinstance(value, str):
            raise ValueError("key must be a string or null")
        return value or None
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else -1
    if number < 0 or (name == "fail_rate" and number > 1):
        raise ValueError(f"{name} must be a number >= 0" + " and <= 1" * (name == "fail_rate"))
    if name in _INTS and number != int(number):
        raise ValueError(f"{name} must be an integer")
    return int(number) if name in _INTS else float(number)


def call_record(kind, method, path, count, blobs, fields, query) -> dict:
    """One entry of `/_sandbox/stats` `calls` (status and t_end are filled in later)."""
    api = kind.split("_")[0]
    language = csv_param(query, "language" if api == "plantid" else "lang")
    return {
        "api": api,
        "kind": kind,
        "method": method,
        "path": re.sub(r"(api-key=)[^&]*", r"\1***", path),
        "t_start": time.time(),
        "t_end": None,
        "status": None,
        "fault": None,
        "images": count,
        "image_sizes": [],
        "image_bytes": [len(b) for b in blobs],
        "image_sha256": [hashlib.sha256(b).hexdigest() for b in blobs],
        "latitude": fields.get("latitude"),
        "longitude": fields.get("longitude"),
        "datetime": fields.get("datetime"),
        "organs": fields.get("organs"),
        "project": fields.get("project"),
        "details": csv_param(query, "details") if api == "plantid" else None,
        "classification_level": fields.get("classification_level"),
        "similar_images": fields.get("similar_images"),
        "custom_id": fields.get("custom_id"),
        "language": ",".join(language) or None,
    }
