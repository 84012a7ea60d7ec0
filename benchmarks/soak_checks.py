"""What benchmarks/soak.py reads back after the runs: rate-limit windows, JSON log events,
the shared storage's health. Kept apart so the soak script stays about running things."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path


def max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, left = 0, 0
    for right, t in enumerate(times):
        while t - times[left] >= window:
            left += 1
        best = max(best, right - left + 1)
    return best


def _story(photo: str, results: list[dict]) -> list:
    """For a photo paid twice: each run that had it (slot, run, stop, stopped at) and what its
    log said about the photo, so a finding can be read without a second soak."""
    story = []
    for run in results:
        if photo not in run["photos"]:
            continue
        said = [
            (round(e["t"], 2), e["event"], e.get("outcome") or e.get("reason") or e.get("seconds"))
            for e in log_events(run["stderr"])
            if e.get("path") == photo
        ]
        story.append((run["slot"], run["run"], run["stop"], run["stopped_at"], run["code"], said))
    return story


def log_events(stderr: str) -> list[dict]:
    """The JSON log objects of one run (`-vv --log-format json`), with `t` as a Unix time."""
    from datetime import datetime

    events = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            try:
                event = json.loads(line)
                event["t"] = datetime.fromisoformat(event["ts"]).timestamp()
            except (ValueError, KeyError):
                continue
            events.append(event)
    return events


def rate_stamps(cache_dir: Path) -> list[float]:
    """Every call start the shared limiter recorded (kept while inside its longest window)."""
    with sqlite3.connect(f"file:{cache_dir / 'state.sqlite3'}?mode=ro", uri=True) as con:
        return [row[0] for row in con.execute("SELECT ts FROM ratelog")]


def worst_window(spec: str, stamps: list[float]) -> tuple[str, int, int] | None:
    """(limit, its count, most stamps seen in any window of it), for the worst-filled limit."""
    from plantid_cli.guards.disk.ratelimit import format_limit, parse_rate_limit

    worst = None
    for count, window in parse_rate_limit(spec):
        peak = max_in_window(stamps, window)
        if worst is None or peak / count > worst[2] / worst[1]:
            worst = (format_limit(count, window), count, peak)
    return worst


def check_storage(cache_dir: Path) -> dict:
    import portalocker

    from plantid_cli.guards.disk.cache import ResultCache

    found: dict = {}
    for name in ("results/cache.db", "state.sqlite3"):
        with sqlite3.connect(f"file:{cache_dir / name}?mode=ro", uri=True) as con:
            found[f"integrity {name}"] = con.execute("PRAGMA integrity_check").fetchone()[0]
    cache = ResultCache(cache_dir / "results")
    try:
        keys = list(cache.opened().iterkeys())
        unreadable = sum(1 for key in keys if not isinstance(cache.get(key), dict))
    finally:
        cache.close()
    found["cache entries"] = len(keys)
    found["cache entries unreadable"] = unreadable
    held = 0
    for path in (cache_dir / "locks").glob("*.lock"):
        try:
            with portalocker.Lock(str(path), mode="a", timeout=0, fail_when_locked=True):
                pass
        except portalocker.exceptions.LockException:
            held += 1
    found["locks held"] = held
    found["damaged files moved aside"] = len(list(cache_dir.rglob("*.corrupt-*")))
    return found


# ----- payments, losses, leaks -----------------------------------------------------------------
def upload_digests(photos: list[Path]) -> dict[str, Path]:
    """sha256 of the JPEG the client uploads for each photo -> the photo, so that the sandbox's
    call log (which sees only uploads) counts payments per photo. Made the way the CLI makes
    them with default settings (the soak's config); a call whose upload maps to no photo is
    reported, so a drift between the two shows."""
    import hashlib

    from plantid_cli.config import Settings
    from plantid_cli.images.prepare import prepare_image

    settings = Settings()
    found = {}
    for path in photos:
        jpeg = prepare_image(
            path, max_side=settings.max_image_side, quality=settings.jpeg_quality
        ).jpeg
        found[hashlib.sha256(jpeg).hexdigest()] = path
    return found


def paid(call: dict) -> bool:
    """The sandbox answered this identification POST with 2xx: the service has charged.

    A 2xx that never reached the client does not count: no client can honour a charge whose
    status it never saw — sent after it had hung up at its deadline (`delivered` false), or
    headers still being dripped when it did."""
    if call["method"] != "POST" or not (call["status"] and 200 <= call["status"] < 300):
        return False
    if call.get("delivered") is False:
        return False
    return not (call["fault"] == "header_drip" and call["header_sent"] < call["header_bytes"])


def records_of(stdout: str) -> tuple[list[dict], int]:
    """The whole JSON lines of one run and how many lines were cut (only kill -9 may cut)."""
    records, cut = [], 0
    for line in stdout.splitlines():
        if line.strip():
            try:
                records.append(json.loads(line))
            except ValueError:
                cut += 1
    return records, cut


def key_leaks(key: str, texts: list[str], cache_dir: Path) -> list[str]:
    """Where the key's bytes appear: 'output' for any stdout/stderr, or a file under the cache."""
    found = ["output"] if any(key in text for text in texts) else []
    for path in sorted(cache_dir.rglob("*")):
        if path.is_file() and key.encode() in path.read_bytes():
            found.append(str(path.relative_to(cache_dir)))
    return found


def bad_stop(run: dict) -> bool:
    """A signalled run that did not stop as promised: SIGTERM exits 143 and SIGINT 130 saying
    it was interrupted (or the run finished first: 0 / 4); kill -9 is -9."""
    code, stop = run["code"], run["stop"]
    if stop == "KILL":
        return code not in (-9, 0, 4)
    expected = {"TERM": 143, "INT": 130}[stop]
    if code == -{"TERM": 15, "INT": 2}[stop] and (
        not run["stdout"] or "credits used" in (run["stderr"].splitlines() or [""])[-1]
    ):
        # the signal came before the run began (still importing: nothing sent) or after it
        # ended (its summary is the last line: the interpreter was exiting, all work done)
        return False
    unmarked = code == expected and "interrupted" not in run["stderr"]
    return code not in (0, 4, expected) or unmarked


# ----- the verdict -----------------------------------------------------------------------------
def judge(args, results, reruns, calls, soak_calls, after_first, uploads) -> tuple[dict, dict]:
    """Figures and checks from what the processes printed and what the sandbox saw."""
    from collections import Counter

    handed = answered = reported = missing = not_begun = stops_bad = cut = 0
    statuses: Counter = Counter()
    reasons: Counter = Counter()
    codes: Counter = Counter()
    broken = 0  # runs whose stdout or stderr holds a traceback or an internal error
    unanswered_after_kill: list[tuple[float, set[str]]] = []
    waits: list[float] = []  # for another process's lock on the same photo
    odd: list[tuple] = []  # signalled runs that did not stop as promised
    for run in results:
        codes[run["code"]] += 1
        handed += len(run["photos"])
        records, run_cut = records_of(run["stdout"])
        cut += run_cut if run["stop"] != "KILL" else 0
        done = {record["index"] for record in records}
        left = {p for n, p in enumerate(run["photos"]) if n not in done}
        if run["stop"]:
            not_begun += len(left)
            if bad_stop(run) or (run_cut and run["stop"] != "KILL"):
                stops_bad += 1
                odd.append((run["stop"], run["code"], run_cut, run["stderr"].strip()[-160:]))
            if run["stop"] == "KILL" and run["stopped_at"]:
                unanswered_after_kill.append((run["stopped_at"], left))
        else:
            missing += len(left)
        broken += _broken(run)
        waits += [e["seconds"] for e in log_events(run["stderr"]) if e["event"] == "lock.waited"]
        for record in records:
            statuses[record["status"]] += 1
            if record["status"] in ("ok", "not_plant"):
                answered += 1
            elif record.get("error") and record["error"].get("code"):
                reported += 1
                reasons[f"{record['error']['code']}/{record['error'].get('reason')}"] += 1

    # ----- payments per photo, over the soak and both reruns -----
    paid_calls = [(n, call) for n, call in enumerate(calls) if paid(call)]
    unmapped = sum(1 for _, call in paid_calls if call["image_sha256"][0] not in uploads)
    photo_of = {n: str(uploads.get(call["image_sha256"][0])) for n, call in paid_calls}
    times = Counter(photo_of.values())
    in_soak = {photo_of[n] for n, _ in paid_calls if n < soak_calls}
    # a paid answer in flight (or just in) when its process got kill -9 died with it
    died = {
        photo_of[n]
        for n, call in paid_calls
        for at, left in unanswered_after_kill
        if photo_of[n] in left and call["t_start"] <= at and (call["t_end"] or at) >= at - 1.0
    }
    twice = {photo for photo, count in times.items() if count > 1}
    rebought = [
        photo_of[n]
        for n, _ in paid_calls
        if soak_calls <= n < after_first and photo_of[n] in in_soak
    ]
    posts = [call for call in calls if call["method"] == "POST"]
    second_posts = sum(1 for call in calls[after_first:] if call["method"] == "POST")
    first, second = (records_of(r["stdout"])[0] for r in reruns)
    served = Counter(
        f"{'cached' if r['cached'] else 'bought'} "
        f"{r['status']}{'/' + r['error']['code'] if r.get('error') else ''}"
        for r in first
    )
    by_fault = Counter(call["fault"] or "none" for n, call in paid_calls if n < soak_calls)
    figures = {
        "processes in parallel": args.procs,
        "photos per process": args.photos,
        "duration (s)": round(args.duration),
        "timeout / slow-phase latency (s)": f"{args.timeout:g} / {args.slow_ms / 1000:g}",
        "plantid runs": len(results),
        "runs stopped (SIGTERM / SIGINT / kill -9)": "/".join(
            str(sum(r["stop"] == s for r in results)) for s in ("TERM", "INT", "KILL")
        ),
        "of those, with records printed (stopped mid-run)": "/".join(
            str(sum(r["stop"] == s and bool(r["stdout"]) for r in results))
            for s in ("TERM", "INT", "KILL")
        ),
        "signalled runs that did not stop as promised": odd[:5],
        "runs killed at the hard bound": sum(run["killed"] for run in results),
        "exit codes": dict(sorted(codes.items())),
        "photos handed out": handed,
        "records answered (ok/not_plant)": answered,
        "records reported (error with a code)": reported,
        "photos without a record": missing,
        "photos a stopped run never finished": not_begun,
        "error reasons": dict(reasons.most_common()),
        "runs with a traceback or internal error": broken,
        "waits for another process's lock: > 1 s / longest (s)": (
            f"{sum(w > 1.0 for w in waits)} / {max(waits, default=0.0):.1f}"
        ),
        "identification calls (soak / reruns)": f"{soak_calls} / {len(calls) - soak_calls}",
        "POSTs in all": len(posts),
        "paid POSTs (2xx, headers delivered), by phase fault": dict(by_fault.most_common()),
        "POSTs (paid or not) by phase fault": dict(
            Counter(c["fault"] or "none" for c in calls[:soak_calls] if c["method"] == "POST")
        ),
        "paid POSTs whose upload maps to no photo": unmapped,
        "photos paid (soak)": len(in_soak),
        "photos paid twice": len(twice - died),
        "their paid calls (fault, status, start, end)": [
            [
                (
                    c["fault"],
                    c["status"],
                    round(c["t_start"], 2),
                    c["t_end"] and round(c["t_end"], 2),
                )
                for n, c in paid_calls
                if photo_of[n] == photo
            ]
            for photo in sorted(twice - died)[:5]
        ],  # fmt: skip
        "how the runs that had them went": [
            _story(photo, results) for photo in sorted(twice - died)[:3]
        ],
        "paid answers that died with a kill -9 (exempt)": len(died),
        "of those paid again later": len(twice & died),
        "paid photos bought again by rerun 1 (not killed -9)": len(set(rebought) - died),
        "rerun 1: records": dict(served.most_common()),
        "rerun 2: POSTs": second_posts,
    }
    checks = {
        "0 photos paid twice": not (twice - died) and unmapped == 0,
        "0 answers lost (rerun 1 buys no paid photo, rerun 2 makes 0 POSTs)": not (
            set(rebought) - died
        )
        and second_posts == 0
        and len(second) == len(first) > 0
        and all(r["cached"] for r in second),
        "every photo answered or reported": missing == 0
        and answered + reported + not_begun == handed,
        "SIGTERM 143 / SIGINT 130, whole output": stops_bad == 0 and cut == 0,
        "no traceback, no internal error": broken == 0 and not any(map(_broken, reruns)),
        "no run needed killing": not any(run["killed"] for run in results),
    }
    return figures, checks


def _broken(run: dict) -> bool:
    text = run["stdout"] + run["stderr"]
    return "Traceback" in text or "internal error" in text


def breaker_figures(args, hangs, stamps, checks) -> dict:
    """The rate limit and, while the sandbox hung, the breaker: once it has had time to trip,
    only half-open probes may start (at most one per reset timeout, with its retries)."""
    import math

    from plantid_cli.guards.disk.ratelimit import parse_rate_limit

    worst = worst_window(args.rate, stamps)
    # The calls already admitted when a hang starts still finish: their place in the rate-limit
    # queue (every thread of every process, at the limit's pace), their own timeout and their
    # retries. After that `settle` time only half-open probes may start.
    per_second = min((n / w for n, w in parse_rate_limit(args.rate)), default=math.inf)
    attempts = args.retries + 1
    backlog = args.procs * args.concurrency / per_second
    settle = args.timeout + backlog + attempts * (args.timeout + 1.0) + 0.5
    in_hang = after_trip = allowed = 0
    for begin, end in hangs:
        in_hang += sum(1 for t in stamps if begin <= t < end)
        after_trip += sum(1 for t in stamps if begin + settle <= t < end)
        span = max(0.0, end - begin - settle)
        allowed += (math.ceil(span / args.reset_timeout) + 1) * attempts
    checks["rate limit held"] = worst is None or worst[2] <= worst[1]
    checks["breaker held while hanging"] = after_trip <= allowed
    return {
        "rate limit": args.rate,
        "call starts stamped by the shared limiter": len(stamps),
        "most stamps in one window (limit)": f"{worst[2]} ({worst[0]})" if worst else None,
        "hang windows": len(hangs),
        "calls started while hanging": in_hang,
        "settle time after a hang starts (s)": round(settle, 1),
        "calls started later in a hang (allowed)": f"{after_trip} ({allowed})",
    }
