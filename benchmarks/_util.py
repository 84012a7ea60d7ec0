"""Helpers for benchmarks/run.py: photos, the sandbox as a process, timed CLI runs, machine info.

Stdlib only, plus Pillow (a dependency of the project) to draw the photos.
"""

from __future__ import annotations

import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KEY = "bench-key-0123456789"


def plantid_command() -> list[str]:
    """The `plantid` console script next to this Python (as a user runs it), else -m."""
    script = Path(sys.executable).with_name("plantid")
    return [str(script)] if script.exists() else [sys.executable, "-m", "plantid_cli"]


def median(values: list[float]) -> float:
    return statistics.median(values)


# ----- photos --------------------------------------------------------------------------------


def small_jpegs(folder: Path, count: int, size: tuple[int, int] = (96, 72), seed: int = 0) -> Path:
    """`count` distinct small JPEGs (green-ish, so the sandbox calls them plants)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    for i in range(count):
        colour = (rng.randrange(30, 120), rng.randrange(130, 250), rng.randrange(30, 120))
        image = Image.new("RGB", size, colour)
        image.putpixel((i % size[0], (i // size[0]) % size[1]), (255, 255, 255))  # distinct
        image.save(folder / f"img{i:05d}.jpg", quality=85)
    return folder


def tiny_files(folder: Path, count: int) -> Path:
    """`count` distinct tiny JPEGs: one template, a few bytes of comment changed per file."""
    import io

    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (60, 180, 70)).save(buffer, "JPEG", quality=80)
    raw = buffer.getvalue()
    for i in range(count):  # a COM segment after SOI makes every file's hash different
        comment = b"n%08d" % i
        segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
        (folder / f"t{i:06d}.jpg").write_bytes(raw[:2] + segment + raw[2:])
    return folder


def camera_jpegs(folder: Path, count: int, seed: int = 1) -> Path:
    """12-megapixel (4000x3000) JPEGs at quality 92 that compress like photos: smooth colour
    gradients under sensor-like noise and some shapes (a flat image would be unrealistically
    small on disk and flatter the upload ratio)."""
    from PIL import Image, ImageDraw, ImageFilter

    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    width, height = 4000, 3000
    for i in range(count):
        bands = []
        for _ in range(3):
            gradient = (
                Image.linear_gradient("L").rotate(rng.uniform(0, 360)).resize((width, height))
            )
            noise = Image.effect_noise((width, height), rng.uniform(40, 70))
            bands.append(Image.blend(gradient, noise, 0.35))
        image = Image.merge("RGB", bands)
        draw = ImageDraw.Draw(image)
        for _ in range(60):  # leaves: ellipses in greens
            x, y = rng.randrange(width), rng.randrange(height)
            w, h = rng.randrange(80, 600), rng.randrange(40, 300)
            fill = (rng.randrange(20, 90), rng.randrange(100, 200), rng.randrange(20, 80))
            draw.ellipse((x, y, x + w, y + h), fill=fill)
        image = image.filter(ImageFilter.GaussianBlur(0.6))
        image.save(folder / f"camera{i:02d}.jpg", quality=92)
    return folder


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


# ----- the sandbox ---------------------------------------------------------------------------


class Sandbox:
    """`python -m plantid_cli.sandbox.server` in its own process, on a free port."""

    def __init__(self, workdir: Path, latency_ms: float = 0) -> None:
        port_file = workdir / f"sandbox-{time.monotonic_ns()}.port"
        self.log = open(workdir / "sandbox.log", "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "plantid_cli.sandbox", "--port", "0", "--port-file",
             str(port_file), "--latency-ms", str(latency_ms), "--credits", "1000000000"],
            cwd=REPO, stdout=self.log, stderr=self.log,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while not port_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the sandbox did not start (see sandbox.log)")
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{int(port_file.read_text())}"

    def _request(self, path: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method="GET" if data is None else "POST"
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def stats(self) -> dict:
        return self._request("/_sandbox/stats")

    def cpu(self) -> float:
        """User + system CPU seconds the sandbox process has used so far (Linux /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def reset(self) -> None:
        self._request("/_sandbox/reset", {})

    def configure(self, **changes) -> dict:
        return self._request("/_sandbox/config", changes)

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


# ----- running the CLI -----------------------------------------------------------------------


@dataclass
class Run:
    wall: float  # seconds, process start to exit
    first_line: float | None  # seconds to the first stdout line
    lines: int
    returncode: int
    last: bytes  # the last stdout line
    max_rss_mb: float  # peak RSS (exact for that process only with run(rss=True))
    stderr: str
    cpu: float = 0.0  # user + system CPU seconds of the process (what load on the machine
    # stretches least; without rss=True, the launcher's own are not in it)


def cli_env(home: Path, sandbox: Sandbox | None, **extra: str) -> dict[str, str]:
    """A clean environment: own cache/config/keys under `home`, the sandbox, rate limit off."""
    # PYTHONDONTWRITEBYTECODE would make every run recompile plantid from source: a user's
    # installed copy has its .pyc files, so measure with them.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PLANTID_", "PLANTNET_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    # the code of this checkout, whichever copy the `plantid` script's environment installed
    # (an editable install of another worktree would otherwise be what is measured)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(
        PLANTID_CACHE_DIR=str(home / "cache"),
        PLANTID_CONFIG=os.devnull,  # no config file: defaults
        PLANTID_KEYS_FILE=str(home / "keys.json"),
        PLANTID_API_KEY=KEY,
        PLANTID_RATE_LIMIT="off",
        NO_COLOR="1",
    )
    if sandbox is not None:
        env["PLANTID_API_URL"] = sandbox.url + "/api/v3"
        env["PLANTNET_API_URL"] = sandbox.url + "/v2"
    env.update(extra)
    return env


# Linux keeps the RSS high-water mark across fork+exec, so a child of this (large, it draws
# 12 MP photos) process would report our peak as its own; a small launcher measures instead.
LAUNCHER = """
import resource, subprocess, sys
code = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as out:
    out.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(code)
"""


def run(args: list[str], env: dict[str, str], *, timeout: float = 600, rss: bool = False) -> Run:
    """Run one process, reading stdout line by line; with `rss`, its own peak RSS."""
    rss_file = Path(tempfile.mkstemp(prefix="rss-")[1])
    if rss:
        args = [sys.executable, "-c", LAUNCHER, str(rss_file), *args]
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(args, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=err)
        first, lines, last = None, 0, b""
        assert process.stdout is not None
        for line in process.stdout:
            last = line
            if first is None:
                first = time.perf_counter() - started
            lines += 1
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        process.stdout.close()
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
    peak = int(rss_file.read_text() or 0) if rss else usage.ru_maxrss
    rss_file.unlink()
    cpu = usage.ru_utime + usage.ru_stime
    return Run(wall, first, lines, process.returncode, last, peak / 1024, text, cpu)


def plantid(args: list[str], env: dict[str, str], **kwargs) -> Run:
    return run([*plantid_command(), *map(str, args)], env, **kwargs)


def fresh_home(root: Path) -> Path:
    home = Path(tempfile.mkdtemp(prefix="home-", dir=root))
    return home


def wipe(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


# ----- the machine ---------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return (
        f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs ({cpu}), "
        f"Python {platform.python_version()}{load}"
    )


def import_offenders(env: dict[str, str], top: int = 6) -> list[tuple[str, float]]:
    """`python -X importtime -m plantid_cli --version`: the top-level imports costing most (ms)."""
    run([sys.executable, "-m", "plantid_cli", "--version"], env)  # warm the .pyc files
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "plantid_cli", "--version"],
        env=env, cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    rows = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line[len("import time:") :].split("|")
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        if depth <= 1:
            rows.append((name.strip(), int(cumulative) / 1000))
    rows.sort(key=lambda row: row[1], reverse=True)
    return rows[:top]
