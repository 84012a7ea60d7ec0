"""Soak test: many `plantid` processes against a sandbox that keeps changing how it fails.

    python benchmarks/soak.py                              # the short profile (~2 min)
    python benchmarks/soak.py --duration 600               # the long one (~12 min)
    python benchmarks/soak.py --json soak.json             # also write the figures as JSON

What runs: a sandbox on 127.0.0.1 (loopback only, in this process) that cycles through phases,
`--phase` seconds each: flaky (HTML 500s at `--fail-rate`), slow (every answer `--slow-ms`
late, close to the `--timeout`: a waiter for another process's photo must outlast the whole
call, as no fixed lock wait shorter than it may end the wait), each unusable charged answer
(badjson, badshape, badtypes, badlist, badnumber, hugelist, gzip_bomb, bad_gzip, a body
dripped past the deadline, a reset after the status line), header_drip (headers dripped past
the deadline), and a `--hang-for` s hang; each fault phase is followed by a calm one past the
breaker's reset timeout. `--procs` slots each run `plantid identify` on
`--photos` photos drawn from a pool of `--distinct` generated JPEGs, one process after
another, until `--duration` has passed; all share one PLANTID_CACHE_DIR. Every
`--stop-every`-th run of a slot is stopped 2-6 s after it starts, by SIGTERM, SIGINT and
kill -9 in turn. Every process is killed at the hard bound (duration + `--grace`). Then two
reruns over every photo handed out, against a clean sandbox: the first may buy only photos
never paid for; the second must make no call at all.

Checks (exit 1 if any fails):
  * 0 photos paid twice: a photo is paid when the sandbox answered 2xx to its POST (its headers
    delivered), counted per uploaded image over the whole soak; a photo whose paid answer was
    in flight in a process killed -9 is exempt and counted apart (the answer died with it);
  * 0 answers lost: every paid photo is served from the cache by the first rerun (no POST),
    and the second rerun makes 0 POSTs;
  * every photo handed to a run ends in a record (answered, or an error with a code), except
    photos a stopped run never began; SIGTERM exits 143 and SIGINT 130 with whole output;
  * no traceback and no "internal error" on any stdout or stderr; the API key's bytes in no
    output and no file under the cache folder;
  * the rate limit held; the breaker held while the sandbox hung (only half-open probes);
  * nothing corrupt: both SQLite files pass integrity_check, every cache value reads back as
    JSON, no lock file is still held.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
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
    breaker_figures,
    check_storage,
    judge,
    key_leaks,
    rate_stamps,
    upload_digests,
)

from plantid_cli.sandbox.plantid_api import gzip_bomb  # noqa: E402
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


#: The charged answers that cannot be used, one phase each (sandbox modes).
UNUSABLE = (
    "badjson", "badshape", "badtypes", "badlist", "badnumber", "hugelist",
    "gzip_bomb", "bad_gzip", "drip", "cut_body",
)  # fmt: skip


def phases(args) -> list[tuple[str, dict, float]]:
    """(name, sandbox settings, seconds) of one cycle."""
    calm = {"mode": None, "fail_rate": 0.0, "latency_ms": args.latency_ms}
    cycle = [
        ("flaky", {**calm, "fail_rate": args.fail_rate}, args.phase),
        ("slow", {**calm, "latency_ms": args.slow_ms}, 2 * args.phase),
    ]
    # Unusable answers open the breaker (a service that charges for junk is broken): a calm
    # gap past its reset timeout after each fault lets the next one reach the sandbox.
    gap = ("calm", calm, args.reset_timeout + 1.0)
    for kind in (*UNUSABLE, "header_drip"):
        cycle += [(kind, {**calm, "mode": kind}, args.phase), gap]
    return [*cycle, ("hang", {**calm, "mode": "hang"}, args.hang_for), gap]


class Mixer(threading.Thread):
    """Walks the sandbox through `phases` until `stop_at`; remembers each phase's window."""

    def __init__(self, sandbox: SandboxServer, cycle: list, stop_at: float):
        super().__init__(daemon=True)
        self.sandbox, self.cycle, self.stop_at = sandbox, cycle, stop_at
        self.windows: list[tuple[str, float, float]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while True:
            for name, settings, seconds in self.cycle:
                start = time.time()
                if start >= self.stop_at or self.stopping.is_set():
                    return
                self.sandbox.configure(**settings)
                self.stopping.wait(min(seconds, max(0.0, self.stop_at - start)))
                self.windows.append((name, start, time.time()))

    def hangs(self) -> list[tuple[float, float]]:
        return [(begin, end) for name, begin, end in self.windows if name == "hang"]


STOPS = ("TERM", "INT", "KILL")


def run_slot(slot: int, args, env, photos, deadline, hard_stop, results, lock) -> None:
    rng = random.Random(args.seed * 1000 + slot)
    run = stops = 0
    while time.time() < deadline:
        chosen = rng.sample(photos, args.photos)
        stop = None
        if args.stop_every > 0 and run % args.stop_every == args.stop_every - 1:
            stop, stops = STOPS[(slot + stops) % len(STOPS)], stops + 1
        started = time.time()
        process = start_plantid(env)
        stopped: list[float] = []
        if stop:  # mid-run: in-flight answers must land (not kill -9), the output stay whole
            timer = threading.Timer(rng.uniform(2.0, 6.0), _signal, (process, stop, stopped))
            timer.start()
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
                    "stop": stop,
                    "stopped_at": stopped[0] if stopped else None,
                    "seconds": time.time() - started,
                }
            )
        run += 1


def start_plantid(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "plantid_cli", "-vv", "--log-format", "json", "identify", "-"],
        env=env,
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _signal(process: subprocess.Popen, stop: str, stopped: list[float]) -> None:
    if process.poll() is None:
        stopped.append(time.time())
        process.send_signal(getattr(signal, f"SIG{stop}"))


def rerun(env: dict, photos: list[str]) -> dict:
    """One plain run over `photos` against a clean sandbox (hang protection only)."""
    process = start_plantid(env)
    out, err = process.communicate("".join(f"{p}\n" for p in photos), timeout=1800)
    return {"stdout": out, "stderr": err, "code": process.returncode}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=90.0,
        help="seconds to keep starting runs: 90 is the short profile (one phase cycle), "
        "600 the long one",
    )
    parser.add_argument("--grace", type=float, default=45.0, help="then at most this to finish")
    parser.add_argument("--procs", type=int, default=8)
    parser.add_argument("--photos", type=int, default=30, help="photos per process")
    parser.add_argument(
        "--distinct",
        type=int,
        default=2500,
        help="size of the photo pool (kept ahead of the "
        "photos bought, so the last phases still send calls)",
    )
    parser.add_argument("--phase", type=float, default=3.0, help="seconds of each phase")
    parser.add_argument("--fail-rate", type=float, default=0.3, help="in the flaky phase")
    parser.add_argument("--latency-ms", type=float, default=40.0)
    parser.add_argument("--slow-ms", type=float, default=2500.0, help="in the slow phase")
    parser.add_argument("--drip", type=float, default=0.05, help="seconds per dripped byte")
    parser.add_argument("--hang-for", type=float, default=12.0)
    parser.add_argument("--timeout", type=float, default=3.0, help="PLANTID_TIMEOUT")
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
    parser.add_argument(
        "--stop-every", type=int, default=3, help="signal every n-th run of a slot (0: never)"
    )
    parser.add_argument("--json", help="write the figures to this file too")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="plantid-soak-"))
    print(f"soak: photos and cache under {root}", file=sys.stderr)
    photos = make_photos(root / "photos", args.distinct, args.seed)
    uploads = upload_digests(photos)
    sandbox = SandboxServer(
        "127.0.0.1",
        0,
        latency_ms=args.latency_ms,
        seed=args.seed,
        credits=10**9,
        hang_seconds=args.hang_for + 5,
        drip_interval=args.drip,
    ).start()
    sandbox.configure(bomb_mb=64)  # twice the client's 32 MiB cap once decoded
    gzip_bomb(64)  # built now, once: building it in the first call would delay its headers
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
    mixer = Mixer(sandbox, phases(args), deadline)
    mixer.start()
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
    mixer.stopping.set()
    mixer.join()
    wall = time.time() - started
    soak_calls = len(sandbox.stats()["calls"])
    # ----- the reruns, against a clean sandbox -----
    sandbox.configure(mode=None, fail_rate=0.0, latency_ms=0)
    handed_out = sorted({path for run in results for path in run["photos"]})
    # The breaker may be open from the last phase: past its reset timeout, one call at a time
    # closes it with its first probe (with more, the probe's siblings would be refused).
    time.sleep(args.reset_timeout + 0.5)
    reruns = [rerun({**env, "PLANTID_CONCURRENCY": "1"}, handed_out)]
    after_first = len(sandbox.stats()["calls"])
    reruns.append(rerun(env, handed_out))
    stats = sandbox.stats()
    sandbox.stop()
    calls = stats["calls"]
    figures, checks = judge(args, results, reruns, calls, soak_calls, after_first, uploads)
    figures["wall time (s)"] = round(wall, 1)
    figures["phases run"] = dict(Counter(name for name, _, _ in mixer.windows))
    figures.update(breaker_figures(args, mixer.hangs(), rate_stamps(cache_dir), checks))
    figures.update(storage := check_storage(cache_dir))
    leaks = key_leaks(KEY, [t for r in results + reruns for t in (r["stdout"], r["stderr"])],
                      cache_dir)  # fmt: skip
    figures["places the key was found"] = leaks
    checks["no key bytes in any output or cache file"] = not leaks
    checks["nothing corrupt"] = (
        storage["integrity results/cache.db"] == "ok"
        and storage["integrity state.sqlite3"] == "ok"
        and storage["cache entries unreadable"] == 0
        and storage["locks held"] == 0
    )
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
