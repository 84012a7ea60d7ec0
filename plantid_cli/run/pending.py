"""A unit between the two stages: prepared, looked up, waiting for a service.

Its own module so that the engine (which makes and resolves them) stays one job and short.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from plantid_cli.inputs.specimens import Specimen
from plantid_cli.inputs.walk import ImageJob
from plantid_cli.providers.base import IdentifyRequest
from plantid_cli.run.combine import Outcome

if TYPE_CHECKING:
    from plantid_cli.records import Location


@dataclass
class Pending:
    """A unit that needs a service: prepared uploads plus what the cache entries will need."""

    job: ImageJob | Specimen
    sha256: str
    keys: dict[str, str]  # provider -> cache key
    prepared: list[Any]  # PreparedImage per photo
    location: Location | None  # the position to send (options applied)
    request: IdentifyRequest  # the run's request for this unit (one organ per photo)
    outcomes: dict[str, Outcome] = field(default_factory=dict)  # known before the network
    started: float = field(default_factory=time.monotonic)

    @property
    def key(self) -> str:
        """In-run dedupe key: the same unit asked of the same providers."""
        return "|".join(self.keys.values())


@dataclass
class Known:
    """A unit looked up in bulk (run/lookup.py `triage`) that still needs a service: its hash,
    cache keys and what the cache and the fail-fast guards said, so stage A only prepares."""

    job: ImageJob | Specimen
    sha256: str
    keys: dict[str, str]
    request: IdentifyRequest
    outcomes: dict[str, Outcome] = field(default_factory=dict)
