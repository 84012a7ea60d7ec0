"""Whose shared state is it: the account (service, API URL, key) every guard is keyed by.

Why: the breaker, the credits cool-down and the rate-limit log describe one account of one
service, not the service's name. Keyed by name alone, a rehearsal against the sandbox opened
the breaker for the real service, and key A's 429 refused key B for five minutes. Every backend
(SQLite tables and kv, Redis keys) and `plantid status` use :func:`account_for`, the one place
the id is built.

The id holds no secret: ``<service>:<url digest>:<key digest>``, both digests sha256 prefixes
(the key never; the URL is hashed too, because a Pl@ntNet key or a password may sit in it).
Rows written before accounts existed were keyed by the bare service name; they are simply
ignored (a breaker or cool-down of the old kind stays closed / ends as if it had run out).

Stdlib only: the open-breaker fast path (cli/fastpath.py) builds the same id at start-up.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from plantid_cli.config import redact_key
from plantid_cli.redact import redact

if TYPE_CHECKING:
    from plantid_cli.config import Settings

#: Hex digits kept of each digest: enough to tell accounts apart, short enough for a label.
DIGEST_CHARS = 12
NO_KEY = "nokey"


def normalise_url(url: str) -> str:
    """The form two spellings of one endpoint share: trimmed, no trailing ``/``, scheme and host
    lower-cased (paths are case-sensitive and kept as given)."""
    text = str(url).strip().rstrip("/")
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}{slash}{path}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:DIGEST_CHARS]


@dataclass(frozen=True, slots=True)
class Account:
    """One service account: what its shared state is keyed by and how `status` names it."""

    provider: str
    api_url: str
    key_digest: str
    key_hint: str | None

    @property
    def id(self) -> str:
        """The state key: breaker row, ``credits:<id>`` value, rate-limit bucket."""
        return f"{self.provider}:{_digest(self.api_url)}:{self.key_digest}"

    def describe(self) -> dict[str, str | None]:
        """For `plantid status`: which account the figures belong to (no secret in it)."""
        return {
            "id": self.id,
            "service": self.provider,
            "api_url": redact(self.api_url),
            "key": self.key_hint,
            "key_sha256": None if self.key_digest == NO_KEY else self.key_digest,
        }


def account_of(provider: str, api_url: str, api_key: str | None) -> Account:
    """The account of `provider` at `api_url` with `api_key` (None or "" for no key)."""
    key = api_key or ""
    return Account(
        provider=provider,
        api_url=normalise_url(api_url),
        key_digest=_digest(key) if key else NO_KEY,
        key_hint=redact_key(key),
    )


def account_for(settings: Settings, provider: str, api_key: str | None = None) -> Account:
    """The configured account of `provider` (its key from `settings` unless given)."""
    if api_key is None:
        api_key = settings.api_key if provider == "plantid" else settings.plantnet_api_key
    return account_of(provider, settings.url_for(provider), api_key)


__all__ = ["Account", "account_for", "account_of", "normalise_url"]
