"""The result cache's key: what identifies one answer (the photo's bytes, the service, the
request's parameters), never who asked for it. Stdlib only. May import: nothing of plantid.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

CACHE_KEY_VERSION = "v1"


def cache_key(provider: str, api_version: str, sha256: str, params: Mapping[str, object]) -> str:
    """``v1:<provider>:<api_version>:<sha256 of photo>:<32 hex of sha256(sorted JSON params)>``.

    `params` is everything that changes the answer (``Provider.cache_params``): organs,
    language, details... It must never contain the API key or any credential - the key
    identifies the account, not the answer, and cache keys end up in logs and on disk.
    """
    blob = json.dumps(dict(params), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]
    return f"{CACHE_KEY_VERSION}:{provider}:{api_version}:{sha256}:{digest}"


__all__ = ["CACHE_KEY_VERSION", "cache_key"]
