"""A fleet of plantid workers on one Redis: real `plantid` processes, a real `redis-server`.

Each test starts its own redis-server on a free loopback port (skipped when the binary is
missing; .ci/run installs it) and kills it at the end. Two "machines" are two sets of processes
with different PLANTID_CACHE_DIR and the same PLANTID_REDIS_URL. Upstream calls are counted at
the sandbox.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, assert_each_call_had_a_slot, busiest_window, run_plantid, spawn, wait_for

from plantid_cli.inputs.walk import in_shard, parse_shard

WARNING = "[REDIS] unreachable at {url}; using local state on this machine"


# -- fixtures and helpers --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    def __init__(self, exe: str, workdir: Path) -> None:
        self.exe = exe
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        for _ in range(5):  # the free port may be taken between the probe and the bind
            self.port = free_port()
            self.proc = subprocess.Popen(
                [
                    self.exe,
                    "--port", str(self.port),
                    "--bind", "127.0.0.1",
                    "--save", "",
                    "--appendonly", "no",
                    "--dir", str(self.workdir),
                    "--daemonize", "no",
                    "--loglevel", "warning",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    if self.client().ping():
                        return self
                except Exception:
                    time.sleep(0.02)
            self.kill()
        raise RuntimeError("redis-server did not start")

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait(10)


@pytest.fixture
def redis_server(tmp_path):
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server not installed (.ci/run apt-installs it)")
    workdir = tmp_path / "redis"
    workdir.mkdir()
    server = RedisServer(exe, workdir).start()
    try:
        yield server
    finally:
        server.kill()


def machine(env: dict, tmp_path: Path, name: str, redis_url: str | None) -> dict:
    """The environment of one machine: its own cache folder, the fleet's Redis."""
    env = dict(env, PLANTID_CACHE_DIR=str(tmp_path / name / "cache"))
    if redis_url:
        env["PLANTID_REDIS_URL"] = redis_url
    return env


def make_photos(folder: Path, count: int, *, start: int = 0) -> list[Path]:
    """Distinct small green PNGs (the sandbox answers "a plant" for green images; PNG so
    that close colours never encode to the same bytes, i.e. the same photo)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(start, start + count):
        path = folder / f"plant-{k:03d}.png"
        Image.new("RGB", (64, 48), (20 + k % 50, 160 + k % 90, 30 + k // 50)).save(path)
        paths.append(path)
    return paths


def finish(procs, timeout=60) -> list[tuple[int, list[dict], str]]:
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        records = [json.loads(line) for line in out.splitlines() if line.strip()]
        results.append((proc.returncode, records, err))
    return results


def identify_calls(sandbox) -> list[dict]:
    return [c for c in sandbox.stats()["calls"] if c["kind"] == "plantid_identify"]


# -- done means ------------------------------------------------------------------------------


def test_twelve_processes_on_two_machines_make_one_call(sandbox, cli_env, redis_server, tmp_path):
    sandbox.configure(latency_ms=500)
    (photo,) = make_photos(tmp_path / "photos", 1)
    envs = [machine(cli_env, tmp_path, name, redis_server.url) for name in ("m1", "m2")]
    procs = [spawn(["identify", photo, "-q"], envs[k % 2]) for k in range(12)]
    results = finish(procs)

    assert sandbox.stats()["plantid_identify"] == 1
    for code, records, err in results:
        assert code == 0, err
        assert [r["status"] for r in records] == ["ok"]
        assert "[REDIS]" not in err
    assert (
        sorted(r["cached"] for _, records, _ in results for r in records) == [False] + [True] * 11
    )
    # the answer is in both levels: Redis, and the local cache of each machine that read it
    keys = [k.decode() for k in redis_server.client().keys("*")]
    assert keys and all(k.startswith("plantid:v1:") for k in keys)
    assert sum(k.startswith("plantid:v1:result:") for k in keys) == 1


def test_breaker_opened_on_one_machine_stops_the_other(sandbox, cli_env, redis_server, tmp_path):
    sandbox.configure(mode="error503")
    first, second = make_photos(tmp_path / "photos", 2)
    settings = {"PLANTID_BREAKER_FAIL_MAX": "1", "PLANTID_BREAKER_RESET_TIMEOUT": "600"}
    m1 = machine({**cli_env, **settings}, tmp_path, "m1", redis_server.url)
    m2 = machine({**cli_env, **settings}, tmp_path, "m2", redis_server.url)

    run = run_plantid(["identify", first, "-q"], m1)
    assert run.returncode == 4, run.stderr
    assert sandbox.stats()["plantid_identify"] == 1

    run = run_plantid(["identify", second, "-q"], m2)
    assert run.returncode == 4, run.stderr
    (record,) = [json.loads(line) for line in run.stdout.splitlines()]
    assert record["error"]["reason"] == "circuit-open"
    assert sandbox.stats()["plantid_identify"] == 1  # machine 2 made no call

    status = run_plantid(["status", "--format", "json"], m2)
    info = json.loads(status.stdout)
    assert info["backend"] == {"kind": "redis", "url": redis_server.url, "reachable": True}
    assert info["providers"]["plantid"]["breaker"]["state"] == "open"
    # the same command without Redis shows machine 2's own disk state: never touched
    local = run_plantid(["status", "--format", "json"], machine(cli_env, tmp_path, "m2", None))
    assert json.loads(local.stdout)["providers"]["plantid"]["breaker"]["state"] == "closed"


def breaker_state(env: dict) -> str:
    run = run_plantid(["status", "--format", "json"], env)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)["providers"]["plantid"]["breaker"]["state"]


def test_one_half_open_probe_for_the_whole_fleet_the_rest_wait_for(
    sandbox, cli_env, redis_server, tmp_path
):
    # the Redis twin of test_guards_cli's ..._stops_a_fourth_then_one_probe
    settings = {
        "PLANTID_BREAKER_FAIL_MAX": "3",
        "PLANTID_BREAKER_RESET_TIMEOUT": "4",
        "PLANTID_TIMEOUT": "60",
    }
    m1, m2 = (machine({**cli_env, **settings}, tmp_path, n, redis_server.url) for n in ("m1", "m2"))
    envs = [m1, m2]
    photos = make_photos(tmp_path / "photos", 10)

    sandbox.configure(mode="error503")
    opening = finish([spawn(["identify", p, "-q"], envs[k % 2]) for k, p in enumerate(photos[:3])])
    opened = time.monotonic()  # no earlier than the third failure, which opened the breaker
    assert [code for code, _, _ in opening] == [4, 4, 4], [err for _, _, err in opening]
    assert sandbox.stats()["plantid_identify"] == 3
    assert breaker_state(m1) == breaker_state(m2) == "open"

    # After the reset timeout: six racers, three per machine, one trial call for the fleet
    # while it is out. It is held at the sandbox; the five others wait for its outcome.
    time.sleep(max(0.0, opened + 4.2 - time.monotonic()))
    before = sandbox.stats()["plantid_identify"]
    asked = sandbox.stats()["plantid_usage"]
    sandbox.configure(mode=None, hold_after=before)
    racers = [spawn(["identify", p, "-q"], envs[k % 2]) for k, p in enumerate(photos[3:9])]
    wait_for(lambda: sandbox.stats()["plantid_usage"] - asked == 6)  # all six have started
    wait_for(lambda: any(c.get("held") for c in sandbox.stats()["calls"]))  # the trial is out
    time.sleep(1.0)  # for the five to reach their photo's check (a lower bound only)
    assert sandbox.stats()["plantid_identify"] - before == 1  # the probe, still held
    assert all(r.poll() is None for r in racers)  # none refused: they wait
    sandbox.configure(hold_after=None)
    racing = finish(racers)
    assert [code for code, _, _ in racing] == [0] * 6, [err for _, _, err in racing]
    for _, records, err in racing:
        (record,) = records
        assert record["status"] == "ok"
        assert "[REDIS]" not in err
    # success_threshold 2: the first trial's outcome, then a second trial alone, then the rest
    calls = sorted(sandbox.stats()["calls"], key=lambda c: c["t_arrival"])[before:]
    assert len(calls) == 6
    assert all(call["t_arrival"] >= calls[0]["t_end"] for call in calls[1:])
    assert all(call["t_arrival"] >= calls[1]["t_end"] for call in calls[2:])
    assert breaker_state(m1) == breaker_state(m2) == "closed"

    run = run_plantid(["identify", photos[9], "-q"], m2)
    assert run.returncode == 0, run.stderr
    assert sandbox.stats()["plantid_identify"] == before + 7


def test_rate_limit_holds_for_the_fleet_and_shards_cover_every_photo_once(
    sandbox, cli_env, redis_server, tmp_path
):
    folder = tmp_path / "photos"
    photos = make_photos(folder, 12)
    # the hourly limit only keeps every slot of the run in the fleet's log for the test
    env = dict(cli_env, PLANTID_RATE_LIMIT="3/second,1000/hour")
    envs = [machine(env, tmp_path, name, redis_server.url) for name in ("m1", "m2")]
    n = 6
    procs = [
        spawn(["identify", folder, "--shard", f"{i}/{n}", "-q"], envs[i % 2]) for i in range(n)
    ]
    results = finish(procs)

    seen = []
    for code, records, err in results:
        assert code == 0, err
        assert sorted(r["index"] for r in records) == list(range(len(records)))
        seen += [r["path"] for r in records]
    assert sorted(seen) == sorted(str(p) for p in photos)  # every photo exactly once

    starts = [c["t_start"] for c in identify_calls(sandbox)]
    assert len(starts) == 12
    # The guarantee is on the slots the fleet took from its log in Redis (a call reaches the
    # server a moment after its slot, by however long a loaded machine takes): no window of
    # 1 s holds more than 3, and every call the sandbox saw came after its slot.
    client = redis_server.client()
    (key,) = client.keys("*:rate:*")
    slots = [score for _, score in client.zrange(key, 0, -1, withscores=True)]
    assert busiest_window(slots, 1.0) <= 3
    assert_each_call_had_a_slot(starts, slots)


def test_redis_unreachable_at_start_warns_once_and_works(sandbox, cli_env, tmp_path):
    port = free_port()  # nothing listens there
    url = f"redis://:s3cret-pw@127.0.0.1:{port}/0"
    env = machine(cli_env, tmp_path, "m1", url)
    (photo,) = make_photos(tmp_path / "photos", 1)

    run = run_plantid(["identify", photo, "-q"], env)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["status"] == "ok"
    shown = WARNING.format(url=f"redis://127.0.0.1:{port}/0")
    assert run.stderr.count(shown) == 1, run.stderr
    assert run.stderr.count("[REDIS]") == 1
    assert "s3cret-pw" not in run.stderr + run.stdout

    status = run_plantid(["status", "--format", "json"], env)
    assert status.returncode == 0
    backend = json.loads(status.stdout)["backend"]
    assert backend == {
        "kind": "redis",
        "url": f"redis://127.0.0.1:{port}/0",
        "reachable": False,
        "fallback": "disk",
    }
    assert "s3cret-pw" not in status.stdout + status.stderr


def test_redis_killed_mid_run_warns_once_and_finishes(sandbox, cli_env, redis_server, tmp_path):
    sandbox.configure(latency_ms=300)
    folder = tmp_path / "photos"
    make_photos(folder, 5)
    env = machine(dict(cli_env, PLANTID_CONCURRENCY="1"), tmp_path, "m1", redis_server.url)
    proc = spawn(["identify", folder, "-q"], env)
    deadline = time.monotonic() + 30
    while sandbox.stats()["plantid_identify"] < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    redis_server.kill()
    ((code, records, err),) = finish([proc])

    assert code == 0, err
    assert [r["status"] for r in records] == ["ok"] * 5
    assert err.count(WARNING.format(url=redis_server.url)) == 1, err
    assert sandbox.stats()["plantid_identify"] == 5

    # the next run on this machine: warned at start, answered from the local cache level
    run = run_plantid(["identify", folder, "-q"], env)
    assert run.returncode == 0, run.stderr
    assert run.stderr.count("[REDIS]") == 1
    assert all(json.loads(line)["cached"] for line in run.stdout.splitlines())
    assert sandbox.stats()["plantid_identify"] == 5


def test_second_machine_reads_the_fleet_cache(sandbox, cli_env, redis_server, tmp_path):
    (photo,) = make_photos(tmp_path / "photos", 1)
    m1 = machine(cli_env, tmp_path, "m1", redis_server.url)
    m2 = machine(dict(cli_env, PLANTID_CACHE_TTL="3600"), tmp_path, "m2", redis_server.url)
    assert run_plantid(["identify", photo, "-q"], m2).returncode == 0
    run = run_plantid(["identify", photo, "-q"], m1)
    assert run.returncode == 0
    assert json.loads(run.stdout)["cached"] is True
    assert sandbox.stats()["plantid_identify"] == 1
    client = redis_server.client()
    (key,) = client.keys("plantid:v1:result:*")
    assert 3590 < client.pttl(key) / 1000 <= 3600  # the writer's TTL
    # copied into machine 1's disk cache: read again without Redis, still no call
    run = run_plantid(["identify", photo, "-q"], machine(cli_env, tmp_path, "m1", None))
    assert json.loads(run.stdout)["cached"] is True
    assert sandbox.stats()["plantid_identify"] == 1


# -- sharding --------------------------------------------------------------------------------


def test_in_shard_partitions_every_path_exactly_once():
    paths = [f"sub{k % 7}/photo-{k}.jpg" for k in range(500)] + ["caf\udce9.jpg", ""]
    for n in (1, 2, 3, 8):
        owners = [[i for i in range(n) if in_shard(p, i, n)] for p in paths]
        assert all(len(o) == 1 for o in owners)
        if n > 1:
            counts = [sum(o == [i] for o in owners) for i in range(n)]
            assert min(counts) > len(paths) / n / 2  # roughly even
    assert in_shard("a/b.jpg", 1, 4) == in_shard("a/b.jpg", 1, 4)  # deterministic


@pytest.mark.parametrize("spec", ["4/4", "-1/4", "1", "a/b", "1/0", "0/", "1.5/3"])
def test_bad_shard_is_a_usage_error(spec, cli_env, tmp_path):
    with pytest.raises(ValueError):
        parse_shard(spec)
    (photo,) = make_photos(tmp_path / "photos", 1)
    run = run_plantid(["identify", photo, "--shard", spec], cli_env)
    assert run.returncode == 2
    assert "--shard" in run.stderr
    assert parse_shard(" 3/4 ") == (3, 4)


def test_disk_users_never_import_redis(tmp_path):
    code = (
        "import sys\n"
        "from plantid_cli.config import Settings\n"
        "from plantid_cli.events import EventBus\n"
        "from plantid_cli.guards.provider_guards import ProviderGuards\n"
        f"s = Settings(cache_dir={str(tmp_path)!r})\n"
        "g = ProviderGuards(s, 'plantid', 'k', EventBus())\n"
        "g.check()\n"
        "from plantid_cli.telemetry.status import collect_status\n"
        "assert collect_status(s)['backend'] == {'kind': 'disk', 'reachable': True}\n"
        "assert 'redis' not in sys.modules, 'redis imported'\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, env=os.environ
    )
    assert run.returncode == 0, run.stderr
