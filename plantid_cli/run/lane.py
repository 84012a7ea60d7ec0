"""One provider of a run with what stands between it and the network (`engine.Engine.lanes`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from plantid_cli.guards.provider_guards import ProviderGuards
from plantid_cli.providers.base import Provider
from plantid_cli.run.keygate import KeyGate


@dataclass
class Lane:
    """One provider and its own guards (breaker, rate limit, credits)."""

    provider: Provider
    guards: ProviderGuards
    gate: KeyGate = field(init=False)  # a rejected key stops this lane's calls (keygate.py)

    def __post_init__(self) -> None:
        self.gate = KeyGate(self.provider.name, self.guards.bus)

    def check(self) -> None:
        """Fail fast without a call: key rejected in this run, credits gone, breaker open."""
        self.gate.check()
        self.guards.check()
