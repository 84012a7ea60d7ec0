"""What a run will cost, known before the first photo is sent: --max-credits, the confirmation,
the credit check against `usage_info`, and --dry-run.

Why before: a run must never learn 300 photos in that 10 credits were left. Plant.id's
`usage_info` is free, so every run that may spend Plant.id credits asks it first, compares the
run's cost (units not in the cache; a unit is a photo or a specimen) with the smallest
`remaining` count it reports, and refuses with both numbers when the run cannot finish
(`--yes` runs it anyway, until the credits run out). Hashing is only done when the count of
units could exceed a limit: the cost is never more than the count.

When the check cannot be made it is skipped, never a reason to fail: a `usage_info` that does
not answer (the service is down: the run's own calls will say so, record by record), a run
that reads paths from stdin (`-` streams: the input is not known before it ends, so only
--max-credits, which reads it whole, bounds it), a run on an open breaker or a credits
cool-down (the guard refuses every call to the account, the free one too: the run sends
nothing, and an HTTP stack's import and a round trip to say so is what a scripted loop must
not pay), or a run that asks only Pl@ntNet (its quota is per day and reported on every answer).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from plantid_cli.config import Settings
from plantid_cli.errors import PlantidError, UsageError
from plantid_cli.records import plural
from plantid_cli.run.combine import providers_for
from plantid_cli.run.options import IdentifyOptions

log = logging.getLogger("plantid")


def credits_left(settings: Settings, engine: Any) -> int | float | None:
    """The smallest `remaining` count usage_info reports (day, week, month, total), 0 when it
    says credits cannot be used, None when it has no limit, does not answer, or is not asked:
    `engine`'s guard for Plant.id refuses calls (an open breaker refuses the free one too)."""
    if engine.refusing("plantid"):
        return None
    # lazy: the client module is paid by a run that asks, not by one the breaker refuses
    from plantid_cli.providers.plantid import fetch_usage

    try:
        # at most 10 s: a service that does not answer is the run's to report, not this check's
        timeout = min(settings.timeout, 10.0)
        # the run's client: the connection this opens carries its first upload too
        info = fetch_usage(settings.api_url, settings.key_for("plantid"), timeout,
                           engine.client(), engine.stop_event)  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - free help: a junk answer must not stop the run
        log.info("[BUDGET] usage_info did not answer (%s): credits not checked", exc,
                 extra={"event": "budget.unchecked"})  # fmt: skip
        return None
    if not (info.get("can_use_credits") or {}).get("value", True):
        return 0
    counts = [n for n in (info.get("remaining") or {}).values() if isinstance(n, int | float)]
    return min(counts) if counts else None


def checks_credits(settings: Settings, options: IdentifyOptions) -> bool:
    """Whether this run asks usage_info before it starts (see the module doc)."""
    if options.inline or options.reads_stdin or options.yes:
        return False
    return asks_plantid(settings)


def asks_plantid(settings: Settings) -> bool:
    """Whether the run's --provider mode may spend Plant.id credits."""
    try:
        return "plantid" in providers_for(settings.provider)
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Budget:
    units: int
    cost: int  # credits of the units not in the cache (exact when over a limit, else an upper
    # bound: each unit at the primary service's price per call, 2 with --health)
    remaining: int | float | None  # what usage_info said (None: not asked or no answer)
    asked: bool = False  # the person at the terminal was asked (and said yes)


def check_budget(
    engine: Any,
    walk: Any,
    settings: Settings,
    options: IdentifyOptions,
    confirm: Callable[[int, int], bool] | None,
    count_cost: Callable[[Any, Any, int], tuple[int, int]],
) -> Budget:
    """Refuse (UsageError, nothing sent) a run over --max-credits or over what is left, or one
    the person at the terminal declines; otherwise return what it may cost. `walk` is the
    run's one walk of its units (run/walkahead.py): counted here, replayed by the run."""
    remaining = credits_left(settings, engine) if checks_credits(settings, options) else None
    limits = [n for n in (options.max_credits, remaining) if n is not None]
    if confirm is not None:
        limits.append(settings.confirm_above)
    if not limits:  # usage_info did not answer and nothing else bounds the run: no hashing
        return Budget(0, 0, None)
    count, cost = count_cost(engine, walk, int(min(limits)))
    price = getattr(engine.provider, "credits_per_call", 1) or 1
    cached = count - cost // price
    if options.max_credits is not None and cost > options.max_credits:
        raise UsageError(
            f"this run would spend {plural(cost, 'credit')} ({plural(count, 'image')}, "
            f"{cached} cached) but --max-credits is {options.max_credits}; nothing was sent"
        )
    if remaining is not None and cost > remaining and not options.yes:
        raise UsageError(
            f"this run needs {plural(cost, 'credit')} ({plural(count, 'unit')}, {cached} cached)"
            f" but Plant.id has {_number(remaining)} left (usage_info); nothing was sent. "
            "Top up, run part of it (--shard, fewer folders), or --yes to run until they run out"
        )
    asked = confirm is not None and cost > settings.confirm_above
    if asked and confirm is not None and not confirm(count, cost):
        raise UsageError("cancelled: nothing was sent")
    return Budget(count, cost, remaining, asked)


def _number(value: int | float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def dry_run_plan(engine: Any, units: Sequence[Any]) -> list[dict[str, Any]]:
    """For --dry-run: one row per unit, hashed and looked up in the cache, nothing sent.

    `action` is ``cached`` (answered from the cache, or the same photos as an earlier unit of
    this run: asked once), ``send`` (one credit per service asked) or ``skip`` (cannot be sent:
    `reason` says why)."""
    rows = []
    seen: dict[str, int] = {}
    for unit in units:
        if engine.stopped:
            break
        row: dict[str, Any] = {
            "index": unit.index,
            "path": unit.display,
            "sha256": None,
            "action": "skip",
            "cost": 0,
        }
        if hasattr(unit, "members"):
            row["specimen"] = getattr(unit, "specimen", "")
            row["photos"] = [member.display for member in unit.members]
        if getattr(unit, "catalog_number", None) is not None or hasattr(unit, "members"):
            row["catalog_number"] = getattr(unit, "catalog_number", None) or None
        if unit.error is not None:
            row["reason"] = unit.error.message
            rows.append(row)
            continue
        try:
            sha256, key, record = engine.lookup(unit)
        except PlantidError as exc:
            row["reason"] = exc.message
            rows.append(row)
            continue
        row["sha256"] = sha256
        if record is not None:
            row["action"] = "cached"
        elif key in seen:
            row["action"] = "cached"
            row["reason"] = f"the same photos as #{seen[key] + 1}: asked once"
        else:
            seen[key] = unit.index
            row["action"] = "send"
            row["cost"] = getattr(engine.provider, "credits_per_call", 1)
        rows.append(row)
    return rows
