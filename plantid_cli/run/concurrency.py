"""The concurrency that keeps several units in flight: two thread pools and a bounded window.

Stage A (`prepare`, a small CPU pool) turns a job into a record, None (stopped) or work that
`needs_call`; stage B (`call`, twice `concurrency` threads: `call_threads`) turns that work
into a record. A feeder thread submits jobs only while the window has a free slot, so memory
stays flat however many jobs; records come back in completion order. A crash in a stage costs
one record (`failed`), never the run. Setting `stop` (the CLI's first Ctrl-C or SIGTERM)
starts no new job and lets the ones in flight finish; a KeyboardInterrupt in the consuming
thread (the second signal) abandons the pools at once, without waiting for a request that
hangs, and raises `Interrupted`.

The stages themselves (cache, guards, calls) are the engine's: see engine.py.
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from plantid_cli.errors import Interrupted
from plantid_cli.records import Record
from plantid_cli.run.walkahead import WalkAhead

log = logging.getLogger("plantid")

#: Units the feeder takes from the walk at once (at most: it never waits to fill a batch).
TRIAGE_BATCH = 256
#: Batches of records answered by `triage` that may wait for the consumer at once.
ANSWERED_AHEAD = 4


class _Answered(list[Record]):
    """Records `triage` answered without a pool, handed to the consumer together."""


def run_inline(
    jobs: Iterable[Any],
    *,
    prepare: Callable[[Any], Any],
    call: Callable[[Any], Record | None],
    needs_call: Callable[[Any], bool],
    on_record: Callable[[Record], None],
    stop: threading.Event,
    on_idle: Callable[[], None] | None = None,
) -> Iterator[Record]:
    """The same two stages, one job at a time in this thread: for runs that expect no call
    (the breaker is open), where starting thread pools would cost more than the work."""
    for job in jobs:
        if stop.is_set():
            break
        outcome = prepare(job)
        if needs_call(outcome):
            outcome = call(outcome)
        if outcome is not None:
            on_record(outcome)
            yield outcome
            if on_idle is not None:
                on_idle()


def preparers(concurrency: int) -> int:
    """Threads preparing photos (stage A): one per core, at most `concurrency` and 4 (decoding
    releases the GIL; more than the cores only queue for them)."""
    return max(1, min(os.cpu_count() or 1, concurrency, 4))


def call_threads(concurrency: int) -> int:
    """Threads of stage B: twice the requests a run may have out (its `Wire` counts those),
    so that one unit's work around its request (lock, look-up, store, record) is done while
    the others' requests are out, never between an answer and the next request. No more than
    twice: a unit waiting for a slot then waits for at most one request (the Wire's bound)."""
    return 2 * concurrency


def run_concurrent(
    jobs: Iterable[Any],
    *,
    prepare: Callable[[Any], Any],
    call: Callable[[Any], Record | None],
    needs_call: Callable[[Any], bool],
    failed: Callable[[Any, BaseException], Record],
    on_record: Callable[[Record], None],
    stop: threading.Event,
    concurrency: int,
    triage: Callable[[list[Any]], list[Any]] | None = None,
    on_idle: Callable[[], None] | None = None,
) -> Iterator[Record]:
    """Yield one record per job, in completion order, keeping a bounded window in flight.

    `triage` (run/lookup.py) takes batches of the walk in the feeder thread and answers what
    it can at once (records, put on the results queue as one batch: no pool, no slot); what it
    hands back otherwise goes to stage A. `on_idle` is called before the consumer waits for
    more (the writer flushes there: records are written in bulk, never held back)."""
    source = jobs.reader() if isinstance(jobs, WalkAhead) else WalkAhead(jobs).reader()
    prep_workers = preparers(concurrency)
    callers = call_threads(concurrency)
    window = callers + concurrency + prep_workers
    slots = threading.BoundedSemaphore(window)
    results: queue.Queue[Any] = queue.Queue()
    prep_pool = ThreadPoolExecutor(prep_workers, thread_name_prefix="plantid-prep")
    net_pool = ThreadPoolExecutor(callers, thread_name_prefix="plantid-net")
    submitted = [0]
    done_feeding = threading.Event()
    answered_slots = threading.BoundedSemaphore(ANSWERED_AHEAD)

    def finish(record: Record | None) -> None:
        results.put(record)
        slots.release()

    def run_stage_b(job: Any, pending: Any) -> None:
        try:
            finish(call(pending))
        except BaseException as exc:  # never lose the slot; report as an error record
            finish(failed(job, exc))

    def after_stage_a(job: Any, future: Future[Any]) -> None:
        if future.cancelled():
            finish(None)
            return
        outcome = future.result()
        if needs_call(outcome):
            try:
                net_pool.submit(run_stage_b, job, outcome)
                return
            except RuntimeError:  # pool shut down (interrupted)
                outcome = None
        finish(outcome)

    def run_stage_a(job: Any) -> Any:
        try:
            return prepare(job)
        except BaseException as exc:  # a bug must cost one record, not the run
            return failed(job, exc)

    def submit(job: Any) -> bool:
        """Stage A for one unit once the window has room (False: stopped meanwhile)."""
        while not slots.acquire(timeout=0.2):
            if stop.is_set():
                return False
        if stop.is_set():
            slots.release()
            return False
        submitted[0] += 1
        unit = getattr(job, "job", job)  # a triaged `Known` reports as its unit
        prep_pool.submit(run_stage_a, job).add_done_callback(functools.partial(after_stage_a, unit))
        return True

    def hand_over(answered: _Answered) -> bool:
        """Records answered by `triage`, to the consumer: at most ANSWERED_AHEAD batches wait
        for it, so a writer slower than the look-ups holds memory flat (False: stopped)."""
        while not answered_slots.acquire(timeout=0.2):
            if stop.is_set():
                return False
        results.put(answered)
        return True

    def feed() -> None:
        try:
            while not stop.is_set():
                batch = source.take(TRIAGE_BATCH, stop)
                if not batch:
                    return
                items = batch
                if triage is not None:
                    try:
                        items = triage(batch)
                    except Exception:  # a bug costs the fast path, never a record
                        log.debug("triage failed; one unit at a time", exc_info=True)
                        items = batch
                answered = _Answered()
                for item in items:
                    if isinstance(item, dict):  # a record: no pool, no slot
                        answered.append(item)  # type: ignore[arg-type]
                        continue
                    if answered:  # out before this thread may wait for a slot
                        if not hand_over(answered):
                            return
                        answered = _Answered()
                    if not submit(item):
                        return
                if answered and not hand_over(answered):
                    return
        except BaseException as exc:
            results.put(("crash", exc))
        finally:
            done_feeding.set()
            results.put(None)

    def finished() -> bool:
        """Every submitted job is back (and the feeder's end mark, once it has ended). Once
        stopped, the feeder is not waited for: it may be blocked reading a stdin that never
        closes (`tail -f | plantid identify -`), and it is a daemon thread."""
        if done_feeding.is_set():
            return received >= submitted[0] + 1
        return stop.is_set() and received >= submitted[0]

    feeder = threading.Thread(target=feed, name="plantid-feed", daemon=True)
    feeder.start()
    received = 0
    interrupted = False
    try:
        while True:
            try:
                item = results.get_nowait()
            except queue.Empty:
                if on_idle is not None:
                    on_idle()
                try:
                    item = results.get(timeout=0.5)
                except queue.Empty:
                    if finished():
                        break
                    continue
            if isinstance(item, _Answered):
                answered_slots.release()
                for record in item:
                    on_record(record)
                    yield record
                continue
            if isinstance(item, tuple):
                raise item[1]
            received += 1
            if item is not None:
                on_record(item)
                yield item
            if finished():
                break
    except KeyboardInterrupt:
        interrupted = True
        stop.set()
    except GeneratorExit:  # the consumer gave up (a second Ctrl-C while it wrote, a closed pipe)
        interrupted = True
        stop.set()
        raise
    finally:
        # an abort waits for nobody: a thread hanging in a request must not hold the exit
        # (threads left running still store their answers unless the process leaves first)
        prep_pool.shutdown(wait=not interrupted, cancel_futures=interrupted)
        net_pool.shutdown(wait=not interrupted, cancel_futures=interrupted)
    if interrupted:
        raise Interrupted("interrupted: answers received so far are stored")
