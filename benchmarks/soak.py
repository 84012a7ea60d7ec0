"""Soak test: many `plantid` processes against a flaky, sometimes hanging sandbox, then checks.

    python benchmarks/soak.py                      # 16 processes x 50 photos for 60 s (~1.5 min)
    python benchmarks/soak.py --duration 15 --procs 4   # a quick look
    python benchmarks/soak.py --json soak.json     # also write the figures as JSON

What runs: a sandbox on 127.0.0.1 (loopback only, in this process) that fails `--fail-rate` of
the identification calls with an HTML 500 and, for `--hang-for` seconds every `--hang-every`
seconds, hangs every call. `--procs` slots each run `plantid identify` on `--photos` photos drawn
from a pool of `--distinct` generated JPEGs, one process after another, until `--duration` has
passed; all processes share one PLANTID_CACHE_DIR (cache, locks, breaker, rate limit). Every
process is killed at the hard bound (duration + `--grace`), so the script always stops. Every
`--term-every`-th run of a slot gets SIGTERM a random 1-4 s after it starts (as `timeout`,
systemd or Kubernetes would stop it). No `lock_timeout` is set: waiters wait for the holder.

Checks (exit 1 if any fails):
  * every photo handed to a process ends in a record: answered (ok / not_plant) or reported
    (status error with a code), except photos a SIGTERMed run never began; no traceback on any
    stderr; a SIGTERMed run exits 143 (or finished first) with complete output lines;
  * calls <= photos + failures: every successful (charged) call gave exactly one fresh answer,
    and no photo was paid twice;
  * the rate limit held: no 1 s window saw more call starts than the limit;
  * the breaker held: while the sandbox hung, once the breaker had had time to trip, only
    half-open probes reached it (at most one per reset timeout, plus slack);
  * nothing corrupt: both SQLite files pass integrity_check, every cache value reads back as
    JSON, no lock file is still held.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from soak_checks import (  # noqa: E402
    check_storage,
    log_events,
    max_in_window,
    rate_stamps,
    worst_window,
)

from plantid_cli.guards.disk.ratelimit import parse_rate_limit  # noqa: E402
from plantid_cli.sandbox.server import SandboxServer  # noqa: E402

KEY = "soak-key-0123456789abcdef"


def make_photos(folder: Path, count: int, seed: int) -> list[Path]:
    """`count` distinct small green JPEGs (the sandbox calls green images plants)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    paths = []
    for i in range(count):
        colour = (rng.randrange(20, 110), rng.randrange(130, 250), rng.randrange(20, 110))
        image = Image.new("RGB", (160, 120), colour)
        image.putpixel((i % 160, (i // 160) % 120), (255, 255, 255))
        path = folder / f"p{i:05d}.jpg"
        image.save(path, quality=85)
        paths.append(path)
    return paths


class Hanger(threading.Thread):
    """Switches the sandbox to `hang` for `length` s every `every` s; remembers the windows."""

    def __init__(self, sandbox: SandboxServer, every: float, length: float, stop_at: float):
        super().__init__(daemon=True)
        self.sandbox, self.every, self.length, self.stop_at = sandbox, every, length, stop_at
        self.windows: list[tuple[float, float]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.every - self.length):
            if time.time() + self.length > self.stop_at:
                return
            start = time.time()
            self.sandbox.configure(mode="hang")
            self.stopping.wait(self.length)
            self.sandbox.configure(mode=None)
            self.windows.append((start, time.time()))


def run_slot(slot: int, args, env, photos, deadline, hard_stop, results, lock) -> None:
    rng = random.Random(args.seed * 1000 + slot)
    run = 0
    while time.time() < deadline:
        chosen = rng.sample(photos, args.photos)
        started = time.time()
        term = args.term_every > 0 and run % args.term_every == args.term_every - 1
        process = subprocess.Popen(
            [sys.executable, "-m", "plantid_cli", "-vv", "--log-format", "json", "identify", "-"],
            env=env,
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        if term:  # SIGTERM mid-run: in-flight answers must land, the output stay whole
            threading.Timer(rng.uniform(1.0, 4.0), _terminate, (process,)).start()
        try:
            out, err = process.communicate(
                "".join(f"{p}\n" for p in chosen), timeout=max(1.0, hard_stop - time.time())
            )
            killed = False
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
            killed = True
        with lock:
            results.append(
                {
                    "slot": slot,
                    "run": run,
                    "photos": [str(p) for p in chosen],
                    "stdout": out,
                    "stderr": err,
                    "code": process.returncode,
                    "killed": killed,
                    "terminated": term,
                    "seconds": time.time() - started,
                }
            )
        run += 1


def _terminate(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration", type=float, default=60.0, help="seconds to keep starting runs"
    )
    parser.add_argument("--grace", type=float, default=45.0, help="then at most this to finish")
    parser.add_argument("--procs", type=int, default=16)
    parser.add_argument("--photos", type=int, default=50, help="photos per process")
    parser.add_argument("--distinct", type=int, default=1500, help="size of the photo pool")
    parser.add_argument("--fail-rate", type=float, default=0.3)
    parser.add_argument("--latency-ms", type=float, default=40.0)
    parser.add_argument("--hang-every", type=float, default=25.0)
    parser.add_argument("--hang-for", type=float, default=15.0)
    parser.add_argument("--timeout", type=float, default=1.5, help="PLANTID_TIMEOUT")
    parser.add_argument("--retries", type=int, default=1, help="PLANTID_RETRIES")
    parser.add_argument(
        "--rate",
        default="30/second,1000000/hour",
        help="PLANTID_RATE_LIMIT (a long second window keeps every stamp in the shared log)",
    )
    parser.add_argument("--fail-max", type=int, default=3, help="PLANTID_BREAKER_FAIL_MAX")
    parser.add_argument("--reset-timeout", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--term-every", type=int, default=3, help="0: never send SIGTERM")
    parser.add_argument("--json", help="write the figures to this file too")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="plantid-soak-"))
    print(f"soak: photos and cache under {root}", file=sys.stderr)
    photos = make_photos(root / "photos", args.distinct, args.seed)
    sandbox = SandboxServer(
        "127.0.0.1",
        0,
        fail_rate=args.fail_rate,
        latency_ms=args.latency_ms,
        seed=args.seed,
        credits=10**9,
        hang_seconds=args.hang_for + 5,
    ).start()
    cache_dir = root / "cache"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PLANTID_", "PLANTNET_"))
    }
    env.update(
        PLANTID_API_URL=sandbox.plantid_url,
        PLANTID_API_KEY=KEY,
        PLANTID_CACHE_DIR=str(cache_dir),
        PLANTID_CONFIG=os.devnull,  # no config file: defaults
        PLANTID_KEYS_FILE=str(root / "keys.json"),
        PLANTID_RATE_LIMIT=args.rate,
        PLANTID_TIMEOUT=str(args.timeout),
        PLANTID_RETRIES=str(args.retries),
        PLANTID_BREAKER_FAIL_MAX=str(args.fail_max),
        PLANTID_BREAKER_RESET_TIMEOUT=str(args.reset_timeout),
        PLANTID_CONCURRENCY=str(args.concurrency),
        NO_COLOR="1",
    )
    started = time.time()
    deadline = started + args.duration
    hard_stop = deadline + args.grace
    hanger = Hanger(sandbox, args.hang_every, args.hang_for, deadline)
    hanger.start()
    results: list[dict] = []
    lock = threading.Lock()
    slots = [
        threading.Thread(
            target=run_slot,
            args=(slot, args, env, photos, deadline, hard_stop, results, lock),
            daemon=True,
        )
        for slot in range(args.procs)
    ]
    for thread in slots:
        thread.start()
    for thread in slots:
        thread.join(max(0.0, hard_stop + 10 - time.time()))
    hanger.stopping.set()
    sandbox.configure(mode=None)
    wall = time.time() - started
    stats = sandbox.stats()
    sandbox.stop()

    # ----- what the processes said -----
    handed = answered = reported = missing = tracebacks = fresh = not_begun = bad_stops = 0
    statuses: Counter = Counter()
    reasons: Counter = Counter()
    fresh_by_sha: Counter = Counter()
    codes: Counter = Counter()
    breaker_opens = 0
    acquired: list[float] = []  # call starts as logged by the processes (log-time jitter)
    for run in results:
        codes[run["code"]] += 1
        handed += len(run["photos"])
        try:
            records = [json.loads(line) for line in run["stdout"].splitlines() if line.strip()]
        except ValueError:  # a line cut short
            records, bad_stops = [], bad_stops + 1
        indexes = {record["index"] for record in records}
        unanswered = len(run["photos"]) - len(indexes & set(range(len(run["photos"]))))
        if run["terminated"]:
            not_begun += unanswered
            # -15: the signal came before the run began (still importing): nothing was sent
            early = run["code"] == -15 and not run["stdout"]
            bad_stops += (run["code"] not in (0, 4, 143) and not early) or (
                run["code"] == 143 and "(interrupted)" not in run["stderr"]
            )
        else:
            missing += unanswered
        tracebacks += "Traceback" in run["stderr"]
        for event in log_events(run["stderr"]):
            if event["event"] == "rate.acquired":
                acquired.append(event["t"])
            elif event["event"] == "circuit.state" and event.get("new") == "open":
                breaker_opens += 1
        for record in records:
            statuses[record["status"]] += 1
            if record["status"] in ("ok", "not_plant"):
                answered += 1
                if not record["cached"]:
                    fresh += 1
                    fresh_by_sha[record["sha256"]] += 1
            elif record.get("error") and record["error"].get("code"):
                reported += 1
                reasons[f"{record['error']['code']}/{record['error'].get('reason')}"] += 1

    # ----- what the sandbox saw -----
    calls = stats["calls"]
    paid = sum(1 for call in calls if call["status"] == 201)
    failed_calls = len(calls) - paid
    starts = [call["t_start"] for call in calls]
    stamps = rate_stamps(cache_dir)
    worst = worst_window(args.rate, stamps)
    shortest = min((w for _, w in parse_rate_limit(args.rate)), default=1.0)
    peak_logged = max_in_window(acquired, shortest)
    peak_arrivals = max_in_window(starts, shortest)
    # Once the sandbox hangs, the first calls time out and trip the breaker; the guarded calls
    # already admitted still finish: their place in the rate-limit queue (every thread of every
    # process, at the limit's pace), their own timeout and their retries. After that `settle`
    # time only half-open probes may start: one at a time, each with its retries, at most one
    # every reset timeout.
    per_second = min((n / w for n, w in parse_rate_limit(args.rate)), default=math.inf)
    attempts = args.retries + 1
    backlog = args.procs * args.concurrency / per_second
    settle = args.timeout + backlog + attempts * (args.timeout + 1.0) + 0.5
    in_hang, after_trip, allowed = 0, 0, 0
    for begin, end in hanger.windows:
        in_hang += sum(1 for t in stamps if begin <= t < end)
        after_trip += sum(1 for t in stamps if begin + settle <= t < end)
        span = max(0.0, end - begin - settle)
        allowed += (math.ceil(span / args.reset_timeout) + 1) * attempts
    storage = check_storage(cache_dir)

    figures = {
        "processes in parallel": args.procs,
        "photos per process": args.photos,
        "duration (s)": round(args.duration),
        "wall time (s)": round(wall, 1),
        "plantid runs": len(results),
        "runs killed at the hard bound": sum(run["killed"] for run in results),
        "exit codes": dict(sorted(codes.items())),
        "photos handed out": handed,
        "records answered (ok/not_plant)": answered,
        "records reported (error with a code)": reported,
        "photos without a record": missing,
        "runs stopped by SIGTERM": sum(run["terminated"] for run in results),
        "photos a stopped run never began": not_begun,
        "error reasons": dict(reasons.most_common()),
        "tracebacks": tracebacks,
        "identification calls": len(calls),
        "charged calls (201)": paid,
        "failed calls (500 / dropped)": failed_calls,
        "fresh answers": fresh,
        "photos paid twice": sum(1 for n in fresh_by_sha.values() if n > 1),
        "rate limit": args.rate,
        "call starts stamped by the shared limiter": len(stamps),
        "most stamps in one window (limit)": f"{worst[2]} ({worst[0]})" if worst else None,
        f"most logged starts / sandbox arrivals in {shortest:g} s": (
            f"{peak_logged} / {peak_arrivals} (clock of the log line / of the server)"
        ),
        "hang windows": len(hanger.windows),
        "calls started while hanging": in_hang,
        "settle time after a hang starts (s)": round(settle, 1),
        "calls started later in a hang (allowed)": f"{after_trip} ({allowed})",
        "breaker openings (logged)": breaker_opens,
        **storage,
    }
    checks = {
        "every photo answered or reported": missing == 0
        and answered + reported + not_begun == handed,
        "SIGTERM: exit 143, whole output": bad_stops == 0,
        "no traceback": tracebacks == 0,
        "calls <= photos + failures": len(calls) <= handed + failed_calls
        and paid == fresh
        and all(n == 1 for n in fresh_by_sha.values()),
        "rate limit held": worst is None or (worst[2] <= worst[1] and len(stamps) == len(calls)),
        "breaker held while hanging": after_trip <= allowed,
        "nothing corrupt": storage["integrity results/cache.db"] == "ok"
        and storage["integrity state.sqlite3"] == "ok"
        and storage["cache entries unreadable"] == 0
        and storage["locks held"] == 0,
        "no run needed killing": not any(run["killed"] for run in results),
    }
    width = max(map(len, figures))
    for name, value in figures.items():
        print(f"{name:<{width}}  {value}")
    print()
    for name, passed in checks.items():
        print(f"{'PASS' if passed else 'FAIL'}  {name}")
    if args.json:
        Path(args.json).write_text(json.dumps({"figures": figures, "checks": checks}, indent=2))
    if not args.keep:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
