"""Run metrics (issue 9): the file and the Pushgateway push, parsed with prometheus_client's own
text parser and checked against what the sandbox counted."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import REPO, Lines, run_plantid, wait_for
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from plantid_cli.config import Settings
from plantid_cli.events import Event, EventBus
from plantid_cli.telemetry.metrics import RunObserver, parse_grouping_key


def photos(folder, count, *, duplicate=True, broken=True):
    """`count` distinct small green photos, plus a byte-identical copy and a non-image."""
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        Image.new("RGB", (64, 48), (30 + 7 * n, 160, 60)).save(folder / f"p{n}.jpg", "JPEG")
    if duplicate:
        shutil.copy(folder / "p0.jpg", folder / "p0-copy.jpg")
    if broken:
        (folder / "broken.jpg").write_bytes(b"this is not a picture")
    return folder


def parse(text):
    """{(sample name, sorted label items): value} and the set of family names."""
    samples, families = {}, {}
    for family in text_string_to_metric_families(text):
        families[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples, families


def total(samples, name, **labels):
    """Sum of every sample of `name` whose labels include `labels`."""
    return sum(
        value
        for (sample, items), value in samples.items()
        if sample == name and all(dict(items).get(k) == v for k, v in labels.items())
    )


def records_of(stdout):
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_metrics_file_counts_equal_the_sandbox(sandbox, cli_env, tmp_path):
    folder = photos(tmp_path / "in", 4)
    prom = tmp_path / "out" / "run.prom"
    prom.parent.mkdir()
    args = [
        "-vv",
        "--log-format",
        "json",
        "identify",
        folder,
        "-f",
        "ndjson",
        "--metrics-file",
        prom,
    ]

    before = time.time()
    first = run_plantid(args, cli_env)
    assert first.returncode == 1, first.stderr  # broken.jpg fails on its own
    records = records_of(first.stdout)
    calls = sandbox.stats()["plantid_identify"]
    assert calls == 4
    samples, families = parse(prom.read_text())

    assert families["plantid_upstream_calls"] == "counter"
    assert families["plantid_breaker_state"] == "gauge"
    assert families["plantid_upstream_latency_seconds"] == "histogram"
    assert total(samples, "plantid_upstream_calls_total") == calls
    assert total(samples, "plantid_upstream_calls_total", outcome="ok") == calls
    cached = sum(1 for r in records if r["cached"])
    assert cached == 1  # the byte-identical copy, answered once
    assert total(samples, "plantid_cache_requests_total", result="hit") == cached
    for status in ("ok", "not_plant", "error"):
        expected = sum(1 for r in records if r["status"] == status)
        got = total(samples, "plantid_images_total", provider="plantid", status=status)
        assert got == expected, status
    assert total(samples, "plantid_images_total") == 6
    assert total(samples, "plantid_upstream_latency_seconds_count") == calls
    assert total(samples, "plantid_rate_limit_wait_seconds_count") == calls
    # one lock wait per photo that went to the lock: each call's, and the byte-identical copy's
    # when it reached the lock while its twin was being asked (else the cache answered it
    # first): exactly the lock.waited events of the run's own log
    waited = [line for line in first.stderr.splitlines() if '"event": "lock.waited"' in line]
    assert calls <= len(waited) <= calls + cached
    assert total(samples, "plantid_lock_wait_seconds_count") == len(waited)
    assert total(samples, "plantid_image_prepare_seconds_count") >= calls
    assert total(samples, "plantid_retries_total") == 0
    assert samples[("plantid_breaker_state", (("provider", "plantid"),))] == 0
    assert samples[("plantid_in_flight", ())] == 0
    start = samples[("plantid_run_start_timestamp_seconds", ())]
    end = samples[("plantid_run_end_timestamp_seconds", ())]
    assert before - 1 <= start <= end <= time.time() + 1
    assert not any(name.endswith("_created") for name, _ in samples)
    assert [p.name for p in prom.parent.iterdir()] == ["run.prom"]  # no temp file left

    # Again: everything readable comes from the cache, nothing is sent.
    second = run_plantid(args, cli_env)
    assert second.returncode == 1, second.stderr
    assert sandbox.stats()["plantid_identify"] == calls
    records = records_of(second.stdout)
    samples, _ = parse(prom.read_text())
    cached = sum(1 for r in records if r["cached"])
    assert cached == 5
    assert total(samples, "plantid_upstream_calls_total") == 0
    assert total(samples, "plantid_cache_requests_total", result="hit") == cached
    assert total(samples, "plantid_cache_requests_total", result="miss") == 1  # broken.jpg


def test_breaker_open_shows_as_2_in_the_run_and_in_status(sandbox, cli_env, tmp_path):
    folder = photos(tmp_path / "in", 4, duplicate=False, broken=False)
    sandbox.configure(mode="error500")
    env = {**cli_env, "PLANTID_BREAKER_FAIL_MAX": "2", "PLANTID_CONCURRENCY": "1"}
    prom = tmp_path / "run.prom"
    args = ["identify", folder, "-f", "ndjson", "--metrics-file", prom]

    first = run_plantid(args, env)
    assert first.returncode == 4, first.stderr
    calls = sandbox.stats()["plantid_identify"]
    assert calls == 2  # two failures open the breaker; the rest is never sent
    samples, _ = parse(prom.read_text())
    assert total(samples, "plantid_upstream_calls_total") == calls
    assert total(samples, "plantid_upstream_calls_total", outcome="server_error") == calls
    assert samples[("plantid_breaker_state", (("provider", "plantid"),))] == 2
    assert total(samples, "plantid_breaker_transitions_total", state="open") == 1
    assert total(samples, "plantid_images_total", status="error") == 4

    # A run that starts with the breaker open: no call, no transition, still 2.
    second = run_plantid(args, env)
    assert second.returncode == 4, second.stderr
    assert sandbox.stats()["plantid_identify"] == calls
    samples, _ = parse(prom.read_text())
    assert total(samples, "plantid_upstream_calls_total") == 0
    assert total(samples, "plantid_breaker_transitions_total") == 0
    assert samples[("plantid_breaker_state", (("provider", "plantid"),))] == 2
    assert total(samples, "plantid_circuit_open_rejections_total", provider="plantid") == 4

    status = run_plantid(["status", "--format", "prometheus"], env)
    assert status.returncode == 0, status.stderr
    samples, families = parse(status.stdout)
    assert samples[("plantid_breaker_state", (("provider", "plantid"),))] == 2
    assert samples[("plantid_breaker_state", (("provider", "plantnet"),))] == 0
    assert samples[("plantid_breaker_failures", (("provider", "plantid"),))] >= 2
    assert families["plantid_rate_limit_used"] == "gauge"
    assert samples[("plantid_cache_entries", ())] == 0


def test_auto_fallbacks_are_counted_and_logged(sandbox, cli_env, tmp_path):
    folder = photos(tmp_path / "in", 4, duplicate=False, broken=False)
    sandbox.configure(mode_plantid="error503")
    env = {**cli_env, "PLANTID_BREAKER_FAIL_MAX": "2", "PLANTID_CONCURRENCY": "1"}
    prom = tmp_path / "run.prom"
    args = ["--log-format", "json", "identify", folder, "-f", "ndjson", "--provider", "auto"]

    # Two photos meet Plant.id's 503s, the other two its open breaker: all four go to Pl@ntNet.
    first = run_plantid([*args, "--metrics-file", prom], env)
    assert first.returncode == 0, first.stderr
    assert all(r["degraded"] and r["provider"] == "plantnet" for r in records_of(first.stdout))
    samples, _ = parse(prom.read_text())
    assert total(samples, "plantid_fallbacks_total", **{"from": "plantid", "to": "plantnet"}) == 4
    # Every Pl@ntNet look-up counts, also after a failed Plant.id call (checked only then).
    assert total(samples, "plantid_cache_requests_total", provider="plantnet", result="miss") == 4
    events = [json.loads(line) for line in first.stderr.splitlines()]
    fallbacks = [e for e in events if e["event"] == "fallback"]
    assert sorted(e["reason"] for e in fallbacks) == ["circuit-open"] * 2 + ["http-503"] * 2
    assert {(e["from_provider"], e["to_provider"]) for e in fallbacks} == {("plantid", "plantnet")}

    # Again, breaker open and Pl@ntNet's answers cached: still four fallbacks, no call at all.
    calls = sandbox.stats()["plantnet_identify"]
    second = run_plantid([*args, "--metrics-file", prom], env)
    assert second.returncode == 0, second.stderr
    assert sandbox.stats()["plantnet_identify"] == calls
    samples, _ = parse(prom.read_text())
    assert total(samples, "plantid_fallbacks_total") == 4


class _Gateway(BaseHTTPRequestHandler):
    def _record(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.server.pushes.append(
            {
                "method": self.command,
                "path": self.path,
                "content_type": self.headers.get("Content-Type"),
                "body": self.rfile.read(length).decode(),
            }
        )
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_PUT = do_POST = _record

    def log_message(self, *args):
        pass


@pytest.fixture
def gateway():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    server.pushes = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_pushgateway_receives_the_run(sandbox, cli_env, tmp_path, gateway):
    folder = photos(tmp_path / "in", 3, broken=False)
    url = f"http://127.0.0.1:{gateway.server_address[1]}"
    result = run_plantid(
        ["identify", folder, "-f", "ndjson", "--pushgateway", url, "--job-name", "nightly"],
        cli_env,
    )
    assert result.returncode == 0, result.stderr
    assert len(gateway.pushes) == 1
    push = gateway.pushes[0]
    assert push["method"] == "PUT"
    assert push["path"] == "/metrics/job/plantid/job_name/nightly"
    assert push["content_type"].startswith("text/plain")
    samples, _ = parse(push["body"])
    calls = sandbox.stats()["plantid_identify"]
    assert calls == 3
    assert total(samples, "plantid_upstream_calls_total") == calls
    assert total(samples, "plantid_cache_requests_total", result="hit") == 1
    assert total(samples, "plantid_images_total", status="ok") == 4
    assert samples[("plantid_run_end_timestamp_seconds", ())] > 0


def test_pushgateway_down_warns_but_keeps_the_result(sandbox, cli_env, tmp_path, gateway):
    folder = photos(tmp_path / "in", 1, duplicate=False, broken=False)
    port = gateway.server_address[1]
    gateway.shutdown()
    gateway.server_close()
    result = run_plantid(
        ["identify", folder, "-f", "ndjson", "--pushgateway", f"127.0.0.1:{port}"], cli_env
    )
    assert result.returncode == 0, result.stderr
    assert "cannot push metrics" in result.stderr
    assert len(records_of(result.stdout)) == 1
    # issue 16: a line like every other warning, the reason in words, no urllib repr
    (line,) = [text for text in result.stderr.splitlines() if "cannot push metrics" in text]
    assert line.startswith("plantid: warning: cannot push metrics to "), line
    assert "urlopen" not in line and "<" not in line and "Errno" not in line, line
    assert line.endswith(": connection refused"), line


def test_usage_errors_before_any_call(sandbox, cli_env, tmp_path):
    folder = photos(tmp_path / "in", 1, duplicate=False, broken=False)
    missing_dir = run_plantid(
        ["identify", folder, "--metrics-file", tmp_path / "no" / "such" / "run.prom"], cli_env
    )
    assert missing_dir.returncode == 2
    assert "--metrics-file" in missing_dir.stderr
    lone_job = run_plantid(["identify", folder, "--job-name", "x"], cli_env)
    assert lone_job.returncode == 2
    assert "--pushgateway" in lone_job.stderr

    # prometheus_client missing: a clear message naming the extra.
    shadow = tmp_path / "shadow" / "prometheus_client"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named prometheus_client')\n")
    env = {**cli_env, "PYTHONPATH": str(shadow.parent)}
    absent = run_plantid(["identify", folder, "--metrics-file", tmp_path / "run.prom"], env)
    assert absent.returncode == 2
    assert "pip install 'plantid-cli[metrics]'" in absent.stderr
    # ... and a run without metrics does not need it.
    plain = run_plantid(["identify", folder, "-f", "ndjson"], env)
    assert plain.returncode == 0, plain.stderr
    assert sandbox.stats()["plantid_identify"] == 1


def test_config_metrics_file(sandbox, cli_env, tmp_path):
    folder = photos(tmp_path / "in", 1, duplicate=False, broken=False)
    prom = tmp_path / "from-env.prom"
    result = run_plantid(["identify", folder], {**cli_env, "PLANTID_METRICS_FILE": str(prom)})
    assert result.returncode == 0, result.stderr
    samples, _ = parse(prom.read_text())
    assert total(samples, "plantid_upstream_calls_total") == 1


def test_file_is_rewritten_during_the_run_and_always_whole(tmp_path):
    prom = tmp_path / "run.prom"
    observer = RunObserver(
        Settings(cache_dir=str(tmp_path / "cache")), metrics_file=prom, interval=0.02
    )
    bus = EventBus()
    observer.watch(bus)
    observer.start()
    bad, reads = [], [0]
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            try:
                samples, _ = parse(prom.read_text())
                assert ("plantid_run_start_timestamp_seconds", ()) in samples
                reads[0] += 1
            except Exception as exc:  # a half-written file would land here
                bad.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        bus.emit(Event.UPSTREAM_START, provider="plantid", path="a.jpg", attempt=1)
        # the file is rewritten while the run goes on
        samples = wait_for(lambda: in_flight_is_one(prom))
        assert samples[("plantid_run_end_timestamp_seconds", ())] == 0
        bus.emit(Event.UPSTREAM_CALL, provider="plantid", outcome="timeout", seconds=1.5, path="a")
        time.sleep(0.1)
    finally:
        stop.set()
        thread.join()
        observer.close()
    assert not bad and reads[0] > 0
    samples, _ = parse(prom.read_text())
    assert samples[("plantid_in_flight", ())] == 0
    assert total(samples, "plantid_upstream_calls_total", outcome="timeout") == 1
    assert samples[("plantid_run_end_timestamp_seconds", ())] > 0
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == ["run.prom"]


def in_flight_is_one(prom):
    samples, _ = parse(prom.read_text())
    return samples if samples[("plantid_in_flight", ())] == 1 else None


def test_grouping_key():
    assert parse_grouping_key(None) == {}
    assert parse_grouping_key("nightly") == {"job_name": "nightly"}
    assert parse_grouping_key("site=a,run=b") == {"site": "a", "run": "b"}
    with pytest.raises(Exception, match="job-name"):
        parse_grouping_key("9x=1")


def test_ctrl_c_still_writes_the_final_file(sandbox, cli_env, tmp_path):
    folder = photos(tmp_path / "in", 6, duplicate=False, broken=False)
    sandbox.configure(hold_after=1)  # the first is answered, the second held in flight
    prom = tmp_path / "run.prom"
    proc = subprocess.Popen(
        [sys.executable, "-m", "plantid_cli", "identify", str(folder), "-f", "ndjson"]
        + ["-j", "1", "--metrics-file", str(prom)],
        env=cli_env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(lambda: sandbox.stats()["plantid_identify"] == 2)
    proc.send_signal(signal.SIGINT)
    notes = Lines(proc.stderr)
    notes.until("waiting for answers in flight")
    sandbox.configure(hold_after=None)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    samples, _ = parse(prom.read_text())
    calls = sandbox.stats()["plantid_identify"]
    assert calls == 2  # the Ctrl-C came mid-run: no call after it
    assert total(samples, "plantid_upstream_calls_total") == calls
    assert total(samples, "plantid_images_total") == len(records_of(stdout))
    assert samples[("plantid_run_end_timestamp_seconds", ())] > 0
    assert samples[("plantid_in_flight", ())] == 0


def test_every_metric_is_a_declared_attribute_of_its_kind():
    """RunMetrics' attributes are made from the METRICS table and declared on the class for
    the type checker: a row without its declaration (or of another kind) fails here."""
    from plantid_cli.telemetry.metrics import METRICS, RunMetrics

    declared = {
        name: kind
        for name, kind in RunMetrics.__annotations__.items()
        if kind in ("Counter", "Gauge", "Histogram")
    }
    assert declared == {attr: kind for attr, kind, *_ in METRICS}
    metrics = RunMetrics(Settings())
    for attr, kind, *_ in METRICS:
        assert type(getattr(metrics, attr)).__name__ == kind
