"""Where item 14's time goes: plantid's batch against the bare-client floor, phase by phase.

    python benchmarks/timeline.py [--runs 7]

Both processes run against a fresh sandbox each (200 small photos, 200 ms, 8 in flight, as
item 14 of benchmarks/run.py), alternating. The phases come from the sandbox's call log
(`t_arrival`, `t_end` of every upload) against the moment the process was started:

- first upload: process start -> the first upload reaches the sandbox (the floor starts its
  clock after its imports and preparation, so its figure is from its clock's start);
- first round spread: the first upload's arrival -> the 8th's (every slot's first call is
  out; a late slot stays late for the whole batch, as each slot makes the same number of calls);
- round 1 -> 2: the first upload's arrival -> the 9th's (the first slot freed and refilled);
- refill gap: the mean time from an answer sent to the next upload's arrival (the k-th answer
  frees the slot the (k + 8)-th upload takes);
- each later round: the mean spacing of round starts from the 2nd to the last;
- last answer -> exit: the last upload's answer sent -> the process gone (the floor: its
  clock stopped).

Medians over the runs. Stdlib and the benchmarks' helpers only.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _util as u
from goals17 import FLOOR_SCRIPT
from run import CONCURRENCY, LATENCY_MS, PHOTOS

# the floor prints, besides its clock, the wall time at which that clock started
_CLOCK = "started = time.perf_counter()"
assert FLOOR_SCRIPT.count(_CLOCK) == 1, "goals17.FLOOR_SCRIPT no longer starts its clock so"
FLOOR_WITH_START = FLOOR_SCRIPT.replace(_CLOCK, _CLOCK + "; print(time.time())")


def _phases(calls: list[dict], began: float, ended: float) -> dict[str, float]:
    arrivals = sorted(call["t_arrival"] for call in calls)
    if len(arrivals) != PHOTOS:
        raise RuntimeError(f"{len(arrivals)} uploads in the call log, not {PHOTOS}")
    starts = arrivals[::CONCURRENCY]  # the first upload of each round
    ends = sorted(call["t_end"] for call in calls)
    refills = [arrivals[k] - ends[k - CONCURRENCY] for k in range(CONCURRENCY, PHOTOS)]
    return {
        "first upload": arrivals[0] - began,
        "first round spread": arrivals[CONCURRENCY - 1] - arrivals[0],
        "round 1 -> 2": starts[1] - starts[0],
        "refill gap": sum(refills) / len(refills),
        "each later round": (starts[-1] - starts[1]) / (len(starts) - 2),
        "last answer -> exit": ended - max(call["t_end"] for call in calls),
        "wall": ended - began,
    }


def _timed(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    with tempfile.TemporaryFile() as out:
        began = time.time()
        process = subprocess.run(args, env=env, cwd=u.REPO, stdout=out, stderr=subprocess.PIPE)
        ended = time.time()
        out.seek(0)
        if process.returncode != 0:
            raise RuntimeError(process.stderr.decode()[-1500:])
        return began, ended, out.read().decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="plantid-timeline-"))
    photos = u.small_jpegs(root / "photos200", PHOTOS)
    paths = sorted(str(p) for p in photos.iterdir())
    figures: dict[str, dict[str, list[float]]] = {"floor": {}, "plantid": {}}
    for _ in range(args.runs):
        for who in ("floor", "plantid"):
            box = u.Sandbox(root, LATENCY_MS)
            try:
                env = u.cli_env(u.fresh_home(root), box)
                if who == "floor":
                    command = [sys.executable, "-c", FLOOR_WITH_START, box.url + "/api/v3",
                               str(CONCURRENCY), *paths]  # fmt: skip
                    _, _, out = _timed(command, env)
                    clock_started, clock = map(float, out.split()[:2])
                    began, ended = clock_started, clock_started + clock  # its clock's span
                else:
                    command = [*u.plantid_command(), "identify", str(photos), "-q", "-f",
                               "ndjson", "-j", str(CONCURRENCY)]  # fmt: skip
                    began, ended, _ = _timed(command, env)
                calls = [c for c in box.stats()["calls"] if c.get("kind") == "plantid_identify"]
            finally:
                box.close()
            for name, value in _phases(calls, began, ended).items():
                figures[who].setdefault(name, []).append(value)
    print(f"{u.machine()}, {args.runs} runs each, medians (ms)\n")
    print("| | " + " | ".join(figures["floor"]) + " |")
    print("|---" * (len(figures["floor"]) + 1) + "|")
    for who, phases in figures.items():
        cells = " | ".join(f"{u.median(v) * 1000:.1f}" for v in phases.values())
        print(f"| {who} | {cells} |")
    u.wipe(root)


if __name__ == "__main__":
    main()
