"""One provider of a run with what stands between it and the network (`engine.Engine.lanes`)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from plantid_cli.guards.provider_guards import ProviderGuards
from plantid_cli.guards.wire import Turn, Wire
from plantid_cli.providers.base import IdentifyRequest, Provider
from plantid_cli.run.keygate import KeyGate


@dataclass
class Lane:
    """One provider and its own guards (breaker, rate limit, credits)."""

    provider: Provider
    guards: ProviderGuards
    wire: Wire  # this service's requests out at once (guards/wire.py)
    gate: KeyGate = field(init=False)  # a rejected key stops this lane's calls (keygate.py)

    def __post_init__(self) -> None:
        self.gate = KeyGate(self.provider.name, self.guards.bus)

    def turn(self) -> Turn:
        """One unit's place among this service's requests; what was learned while it waited
        for it (the key rejected, the credits gone, the breaker opened) refuses it."""
        return self.wire.turn(recheck=functools.partial(self.check, admitted=True))

    def check(self, *, admitted: bool = False) -> None:
        """Fail fast without a call: key rejected in this run, credits gone, breaker open
        (`admitted`: see ProviderGuards.check)."""
        self.gate.check()
        self.guards.check(admitted=admitted)

    def serving(
        self, stored: dict[str, Any] | None, request: IdentifyRequest
    ) -> dict[str, Any] | None:
        """`stored` when it answers `request`, else None (a miss): a provider with `serves`
        may need more than its cache key says (Pl@ntNet: an answer asked for fewer results
        than this --top, or without the related images now asked for)."""
        serves = getattr(self.provider, "serves", None)
        if stored is None or serves is None or serves(stored, request):
            return stored
        return None
