"""Start-up ratios (issue 13, item 7), measured side by side in one run.

What a scripted loop pays per invocation: `plantid --version` against `python -c "import
typer"` (what plantid adds to its framework), and an open-breaker `identify` *with flags*
(Typer parses them; no call goes out) against `plantid --version`. Each figure is the median
over interleaved runs, so a load that drifts hits all three alike; CPU time (user + system of
the process) is the figure judged, as it moves far less than wall time on a loaded machine;
wall time is printed beside it.
"""

from __future__ import annotations

import sys

import _util as u


def item17(bench) -> None:
    box = bench.sandbox(0)
    env = u.cli_env(u.fresh_home(bench.root), box, PLANTID_RETRIES="0",
                    PLANTID_BREAKER_RESET_TIMEOUT="3600")  # fmt: skip
    photo = next(iter(sorted(bench.photos().iterdir())))
    box.configure(mode="error503")
    for _ in range(3):
        u.plantid(["identify", photo, "-q", "-f", "ndjson"], env)
    box.configure(mode=None)
    calls = box.stats()["plantid_identify"]
    commands = {
        "import typer": [sys.executable, "-c", "import typer"],
        "plantid --version": [*u.plantid_command(), "--version"],
        "open breaker: identify --top 2 -f json": [
            *u.plantid_command(), "identify", str(photo), "--top", "2", "-f", "json", "-q",
        ],
    }  # fmt: skip
    for args in commands.values():
        u.run(args, env)  # warm .pyc
    runs: dict[str, list[u.Run]] = {name: [] for name in commands}
    for _ in range(7 if bench.quick else 21):
        for name, args in commands.items():
            runs[name].append(u.run(args, env))
    if box.stats()["plantid_identify"] != calls:
        raise RuntimeError("a call went out while the breaker was open")
    cpu = {name: u.median([r.cpu for r in done]) for name, done in runs.items()}
    wall = {name: u.median([r.wall for r in done]) for name, done in runs.items()}
    pairs = (
        ("plantid --version", "import typer", 1.15),
        ("open breaker: identify --top 2 -f json", "plantid --version", 1.3),
    )
    for name, base, goal in pairs:
        ratio = cpu[name] / cpu[base]
        bench.row(
            "17",
            f"{name} / {base} (CPU; wall {wall[name] * 1000:.0f} / {wall[base] * 1000:.0f} ms)",
            f"{cpu[name] * 1000:.0f} / {cpu[base] * 1000:.0f} ms = {ratio:.2f}x",
            f"<= {goal}x",
            ratio <= goal,
        )
