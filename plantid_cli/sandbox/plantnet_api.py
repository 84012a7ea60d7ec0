"""Pl@ntNet v2 request parsing, checks and answer shapes of the sandbox (`plantid_cli.sandbox`).

Pure functions, no sockets, like `sandbox_protocol` (which holds the shared reply and image
helpers and the Plant.id side). Pillow is imported lazily there.
"""

from __future__ import annotations

import hashlib
from http import HTTPStatus

from plantid_cli.constants import ORGANS as CLI_ORGANS
from plantid_cli.sandbox import data
from plantid_cli.sandbox.plantid_api import (
    Reply,
    digest,
    flag_param,
    json_reply,
    looks_like_plant,
    parse_multipart,
)

PLANTNET_VERSION = "2026-03-20 (7.5)"
#: Pl@ntNet accepts two organs more than the CLI offers; one of the CLI's must be among them.
PRIMARY_ORGANS = frozenset(CLI_ORGANS)
ORGANS = PRIMARY_ORGANS | {"habit", "other"}


def plantnet_error(status: int, message: str, headers=None) -> Reply:
    error = {"statusCode": status, "error": HTTPStatus(status).phrase, "message": message}
    return json_reply(status, error, headers)


def check_plantnet(files: list, organs: list[str], query: dict) -> str | None:
    if not files:
        return "Missing images: send 1 to 5 image files in `images`"
    if len(files) > 5:
        return "Too many images: at most 5 are allowed"
    if len(organs) != len(files):
        return "`organs` must have as many values as `images`"
    bad = [organ for organ in organs if organ not in ORGANS]
    if bad:
        return f"Invalid organ: {bad[0]!r} (leaf, flower, fruit, bark, auto, habit, other)"
    if not set(organs) & PRIMARY_ORGANS:
        return "habit and other are only accepted beside leaf, flower, fruit, bark or auto"
    nb = query.get("nb-results", ["5"])[-1]
    if not nb.isdigit() or int(nb) < 1:
        return "nb-results must be a positive integer"
    return None


def parse_plantnet(body: bytes, ctype: str) -> tuple[list, list[str], str | None]:
    """([(filename, bytes)] of `images`, `organs` values, first 400 message or None)."""
    if not ctype.startswith("multipart/form-data"):
        return [], [], "Content-Type must be multipart/form-data with `images` and `organs`"
    try:
        parts = parse_multipart(body, ctype)
    except ValueError:
        return [], [], "Invalid multipart data"
    files = [(filename, raw) for name, filename, raw in parts if name == "images"]
    organs = [raw.decode("utf-8", "replace").strip() for n, _, raw in parts if n == "organs"]
    return files, organs, None


#: Flora ids the service answers to besides those `GET /v2/projects` lists here (`all` and older
#: short ids, still accepted): any other project is a 404 without the "Species not found"
#: message, which is how a client can tell a wrong --project from a plant not found.
OTHER_PROJECTS = frozenset({"all", "weurope", "canada", "namerica", "the-plant-list"})


def known_project(project: str) -> bool:
    return project in OTHER_PROJECTS or any(p[0] == project for p in data.PLANTNET_PROJECTS)


def plantnet_payload(project, files, organs, infos, query, remaining, base_url) -> dict | None:
    """The Pl@ntNet answer, or None for "Species not found" (not a plant, no `no-reject`)."""
    blobs = [raw for _, raw in files]
    key, plant = digest(blobs), looks_like_plant(infos)
    no_reject = flag_param(query, "no-reject")
    if not plant and not no_reject:
        return None
    lang = query.get("lang", ["en"])[-1] or "en"
    related = flag_param(query, "include-related-images")
    wanted = int(query.get("nb-results", ["5"])[-1])
    picks = data.plantnet_picks(key, plant)
    results = [
        data.plantnet_result(i, s, language=lang, related=related, base=base_url)
        for i, s in picks[:wanted]
    ]
    for species, score, iucn in data.plantnet_tail(max(0, wanted - len(picks)), picks[-1][1]):
        results.append(
            data.plantnet_result(
                species, score, language=lang, related=related, base=base_url, iucn=iucn
            )
        )
    ids = [hashlib.sha256(blob).hexdigest()[:32] for blob in blobs]
    guessed = ("leaf", "flower", "fruit", "bark")[key[8] % 4]
    predicted = [
        {
            "image": image_id,
            "filename": filename or f"image{n}.jpg",
            "organ": guessed if organ == "auto" else organ,
            "score": round(0.6 + key[9 + n] % 40 / 100, 5),
        }
        for n, (image_id, (filename, _), organ) in enumerate(zip(ids, files, organs, strict=True))
    ]
    return {
        "query": {
            "project": project,
            "images": ids,
            "organs": organs,
            "includeRelatedImages": related,
            "noReject": no_reject,
            "type": query.get("type", [None])[-1],
        },
        "predictedOrgans": predicted,
        "language": lang,
        "preferedReferential": "k-world-flora" if project == "all" else project,
        "bestMatch": results[0]["species"]["scientificName"],
        "results": results,
        "version": PLANTNET_VERSION,
        "remainingIdentificationRequests": remaining,
    }


def plantnet_projects_reply(query: dict, key: str, expected: str | None) -> Reply:
    """`GET /v2/projects?api-key=&lang=&lat=&lon=&type=`: the floras (for a place, when lat/lon
    are given); 401 without the key (`expected`: None takes any), 400 for a bad position."""
    if not key or (expected is not None and key != expected):
        return plantnet_error(401, "Invalid API key" if key else "Missing API key")
    lat, lon = query.get("lat", [None])[-1], query.get("lon", [None])[-1]
    if (lat is None) != (lon is None):
        return plantnet_error(400, "lat and lon go together")
    try:
        position = None if lat is None else (float(lat), float(lon))
    except ValueError:
        return plantnet_error(400, "lat and lon must be numbers")
    if position and not (-90 <= position[0] <= 90 and -180 <= position[1] <= 180):
        return plantnet_error(400, "lat must be in [-90, 90] and lon in [-180, 180]")
    found = data.plantnet_projects(*(position or (None, None)))
    return json_reply(200, found)
