"""The sandbox's knobs: each setting's default and what it does, in one table.

Why a module of its own: three front doors set the same knobs — `plantid sandbox`,
`python -m plantid_cli.sandbox` and `SandboxServer(...).configure()` (POST /_sandbox/config) —
and each must offer every one of them. They all read this table (tests/test_sandbox_cli.py
fails when a knob has no `plantid sandbox` option). Plain data, so that `plantid`'s start-up
can read it without the server.
"""

from __future__ import annotations

from typing import Any

#: Fault modes (`mode`, `mode_plantid`, `mode_plantnet`); see server.py for what each does.
MODES = frozenset(
    {"error500", "error503", "hang", "credits", "auth", "badjson", "badshape", "drip", "reset"}
    | {"echo_key", "badtypes", "badlist", "badnumber", "hugelist"}  # see sandbox_faults
    | {"gzip_bomb", "gzip_bomb_stacked", "bad_gzip", "header_drip", "cut_body"}
)
_MODE_HELP = ", ".join(sorted(MODES))

#: name -> (default, help). Credits are plenty by default: a rehearsal of a few thousand
#: photos must not stop at the real free tier's 100 (a test that needs few sets `credits`).
KNOBS: dict[str, tuple[Any, str]] = {
    "key": (None, "Accept only this API key (default: any non-empty key)."),
    "latency_ms": (0.0, "Delay before each identification answer, in milliseconds."),
    "fail_rate": (0.0, "Fraction of identification calls answered 500 (seeded by --seed)."),
    "mode": (None, f"Fault mode for both APIs: {_MODE_HELP}."),
    "mode_plantid": (None, "Fault mode for Plant.id only (wins over --mode)."),
    "mode_plantnet": (None, "Fault mode for Pl@ntNet only (wins over --mode)."),
    "credits": (10_000, "Plant.id credits to start with (1 per identification, 429 at 0)."),
    "plantnet_quota": (500, "Pl@ntNet identifications to start with (429 at 0)."),
    "seed": (0, "Seed of --fail-rate."),
    "hang_seconds": (300.0, "How long a `hang` call waits before closing, in seconds."),
    "drip_interval": (0.5, "Seconds between bytes of a `drip` / `header_drip` answer."),
    "retry_after": (0.0, "Seconds sent as Retry-After with error503 answers (0: none)."),
    "fault_reread": (False, "Answer faults spoil Plant.id re-reads (GET by token) too."),
    "usage_hang": (False, "Plant.id usage_info GETs hang (hang_seconds), then close unanswered."),
    "hold_after": (None, "Hold identification POSTs after the n-th until configured again."),
    "bomb_mb": (512, "MiB a gzip_bomb answer decodes to."),
}
DEFAULT_SETTINGS = {name: default for name, (default, _) in KNOBS.items()}
