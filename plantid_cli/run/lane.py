"""One provider of a run with what stands between it and the network (`engine.Engine.lanes`)."""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from plantid_cli.errors import ProbeInFlight
from plantid_cli.events import Event
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
    _trial_wait_said: bool = field(default=False, init=False)
    _said_lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self.gate = KeyGate(self.provider.name, self.guards.bus)

    def waiting_for_trial(self, trial: ProbeInFlight) -> None:
        """Say once per run that its photos wait for another process's trial call: the run
        may sit silent for as long as that call's deadlines allow. (Its own trial's start is
        said by the circuit's `open -> half-open`.)"""
        if trial.ours:
            return
        with self._said_lock:
            first, self._trial_wait_said = not self._trial_wait_said, True
        if first:
            until = (
                "?"
                if trial.retry_at is None
                else time.strftime("%H:%M:%S", time.localtime(trial.retry_at))
            )
            self.guards.bus.emit(
                Event.CIRCUIT_TRIAL_WAIT, provider=self.provider.name, who=trial.who, until=until
            )

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
