"""Where item 14's refill gap goes: from one answer leaving the sandbox to the next upload
reaching it, step by step, inside one plantid process.

    python benchmarks/refill.py [--runs 3]

A plantid batch as item 14 runs it (200 small photos, 200 ms, -j 8, a fresh sandbox and cache
each run), in a process that first wraps a few of plantid's own functions and httpx's
`Client.send` with a timestamp on entry and exit (`time.time()`, the sandbox's clock). Each
step's figure is the median over the batch of the k-th event of one kind against the k-th of
the one before it (the uploads and the answers keep their order at this load); the slot
hand-over pairs the k-th slot given back with the (k + 8)-th taken (the first 8 take a free
one). The sandbox's `t_end` (answer written) and `t_arrival` (request line read) close the
chain. The wrapping costs a few microseconds per event: figures for where the time goes,
not for the wall time (that is timeline.py's and run.py's).
Stdlib and the benchmarks' helpers only.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import _util as u
from run import CONCURRENCY, LATENCY_MS, PHOTOS
from timeline import _phases  # the refill gap as timeline.py measures it, the floor's too

WRAPPED_RUN = r"""
import atexit, functools, sys, threading, time
events = []
def wrap(owner, name, tag):
    original = getattr(owner, name)
    @functools.wraps(original)
    def timed(*args, **kwargs):
        events.append((tag + ">", time.time()))
        try:
            return original(*args, **kwargs)
        finally:
            events.append((tag + "<", time.time()))
    setattr(owner, name, timed)
import httpx
from plantid_cli.guards.breaker.shared import SharedBreaker
from plantid_cli.guards.disk.cache import ResultCache
from plantid_cli.guards.disk.ratelimit import RateLimiter
from plantid_cli.guards.wire import Turn
from plantid_cli.providers.plantid import PlantIdProvider
from plantid_cli.run import reread
wrap(httpx.Client, "send", "send")
wrap(PlantIdProvider, "identify", "identify")
wrap(SharedBreaker, "call", "breaker")
wrap(ResultCache, "set", "store")
wrap(Turn, "take", "take")
wrap(Turn, "give_back", "give")
wrap(reread, "reread", "reread")
wrap(RateLimiter, "acquire", "rate")
out = sys.argv.pop(1)
def dump():
    with open(out, "w") as f:
        f.writelines(f"{tag} {t!r}\n" for tag, t in events)
atexit.register(dump)
sys.argv[0] = "plantid"
from plantid_cli.cli import main
main()
"""

#: (step, the event it ends at, the event it starts from); `sandbox:...` from the call log
STEPS = [
    ("answer written -> httpx has the response", "send<", "sandbox:t_end"),
    ("-> the answer parsed (back from the exchange's thread)", "identify<", "send<"),
    ("-> the breaker counted it", "breaker<", "identify<"),
    ("-> the answer stored", "store<", "breaker<"),
    ("-> the slot handed to the next photo", "take<", "give>"),
    ("-> its checks and re-read look-up done", "reread<", "take<"),
    ("-> its rate-limit stamp", "rate<", "reread<"),
    ("-> httpx sends it (on the exchange's thread)", "send>", "rate<"),
    ("-> the sandbox reads its request line", "sandbox:t_arrival", "send>"),
]


#: the sandbox's own figure for the whole gap, as timeline.py gives it (for the floor too)
GAP = "refill gap (sandbox: answer k -> upload k + 8), mean"


def _one_run(root: Path, photos: Path) -> dict[str, float]:
    box = u.Sandbox(root, LATENCY_MS)
    log = root / "events.txt"
    try:
        env = u.cli_env(u.fresh_home(root), box)
        command = [sys.executable, "-c", WRAPPED_RUN, str(log), "identify", str(photos), "-q",
                   "-f", "ndjson", "-j", str(CONCURRENCY)]  # fmt: skip
        done = subprocess.run(command, env=env, cwd=u.REPO, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-1500:])
        calls = [c for c in box.stats()["calls"] if c.get("kind") == "plantid_identify"]
    finally:
        box.close()
    if len(calls) != PHOTOS:
        raise RuntimeError(f"{len(calls)} uploads in the call log, not {PHOTOS}")
    times: dict[str, list[float]] = {
        "sandbox:t_end": sorted(c["t_end"] for c in calls),
        "sandbox:t_arrival": sorted(c["t_arrival"] for c in calls),
    }
    for line in log.read_text().splitlines():
        tag, stamp = line.split()
        times.setdefault(tag, []).append(float(stamp))
    for tag in times:
        times[tag].sort()
    times["send>"] = times["send>"][1:]  # the first request is the free usage_info
    times["send<"] = times["send<"][1:]
    figures = {}
    for name, end, start in STEPS:
        ends, starts = times[end], times[start]
        if (end, start) == ("take<", "give>"):  # the k-th slot given back: the (k+8)-th taken
            ends = ends[CONCURRENCY:]
        figures[name] = statistics.median(e - s for e, s in zip(ends, starts, strict=False))
    figures[GAP] = _phases(calls, 0.0, 0.0)["refill gap"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="plantid-refill-"))
    photos = u.small_jpegs(root / "photos200", PHOTOS)
    runs = [_one_run(root, photos) for _ in range(args.runs)]
    print(f"{u.machine()}, {args.runs} runs, medians (ms)\n")
    print("| step | ms |\n|---|---|")
    total = 0.0
    for name, _, _ in STEPS:
        value = statistics.median(run[name] for run in runs)
        total += value
        print(f"| {name} | {value * 1000:.2f} |")
    print(f"| sum of the steps | {total * 1000:.2f} |")
    print(f"| {GAP} | {statistics.median(run[GAP] for run in runs) * 1000:.2f} |")
    u.wipe(root)


if __name__ == "__main__":
    main()
