"""High concurrency: a fresh batch at -j 50 to 400 against a slow sandbox, each photo paid once.

    python benchmarks/concurrency.py [--photos 1000] [--latency-ms 1500] [-j 50 -j 400 ...]

Each `-j` runs `plantid identify` over the same number of small, different photos against a
fresh sandbox answering every identification in `--latency-ms`, on a fresh cache, and prints
its wall time, its CPU (user + sys), the least wall the latency allows (rounds of `-j` calls),
how many records were ok, and how many photos the sandbox's call log says were paid more than
once (its `image_sha256` of each upload). Session 19 found 58 s of CPU at -j 400 where -j 100
took 5 s, and photos paid twice: one httpcore pool's bookkeeping grows with the square of its
connections (providers/pools.py). Figures for docs/benchmarks.md; the paid-once property is
tests/test_http_pool.py's. Stdlib, Pillow and the benchmarks' helpers only.
"""

from __future__ import annotations

import argparse
import collections
import math
import re
import resource
import sys
import tempfile
from pathlib import Path

import _util as u


def _photos(folder: Path, count: int) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):  # each different: the sandbox's answer depends on the bytes
        picture = Image.new("RGB", (48, 36), (40 + i % 50, 120 + i % 97, 40 + i % 43))
        picture.putpixel((i % 48, i // 48 % 36), (255, 255, 255))
        picture.save(folder / f"p{i:05d}.jpg", quality=90)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=1500)
    parser.add_argument("-j", dest="levels", type=int, action="append")
    args = parser.parse_args()
    levels = args.levels or [50, 100, 200, 400]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    root = Path(tempfile.mkdtemp(prefix="plantid-concurrency-"))
    photos = _photos(root / "photos", args.photos)
    print(f"{u.machine()}, {args.photos} photos, {args.latency_ms:.0f} ms a call\n")
    print("| -j | wall | least wall (rounds x latency) | CPU | ok | paid twice |")
    print("|---|---|---|---|---|---|")
    for level in levels:
        box = u.Sandbox(root, args.latency_ms)
        try:
            env = u.cli_env(u.fresh_home(root), box)
            run = u.plantid(["identify", photos, "-f", "ndjson", "-j", level], env)
            calls = [c for c in box.stats()["calls"] if c.get("kind") == "plantid_identify"]
        finally:
            box.close()
        if run.returncode not in (0, 4):
            sys.exit(f"-j {level}: plantid exited {run.returncode}: {run.stderr[-1500:]}")
        paid = collections.Counter(d for c in calls if c.get("status") == 201
                                   for d in c["image_sha256"])  # fmt: skip
        twice = sum(1 for n in paid.values() if n > 1)
        least = math.ceil(args.photos / level) * args.latency_ms / 1000
        said = re.search(r"(\d+) ok", run.stderr)  # the summary line: "N images, K ok, ..."
        ok = int(said.group(1)) if said else 0
        print(f"| {level} | {run.wall:.1f} s | {least:.1f} s | {run.cpu:.1f} s | {ok} | {twice} |")
    print(f"\n(open files: soft {soft}, hard {hard}; plantid raises its soft limit as -j needs)")
    u.wipe(root)


if __name__ == "__main__":
    main()
