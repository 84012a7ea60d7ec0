"""A whole `identify` run as a library call: inputs -> engine -> writer, budget and summary.

The CLI only parses flags and renders; everything a run decides lives here. A run stops (no new
work; answers in flight land and are stored) when the `stop` event it was given is set: that is
how the CLI's signal handlers (cli/signals.py) reach it. From Python, the public way is
`plantid_cli.identify(paths, **options)` (records as they come); this module is the layer
below it, which writes to any `outputs.writers.Writer` and returns a `RunResult`::

    from plantid_cli.config import load_settings
    from plantid_cli.outputs.writers import NdjsonWriter
    from plantid_cli.run.batch import run_batch
    from plantid_cli.run.options import IdentifyOptions

    result = run_batch(load_settings(), IdentifyOptions(paths=["photos/"]), NdjsonWriter())
    stats, code = result.stats, result.exit_code
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TextIO

from plantid_cli.config import Settings
from plantid_cli.constants import DEFAULT_DETAILS, MAX_LANGUAGES
from plantid_cli.errors import EXIT_IMAGE_FAILED, OutputError, UsageError, exit_code_for
from plantid_cli.events import Event, EventBus
from plantid_cli.inputs.identity import compile_pattern, with_identity
from plantid_cli.inputs.specimens import group_by_folder
from plantid_cli.inputs.walk import ImageJob, in_shard, iter_jobs, normalise_extensions
from plantid_cli.outputs.writers import Writer
from plantid_cli.providers.base import IdentifyRequest, Provider
from plantid_cli.records import Record
from plantid_cli.run.budget import (
    asks_plantid,
    check_budget,
    checks_credits,
    credits_left,
    dry_run_plan,
)
from plantid_cli.run.combine import providers_for
from plantid_cli.run.concurrency import TRIAGE_BATCH
from plantid_cli.run.engine import Engine
from plantid_cli.run.openfiles import ensure_open_files
from plantid_cli.run.options import IdentifyOptions, RunOptions, RunResult
from plantid_cli.run.pending import Known
from plantid_cli.run.walkahead import WalkAhead


def build_request(settings: Settings, options: IdentifyOptions) -> IdentifyRequest:
    """The request every unit starts from (the options checked the position when built)."""
    return IdentifyRequest(
        language=",".join(request_languages(settings.language)),
        details=request_details(settings.details),
        similar_images=settings.similar_images,
        latitude=options.latitude,
        longitude=options.longitude,
        no_location=options.no_location,
        organs=(settings.organ,),
        project=settings.project,
        nb_results=settings.top,
        related_images=options.related_images,
        classification_level=options.classification_level,
        custom_id=options.custom_id,
    )


def request_details(asked: Iterable[str]) -> tuple[str, ...]:
    """The Plant.id details to ask for: the defaults the record's keys need, then whatever
    `--details` adds (in its order, each once). `--details` adds; it never takes away."""
    names = [*DEFAULT_DETAILS, *(name.strip() for name in asked)]
    return tuple(dict.fromkeys(name for name in names if name))


def request_languages(language: str) -> tuple[str, ...]:
    """`--language en,de`: each language once, at most MAX_LANGUAGES (the service's limit)."""
    languages = tuple(dict.fromkeys(p.strip() for p in language.split(",") if p.strip()))
    if len(languages) > MAX_LANGUAGES:
        raise UsageError(f"--language takes at most {MAX_LANGUAGES} languages, not {language!r}")
    return languages or ("en",)


def make_provider(
    settings: Settings, name: str, options: IdentifyOptions | None = None
) -> Provider:
    key = settings.key_for(name)
    if name == "plantid":
        if options is not None and (options.task == "health" or options.health):
            return health_provider(settings.url_for(name), key, options)
        # lazy: each service's client (and its parsing) is paid by the run that asks it
        from plantid_cli.providers.plantid import PlantIdProvider

        return PlantIdProvider(settings.url_for(name), key)
    # lazy: as above
    from plantid_cli.providers.plantnet import PlantNetProvider

    return PlantNetProvider(settings.url_for(name), key)


def health_provider(api_url: str, key: str, options: IdentifyOptions) -> Provider:
    """`plantid health` (POST /health_assessment) or `identify --health` (health: "all")."""
    # lazy: the health clients are paid by a health run only
    from plantid_cli.providers.plantid_health import (
        PlantIdHealthProvider,
        PlantIdWithHealthProvider,
    )

    asked = tuple(d.strip() for d in (options.disease_details or "").split(",") if d.strip())
    if options.task == "health":
        return PlantIdHealthProvider(api_url, key, asked)
    return PlantIdWithHealthProvider(api_url, key, asked)


def task_mode(settings: Settings, options: IdentifyOptions) -> str:
    """The --provider mode of a run: a health assessment is Plant.id's alone, whatever the
    configured provider; `identify --health` needs Plant.id among the services asked."""
    if options.task == "health":
        return "plantid"
    if options.health and settings.provider == "plantnet":
        raise UsageError("--health is Plant.id's: it cannot go with --provider plantnet")
    return settings.provider


def make_providers(
    settings: Settings, mode: str, options: IdentifyOptions | None = None
) -> list[Provider]:
    """The providers a --provider mode asks, primary first (every one needs its key)."""
    try:
        names = providers_for(mode)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return [make_provider(settings, name, options) for name in names]


def jobs_for(
    options: IdentifyOptions,
    stdin: TextIO | None = None,
    on_empty_folder: Callable[[str], None] | None = None,
) -> Iterator[Any]:
    """The units of work: files, or with --group-by folder one Specimen per folder, each with
    its specimen identity (inputs/identity.py)."""
    jobs = iter_jobs(
        options.paths,
        stdin=stdin,
        on_empty_folder=on_empty_folder,
        extensions=normalise_extensions(options.extensions),
        null=options.null,
    )
    if options.shard is not None:
        jobs = shard_jobs(jobs, *options.shard, by_folder=options.group_by == "folder")
    units: Iterator[Any] = jobs if options.group_by is None else group_by_folder(jobs)
    if options.group_by is None and options.catalog_number is None:
        return units
    return with_identity(units, compile_pattern(options.catalog_number))


def shard_jobs(
    jobs: Iterable[ImageJob], i: int, n: int, *, by_folder: bool = False
) -> Iterator[ImageJob]:
    """This worker's share of `jobs` (see inputs.in_shard), keyed by the path relative to the
    argument root (by its folder with --group-by folder, so a specimen is never split).
    ``index`` is renumbered: the position within this worker's own output."""
    import dataclasses
    import os

    index = 0
    for job in jobs:
        key = job.relative or job.display
        if by_folder and not (job.error is not None and os.path.isdir(job.path)):
            key = os.path.dirname(key)
        if in_shard(key, i, n):
            yield dataclasses.replace(job, index=index)
            index += 1


def count_cost(engine: Engine, walk: WalkAhead, limit: int) -> tuple[int, int]:
    """(units, credits the units not in the cache would cost: the primary service's price per
    call each, 2 for an identification with health), from the run's own walk."""
    price = getattr(engine.provider, "credits_per_call", 1) or 1
    total, uncached = _count_uncached(engine, walk, limit // price)
    return total, uncached * price


def _count_uncached(engine: Engine, walk: WalkAhead, limit: int) -> tuple[int, int]:
    """(units, units that would need a call) from the run's own walk. Looking up stops being
    needed once the count is under `limit` (the cost can never exceed it). What is looked up
    is looked up as the run does it (`triage`: a stat per photo the hash index knows), and a
    photo hashed here is in the index when the run reaches it: no second hashing pass."""
    total = walk.wait(engine._stop)
    if total is None:
        return 0, 0
    if total <= limit or engine.cache is None:
        return total, total if engine.cache is None else min(total, limit)
    uncached = 0
    seen: set[str] = set()
    reader = walk.reader()
    primary = engine.provider.name
    while not engine.stopped and (batch := reader.take(TRIAGE_BATCH)):
        for item in engine.triage(batch):
            key = None
            if isinstance(item, Known):
                key = item.keys[primary]
            elif not isinstance(item, dict):  # the index did not know it: hashed (and kept)
                try:
                    _, key, record = engine.lookup(item)
                except Exception:
                    continue  # a bad file costs nothing: it is never sent
                if record is not None:
                    key = None
            if key is not None and key not in seen:
                seen.add(key)
                uncached += 1
    return total, uncached


def run_batch(
    settings: Settings,
    options: IdentifyOptions,
    writer: Writer,
    *,
    stdin: TextIO | None = None,
    bus: EventBus | None = None,
    confirm: Callable[[int, int], bool] | None = None,
    on_record: Callable[[Record], None] | None = None,
    stop: threading.Event | None = None,
    observer: Any = None,
    on_start: Callable[[], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> RunResult:
    """Run one batch: the stats, the exit code the run deserves, whether it was stopped.

    `stdin` is read for a `-` path (default: the process's stdin). Setting `stop` ends the run
    early (see the module doc). `observer` (e.g. metrics.RunObserver) is attached after the cost
    count, sees every record and is closed at the end whatever happens (error, Ctrl-C).
    `on_start` is called once the run is decided (after `confirm` said yes), right before the
    first photo is sent: a progress display starts there, so that it never draws over the
    question."""
    bus = bus or EventBus()
    stop = stop if stop is not None else threading.Event()
    if stdin is None and options.reads_stdin:
        stdin = sys.stdin
    output_failed: OSError | None = None
    engine = make_engine(settings, options, bus, stop)
    empty_folders: list[str] = []
    walk = None
    try:
        ensure_open_files(engine.requests_out, settings.concurrency)  # before a unit's files
        # one walk for the total, the cost count and the run (stdin is read once, too)
        walk = WalkAhead(jobs_for(options, stdin, empty_folders.append), on_total)
        if (
            options.max_credits is not None
            or confirm is not None
            or checks_credits(settings, options)
        ):
            budget = check_budget(engine, walk, settings, options, confirm, count_cost)
            if budget.asked:
                engine.stats.started = time.monotonic()  # the run is timed from the answer
        if on_start is not None:
            on_start()
        if observer is not None:
            observer.attach(engine)

        def flush() -> None:  # records are written in bulk: out whenever the run waits
            nonlocal output_failed
            if output_failed is None and hasattr(writer, "flush"):  # a duck-typed writer
                try:
                    writer.flush()
                except OSError as exc:
                    output_failed = _output_failed(engine, bus, exc)

        for record in engine.run(walk, on_idle=flush):
            if output_failed is None:
                try:
                    writer.write(record)
                except OSError as exc:
                    output_failed = _output_failed(engine, bus, exc)
            if on_record is not None:
                on_record(record)
            if observer is not None:
                observer.record(record)
    finally:
        try:
            if output_failed is None:
                try:
                    writer.close()
                except OSError as exc:
                    output_failed = exc
            engine.close()
            if walk is not None:
                walk.close()
        finally:
            if observer is not None:
                observer.close()
    if isinstance(output_failed, BrokenPipeError):
        raise output_failed  # a reader like `head` has all it wanted: the CLI stops quietly
    if output_failed is not None:
        raise OutputError.from_os_error(output_failed) from None
    stats = engine.stats
    codes = set(stats.failed_codes)
    if empty_folders:
        codes.add(EXIT_IMAGE_FAILED)
    return RunResult.of(stats, exit_code_for(codes), stop.is_set(), empty_folders)


def make_engine(
    settings: Settings, options: IdentifyOptions, bus: EventBus, stop: threading.Event
) -> Engine:
    """The engine of one run (its providers, request and options)."""
    mode = task_mode(settings, options)
    return Engine(
        settings,
        build_request(settings, options),
        make_providers(settings, mode, options),
        RunOptions(
            use_cache=options.use_cache,
            refresh=options.refresh,
            rehash=options.rehash,
            top=settings.top,
            concurrency=settings.concurrency,
            mode=mode,
            inline=options.inline,
        ),
        bus,
        stop=stop,
    )


def plan_batch(
    settings: Settings,
    options: IdentifyOptions,
    *,
    stdin: TextIO | None = None,
    stop: threading.Event | None = None,
) -> tuple[list[dict[str, Any]], int | float | None, list[str]]:
    """--dry-run: (one plan row per unit, the credits usage_info says are left or None, the
    empty folder arguments). Walks, hashes and reads the cache; sends nothing but the free
    usage_info call (run/budget.py)."""
    stop = stop if stop is not None else threading.Event()
    if stdin is None and options.reads_stdin:
        stdin = sys.stdin
    engine = make_engine(settings, options, EventBus(), stop)
    empty_folders: list[str] = []
    try:
        units = list(jobs_for(options, stdin, empty_folders.append))
        rows = dry_run_plan(engine, units)
        wanted = any(row["action"] == "send" for row in rows)
        remaining = credits_left(settings, engine) if wanted and asks_plantid(settings) else None
    finally:
        engine.close()
    return rows, remaining, empty_folders


def _output_failed(engine: Engine, bus: EventBus, exc: OSError) -> OSError:
    """The output refused a record (full disk, closed pipe): like the first Ctrl-C, no new
    photo starts and the answers in flight land and are stored (they are paid for); the run
    then ends with the error. Tearing the pipeline down instead would lose those answers."""
    engine.stop()
    if not isinstance(exc, BrokenPipeError):  # `| head` closing early is not news
        if engine.cache is None:
            fate = "with --no-cache they are not stored"
        elif engine.cache.storing:
            fate = "they are stored"
        else:  # both disks refuse: never claim what is not so (red team, session 15)
            fate = "they cannot be stored either: the cache refuses writes"
        bus.emit(Event.OUTPUT_FAILED, message=OutputError.from_os_error(exc).message, fate=fate)
    return exc
