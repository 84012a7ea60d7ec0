"""plantid benchmarks against the local sandbox: prints a table of figure / goal / pass.

    python benchmarks/run.py            # everything, medians of several runs (~3 minutes)
    python benchmarks/run.py --quick    # one run each, smaller SDK and RSS sets (~1 minute)
    python benchmarks/run.py --only 1 --only 5
    python benchmarks/run.py --only 11 --only 12 --only 13 --only 14 --only 15   # issue 17

Everything runs as a user would run it: `plantid` subprocesses (rate limit off, a fresh cache
per measured run unless the figure is about the cache) against `python -m plantid_cli.sandbox`
in its own process. Photos are generated into a temporary folder. What each figure means:
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _util as u  # noqa: E402
import goals17  # noqa: E402
import startup  # noqa: E402

PHOTOS, LATENCY_MS, CONCURRENCY = 200, 200, 8
SDK_SCRIPT = """
import os, sys
from kindwise import PlantApi
api = PlantApi(api_key=os.environ["PLANTID_API_KEY"])
api.host = sys.argv[1]  # the SDK builds f"{host}/api/v3/identification"
for path in sys.argv[2:]:
    api.identify(path)  # one after another, as the SDK's README shows
"""


class Bench:
    def __init__(self, root: Path, quick: bool) -> None:
        self.root, self.quick = root, quick
        self.rows: list[tuple[str, str, str, str, bool | None]] = []
        self.notes: list[str] = []
        self._sandboxes: dict[float, u.Sandbox] = {}
        self._photos: Path | None = None
        self.populated: Path | None = None  # a home whose cache holds the 200 photos
        self.walls: list[float] = []

    def runs(self, full: int) -> int:
        return 1 if self.quick else full

    def sandbox(self, latency_ms: float) -> u.Sandbox:
        if latency_ms not in self._sandboxes:
            self._sandboxes[latency_ms] = u.Sandbox(self.root, latency_ms)
        box = self._sandboxes[latency_ms]
        box.configure(mode=None)
        box.reset()
        return box

    def photos(self) -> Path:
        if self._photos is None:
            self._photos = u.small_jpegs(self.root / "photos200", PHOTOS)
        return self._photos

    def row(self, item: str, figure: str, value: str, goal: str, ok: bool | None) -> None:
        self.rows.append((item, figure, value, goal, ok))
        mark = "" if ok is None else ("pass" if ok else "FAIL")
        print(f"  [{item}] {figure}: {value}  (goal {goal}) {mark}", file=sys.stderr, flush=True)

    def close(self) -> None:
        for box in self._sandboxes.values():
            box.close()


def identify(
    bench: Bench, home: Path, box: u.Sandbox, target: Path, *extra: str, rss=False, **env
) -> u.Run:
    args = ["identify", target, "-q", "-f", "ndjson", *extra]
    result = u.plantid(args, u.cli_env(home, box, **env), rss=rss)
    if result.returncode not in (0, 4) and not env:
        raise RuntimeError(f"plantid exited {result.returncode}: {result.stderr[-2000:]}")
    return result


def item1(bench: Bench) -> None:
    """200 photos x 200 ms at concurrency 8, against the ideal N*L/C."""
    ideal = PHOTOS * LATENCY_MS / 1000 / CONCURRENCY
    firsts = []
    for _ in range(bench.runs(5)):
        box = bench.sandbox(LATENCY_MS)
        home = u.fresh_home(bench.root)
        result = identify(bench, home, box, bench.photos(), "-j", str(CONCURRENCY))
        calls = box.stats()["plantid_identify"]
        if result.lines != PHOTOS or calls != PHOTOS:
            raise RuntimeError(f"expected {PHOTOS} records and calls, got {result.lines}/{calls}")
        bench.walls.append(result.wall)
        firsts.append(result.first_line or 0.0)
        bench.populated = home
    wall = u.median(bench.walls)
    bench.row("1", f"{PHOTOS} photos x {LATENCY_MS} ms, -j {CONCURRENCY}: wall / ideal {ideal:g} s",
              f"{wall:.2f} s = {wall / ideal:.2f}x", "<= 1.15x", wall / ideal <= 1.15)  # fmt: skip
    bench.row("1", "  first record out after", f"{u.median(firsts):.2f} s", "<< wall", None)


def item2(bench: Bench) -> None:
    """The same photos through the official SDK, one identify after another."""
    if not bench.walls:
        item1(bench)
    count = 40 if bench.quick else PHOTOS
    box = bench.sandbox(LATENCY_MS)
    paths = sorted(str(p) for p in bench.photos().iterdir())[:count]
    env = u.cli_env(u.fresh_home(bench.root), box)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        env.pop(name, None)
    sdk = u.run([sys.executable, "-c", SDK_SCRIPT, box.url, *paths], env)
    if sdk.returncode != 0 or box.stats()["plantid_identify"] != count:
        raise RuntimeError(f"the SDK run failed: {sdk.stderr[-2000:]}")
    sdk_wall = sdk.wall * PHOTOS / count
    ours = u.median(bench.walls)
    label = f"{sdk_wall:.1f} s" + (f" (from {count})" if count != PHOTOS else "")
    bench.row("2", "official SDK, sequential, same photos", label, "-", None)
    bench.row(
        "2", "  plantid / SDK", f"1/{sdk_wall / ours:.1f}", "<= 1/8", ours / sdk_wall <= 1 / 8
    )


def item3(bench: Bench) -> None:
    """A cached re-run of the 200: no call, a few hundred ms."""
    if bench.populated is None:
        item1(bench)
    walls = []
    for _ in range(bench.runs(5)):
        box = bench.sandbox(LATENCY_MS)
        result = identify(bench, bench.populated, box, bench.photos(), "-j", str(CONCURRENCY))
        if box.stats()["plantid_identify"] != 0 or result.lines != PHOTOS:
            raise RuntimeError("the cached re-run called the service")
        walls.append(result.wall)
    wall = u.median(walls)
    bench.row(
        "3", f"cached re-run of {PHOTOS}: wall (0 calls)", f"{wall:.2f} s", "<= 1.5 s", wall <= 1.5
    )
    bench.row("3", "  images per second", f"{PHOTOS / wall:.0f}/s", "-", None)


def item4(bench: Bench) -> None:
    """12 processes started together on one photo: one upstream call."""
    photo = next(iter(sorted(bench.photos().iterdir())))
    worst = 0
    for _ in range(bench.runs(3)):
        box = bench.sandbox(LATENCY_MS)
        env = u.cli_env(u.fresh_home(bench.root), box)
        args = [*u.plantid_command(), "identify", str(photo), "-q", "-f", "ndjson"]
        procs = [
            subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            for _ in range(12)
        ]
        outputs = [p.communicate(timeout=120)[0] for p in procs]
        if any(b'"status": "ok"' not in out for out in outputs):
            raise RuntimeError("a parallel process did not get the answer")
        worst = max(worst, box.stats()["plantid_identify"])
    bench.row("4", "12 parallel processes, one photo: upstream calls", str(worst), "1", worst == 1)


def item5(bench: Bench) -> None:
    """Open breaker: `plantid identify` costs about `plantid --version`."""
    box = bench.sandbox(0)
    home = u.fresh_home(bench.root)
    env = u.cli_env(home, box, PLANTID_RETRIES="0", PLANTID_BREAKER_RESET_TIMEOUT="3600")
    photo = next(iter(sorted(bench.photos().iterdir())))
    box.configure(mode="error503")
    for _ in range(3):
        u.plantid(["identify", photo, "-q", "-f", "ndjson"], env)
    box.configure(mode=None)
    calls = box.stats()["plantid_identify"]
    check = u.plantid(["identify", photo, "-f", "ndjson"], env)
    if check.returncode != 4 or b'"circuit-open"' not in check.last:
        raise RuntimeError(f"the breaker did not open: {check.stderr[-1000:]}")
    version, opened = [], []
    for _ in range(5 if bench.quick else 21):  # interleaved, so drift hits both alike
        version.append(u.plantid(["--version"], env).wall)
        opened.append(u.plantid(["identify", photo, "-q", "-f", "ndjson"], env).wall)
    if box.stats()["plantid_identify"] != calls:
        raise RuntimeError("a call went out while the breaker was open")
    v, o = u.median(version), u.median(opened)
    bench.row(
        "5",
        "open breaker: identify / --version",
        f"{o * 1000:.0f} / {v * 1000:.0f} ms = {o / v:.2f}x",
        "<= 1.2x",
        o / v <= 1.2,
    )


def item6(bench: Bench) -> None:
    """Bytes uploaded / bytes on disk for 12-megapixel photos."""
    folder = u.camera_jpegs(bench.root / "camera", 2 if bench.quick else 4)
    box = bench.sandbox(0)
    identify(bench, u.fresh_home(bench.root), box, folder)
    calls = box.stats()["calls"]
    sent = sum(sum(call["image_bytes"]) for call in calls)
    disk = u.folder_bytes(folder)
    sizes = {tuple(size) for call in calls for size in call["image_sizes"]}
    bench.row(
        "6",
        f"12 MP photos ({disk / len(calls) / 1e6:.1f} MB each): uploaded / on disk",
        f"{sent / disk:.3f} (sent {sorted(sizes)[0][0]}x{sorted(sizes)[0][1]})",
        "<= 0.15",
        sent / disk <= 0.15,
    )


def item7(bench: Bench) -> None:
    """Peak RSS for 1,000 and 10,000 small files: under 150 MB and flat."""
    peaks = {}
    for count in (1000, 10000):
        folder = u.tiny_files(bench.root / f"tiny{count}", count)
        box = bench.sandbox(0)
        result = identify(
            bench, u.fresh_home(bench.root), box, folder, "-j", str(CONCURRENCY), rss=True
        )
        if result.lines != count:
            raise RuntimeError(f"{count} files: {result.lines} records")
        peaks[count] = result.max_rss_mb
        bench.row(
            "7",
            f"peak RSS, {count:,} small files ({result.wall:.1f} s)",
            f"{result.max_rss_mb:.0f} MB",
            "<= 150 MB",
            result.max_rss_mb <= 150,
        )
    growth = peaks[10000] - peaks[1000]
    bench.row(
        "7",
        "  RSS growth 1,000 -> 10,000 files",
        f"{growth:+.0f} MB",
        "flat (<= +15 MB)",
        growth <= 15,
    )


def item8(bench: Bench) -> None:
    """Start-up: --version and --help wall time; the heaviest imports of --version."""
    env = u.cli_env(u.fresh_home(bench.root), None)
    for flag in ("--version", "--help"):
        u.plantid([flag], env)  # warm .pyc
        walls = [u.plantid([flag], env).wall for _ in range(5 if bench.quick else 15)]
        bench.row("8", f"plantid {flag}", f"{u.median(walls) * 1000:.0f} ms", "-", None)
    offenders = ", ".join(f"{name} {ms:.0f} ms" for name, ms in u.import_offenders(env))
    bench.notes.append(f"Heaviest imports of `plantid --version` (cumulative): {offenders}")
    # What guards/lazy_imports.py saves: the guard libraries with and without redis-py.
    plain = "import pybreaker, portalocker"
    lazy = (
        "from plantid_cli.guards.lazy_imports import pybreaker, portalocker;"
        " pybreaker(); portalocker()"
    )
    runs = 5 if bench.quick else 15
    times = {}
    for name, code in (("plain", plain), ("lazy", lazy)):
        u.run([sys.executable, "-c", code], env)  # warm .pyc
        times[name] = u.median([u.run([sys.executable, "-c", code], env).wall for _ in range(runs)])
    bench.row(
        "8",
        "import pybreaker + portalocker: as is / without redis-py",
        f"{times['plain'] * 1000:.0f} / {times['lazy'] * 1000:.0f} ms",
        "-",
        None,
    )


REFUSAL_SCRIPT = """
import sys, time
from pathlib import Path
from plantid_cli.errors import CircuitOpenError, UpstreamTimeout
from plantid_cli.guards.breaker.shared import SharedBreaker
from plantid_cli.guards.disk.state import SharedState
breaker = SharedBreaker(SharedState(Path(sys.argv[1])), "plantid", reset_timeout=3600)
def fail():
    raise UpstreamTimeout("x")
for _ in range(3):
    try:
        breaker.call(fail)
    except UpstreamTimeout:
        pass
t = time.perf_counter()
try:
    breaker.call(lambda: 1)
except CircuitOpenError:
    print(time.perf_counter() - t)
"""


def item9(bench: Bench) -> None:
    """Refusing a call on an open breaker is a couple of SQLite reads (was a test bound)."""
    seconds = []
    for run in range(bench.runs(5)):
        state = bench.root / f"refusal{run}" / "state.sqlite3"
        state.parent.mkdir()
        out = subprocess.run(
            [sys.executable, "-c", REFUSAL_SCRIPT, str(state)],
            capture_output=True,
            text=True,
            check=True,
            env=u.cli_env(u.fresh_home(bench.root), None),
        ).stdout
        seconds.append(float(out))
    ms = u.median(seconds) * 1000
    bench.row("9", "open breaker refuses in-process", f"{ms:.1f} ms", "< 200 ms", ms < 200)


def item10(bench: Bench) -> None:
    """A folder of bad files (a 400-megapixel PNG bomb, empty, text, truncated) plus one good
    photo is answered in seconds: nothing is decoded in full (was a test bound)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from test_hardening_inputs import png_bomb  # the tests' own bomb, one definition

    box = bench.sandbox(0)
    folder = bench.root / "bad-folder"
    good = next(iter(sorted(bench.photos().iterdir())))
    folder.mkdir(exist_ok=True)
    (folder / "good.jpg").write_bytes(good.read_bytes())
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("<html><body>Not Found</body></html>\n")
    (folder / "truncated.jpg").write_bytes(good.read_bytes()[:300])
    png_bomb(folder / "bomb.png")
    walls = []
    for _ in range(bench.runs(3)):
        env = u.cli_env(u.fresh_home(bench.root), box)
        walls.append(u.plantid(["identify", folder, "-q", "-f", "ndjson"], env).wall)
    wall = u.median(walls)
    bench.row("10", "bad-files folder (PNG bomb)", f"{wall:.2f} s", "< 10 s", wall < 10)


def item16(bench: Bench) -> None:
    """Herbarium scans: a folder of 105-megapixel 16-bit RGB TIFFs (one uncompressed in strips,
    one deflate-tiled, one LZW-striped) through `plantid identify --group-by folder -j 4`: peak
    RSS of the process (the 16-bit pixels of one scan alone are 630 MB) and the wall time."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from scans import halves_tiff  # the tests' own generator, one definition

    folder = bench.root / "scans"
    if not folder.exists():
        halves_tiff(folder / "LE00000001" / "a.tif", (10_500, 10_000))
        halves_tiff(folder / "LE00000002" / "b.tif", (10_500, 10_000), tile=(512, 512),
                    compression="zlib")  # fmt: skip
        halves_tiff(folder / "LE00000003" / "c.tif", (10_500, 10_000), rowsperstrip=256,
                    compression="lzw")  # fmt: skip
    box = bench.sandbox(0)
    result = identify(
        bench, u.fresh_home(bench.root), box, folder, "--group-by", "folder", "-j", "4",
        rss=True,
    )  # fmt: skip
    if result.lines != 3 or result.returncode != 0:
        raise RuntimeError(f"scans: {result.lines} records, exit {result.returncode}")
    bench.row("16", f"peak RSS, 3 scans of 105 MP 16-bit ({result.wall:.1f} s)",
              f"{result.max_rss_mb:.0f} MB", "<= 150 MB", result.max_rss_mb <= 150)  # fmt: skip


ITEMS = {1: item1, 2: item2, 3: item3, 4: item4, 5: item5, 6: item6, 7: item7, 8: item8}
ITEMS.update({9: item9, 10: item10, 16: item16, 17: startup.item17})
ITEMS.update(goals17.ITEMS)  # issue 17: reruns at the cost of a stat, a batch at the floor


def table(bench: Bench) -> str:
    lines = ["| # | figure | median | goal | pass |", "|---|---|---|---|---|"]
    for item, figure, value, goal, ok in bench.rows:
        mark = "" if ok is None else ("yes" if ok else "**no**")
        lines.append(f"| {item} | {figure.strip()} | {value} | {goal} | {mark} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one run per figure, smaller sets")
    parser.add_argument("--only", type=int, action="append", choices=sorted(ITEMS))
    args = parser.parse_args(argv)
    started = time.monotonic()
    print(f"machine: {u.machine()}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="plantid-bench-") as tmp:
        bench = Bench(Path(tmp), args.quick)
        try:
            for number in sorted(set(args.only or ITEMS)):
                ITEMS[number](bench)
        finally:
            bench.close()
    runs = "1 run each (--quick)" if args.quick else "medians of 3-21 runs"
    print(f"\nplantid benchmarks — {u.machine()} — {runs}, {time.monotonic() - started:.0f} s\n")
    print(table(bench))
    for note in bench.notes:
        print(f"\n{note}")
    return 0 if all(ok is not False for *_, ok in bench.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
