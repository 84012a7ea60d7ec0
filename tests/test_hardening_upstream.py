"""Bad upstreams from the CLI: each fault classified, recorded, and counted right by the breaker.

Every test runs the real `plantid` in subprocesses against the test's sandbox with
PLANTID_RETRIES=0 (one call per photo) and PLANTID_TIMEOUT=1, and checks exact call counts on the
sandbox side and the shared breaker through `plantid status --format json`.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest
from conftest import run_plantid
from photos import green_photo

from plantid_cli.errors import BadResponse, ServiceUnavailable, UpstreamTimeout
from plantid_cli.providers.base import send


@pytest.fixture
def env(cli_env):
    return {**cli_env, "PLANTID_TIMEOUT": "1", "PLANTID_BREAKER_FAIL_MAX": "3"}


@pytest.fixture
def photo(tmp_path):
    return green_photo(tmp_path / "leaf.jpg", (320, 240))


def identify(path, env, *extra):
    """One run: (exit code, the single record, stderr, seconds)."""
    started = time.monotonic()
    result = run_plantid(["identify", path, *extra], env)
    elapsed = time.monotonic() - started
    assert "Traceback" not in result.stderr, result.stderr
    [record] = [json.loads(line) for line in result.stdout.splitlines()]
    return result.returncode, record, result.stderr, elapsed


def breaker(env, provider="plantid"):
    result = run_plantid(["status", "--format", "json"], env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["providers"][provider]["breaker"]


def calls(sandbox):
    return sandbox.stats()["plantid_identify"]


def test_5xx_html_opens_the_breaker_after_fail_max_then_no_calls(sandbox, env, photo):
    sandbox.configure(mode="error500")
    for run in range(1, 4):
        code, record, stderr, _ = identify(photo, env)
        assert code == 4
        assert record["error"]["code"] == "unavailable"
        assert record["error"]["reason"] == "http-500"
        assert "<" not in record["error"]["message"]  # the HTML body is not the message
        assert calls(sandbox) == run
    state = breaker(env)
    assert state["state"] == "open"
    assert state["failures"] == 3
    code, record, stderr, _ = identify(photo, env)
    assert code == 4
    assert record["error"]["reason"] == "circuit-open"
    assert "retry_at" in record["error"]
    assert calls(sandbox) == 3  # the fourth run made no call at all


def test_503_is_unavailable_and_counted(sandbox, env, photo):
    sandbox.configure(mode="error503")
    code, record, _, _ = identify(photo, env)
    assert (code, record["error"]["reason"]) == (4, "http-503")
    assert breaker(env)["failures"] == 1


def test_401_is_exit_3_and_the_breaker_stays_closed(sandbox, env, photo):
    sandbox.configure(mode="auth")
    for _ in range(4):  # more than fail_max: still never opens
        code, record, _, _ = identify(photo, env)
        assert code == 3
        assert record["error"]["code"] == "auth"
    assert calls(sandbox) == 4
    state = breaker(env)
    assert (state["state"], state["failures"]) == ("closed", 0)


def test_429_credits_is_exit_4_breaker_closed_and_stops_calls(sandbox, env, photo):
    sandbox.configure(mode="credits")
    code, record, stderr, _ = identify(photo, env)
    assert code == 4
    assert record["error"]["code"] == "credits"
    assert "credits" in record["error"]["message"]
    assert calls(sandbox) == 1
    state = breaker(env)
    assert (state["state"], state["failures"]) == ("closed", 0)
    # The credits cool-down (not the breaker) keeps the next run off the network.
    code, record, _, _ = identify(photo, env)
    assert (code, record["error"]["code"]) == (4, "credits")
    assert calls(sandbox) == 1


@pytest.mark.parametrize("mode", ["badjson", "badshape"])
def test_bad_json_answers_are_bad_response_failures(sandbox, env, photo, mode):
    """A charged answer that cannot be used (more in test_charged.py): one breaker failure,
    stored, and not asked again once the service behaves (only --refresh buys it again)."""
    sandbox.configure(mode=mode, fault_reread=True)
    code, record, _, _ = identify(photo, env)
    assert code == 4
    assert (record["error"]["code"], record["error"]["reason"]) == ("bad_response", "bad-response")
    assert calls(sandbox) == 1
    state = breaker(env)
    assert (state["state"], state["failures"]) == ("closed", 1)
    sandbox.configure(mode=None)
    code, record, _, _ = identify(photo, env)
    assert (code, record["error"]["code"], record["cached"]) == (4, "bad_response", True)
    assert calls(sandbox) == 1
    code, record, _, _ = identify(photo, env, "--refresh")
    assert (code, record["status"], record["cached"]) == (0, "ok", False)
    assert breaker(env)["failures"] == 0


@pytest.mark.parametrize(
    ("mode", "code"),
    # a drip has sent its 201 before the body: charged, so stored (tests/test_charged_cut.py)
    [("hang", "unavailable/timeout"), ("drip", "bad_response/bad-response")],
)
def test_hang_and_drip_are_cut_by_the_timeout(sandbox, env, photo, mode, code):
    """A drip of one byte per 0.5 s never trips httpx's per-read timeout: the total deadline
    in providers.base.send does."""
    sandbox.configure(mode=mode, drip_interval=0.3)
    exit_code, record, _, _ = identify(photo, env)
    assert exit_code == 4
    assert f"{record['error']['code']}/{record['error']['reason']}" == code
    assert calls(sandbox) == 1
    # the client cut it: the sandbox was still hanging, or had not finished dripping the body
    # (counted by the sandbox, not timed: t_end may be set by then, when a write after the
    # client's close failed, and on a loaded machine the test reads the stats late)
    [call] = sandbox.stats()["calls"]
    if mode == "hang":
        assert call["t_end"] is None
    else:
        assert 0 < call["body_sent"] < call["body_bytes"], call
    assert breaker(env)["failures"] == 1


def test_connection_reset_is_a_connection_failure(sandbox, env, photo):
    sandbox.configure(mode="reset")
    code, record, _, _ = identify(photo, env)
    assert code == 4
    assert (record["error"]["code"], record["error"]["reason"]) == ("unavailable", "connection")
    assert calls(sandbox) == 1
    assert breaker(env)["failures"] == 1


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the block ends


def test_connection_refused_is_unavailable(env, photo):
    env = {**env, "PLANTID_API_URL": f"http://127.0.0.1:{closed_port()}/api/v3"}
    for _ in range(3):
        code, record, _, _ = identify(photo, env)
        assert code == 4
        assert (record["error"]["code"], record["error"]["reason"]) == (
            "unavailable",
            "connection",
        )
    assert breaker(env)["state"] == "open"
    code, record, _, _ = identify(photo, env)
    assert record["error"]["reason"] == "circuit-open"


@pytest.fixture
def blackhole():
    """A loopback port whose accept queue is full: a connect there hangs (SYNs are dropped)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        try:
            filler.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(filler)
    time.sleep(0.05)
    try:
        yield port
    finally:
        for sock in (*fillers, server):
            sock.close()


def test_connect_timeout_is_a_timeout(env, photo, blackhole):
    with httpx.Client(timeout=httpx.Timeout(1.0)) as client:
        # the blackhole never accepts: only the client's connect timeout can end this
        with pytest.raises(UpstreamTimeout) as caught:
            send(client, "plantid", "GET", f"http://127.0.0.1:{blackhole}/api/v3/usage_info")
    assert "ConnectTimeout" in caught.value.message
    env = {**env, "PLANTID_API_URL": f"http://127.0.0.1:{blackhole}/api/v3"}
    code, record, _, _ = identify(photo, env)
    assert code == 4
    assert (record["error"]["code"], record["error"]["reason"]) == ("unavailable", "timeout")
    assert breaker(env)["failures"] == 1


def test_retries_stay_one_breaker_failure(sandbox, env, photo):
    sandbox.configure(mode="error503")
    code, record, stderr, _ = identify(photo, {**env, "PLANTID_RETRIES": "2"}, "-v")
    assert code == 4
    assert calls(sandbox) == 3
    assert stderr.count("[RETRY]") == 2
    assert breaker(env)["failures"] == 1


def test_success_after_failures_resets_the_count(sandbox, env, photo):
    sandbox.configure(mode="error500")
    identify(photo, env)
    identify(photo, env)
    assert breaker(env)["failures"] == 2
    sandbox.configure(mode=None)
    code, record, _, _ = identify(photo, env)
    assert (code, record["status"]) == (0, "ok")
    assert breaker(env)["failures"] == 0


# --- send() itself: the total deadline and the size cap, without the CLI ------------------------


def test_send_total_deadline_cuts_a_drip(sandbox):
    sandbox.configure(mode="drip", drip_interval=0.1)
    with httpx.Client(timeout=1.0) as client:
        # one byte every 0.1 s never trips the 1 s per-read timeout; the answer would take
        # minutes: only the total deadline ends it, while the sandbox is still dripping
        with pytest.raises(UpstreamTimeout):
            send(
                client,
                "plantid",
                "POST",
                f"{sandbox.plantid_url}/identification",
                json={"images": ["aGVsbG8="]},
                headers={"Api-Key": "k"},
            )
        assert sandbox.stats()["calls"][0]["t_end"] is None
        sandbox.configure(mode=None)  # and the same client still works afterwards
        response = send(
            client, "plantid", "GET", f"{sandbox.plantid_url}/usage_info", headers={"Api-Key": "k"}
        )
        assert response.status_code == 200
        # nothing was charged: all the sandbox's credits remain
        assert response.json()["remaining"]["total"] == sandbox.stats()["credits"]["total"]


def test_exchanges_one_after_another_run_in_one_kept_helper_thread(sandbox):
    """Issue 17: a thread was started for every request, about 0.7 ms in front of each call of
    a -j 8 run. Helpers are kept: ten exchanges one after another run in one thread; one cut
    at its deadline (a hang) keeps its helper until it ends, and the next exchange is not held
    by it."""
    import threading

    ran_in: list[threading.Thread] = []

    def trace(event, info):
        if event == "http11.send_request_headers.started":
            ran_in.append(threading.current_thread())  # kept alive: no id reused

    def usage(client):
        url = f"{sandbox.plantid_url}/usage_info"
        return send(client, "plantid", "GET", url, headers={"Api-Key": "k"},
                    extensions={"trace": trace})  # fmt: skip

    with httpx.Client(timeout=1.0) as client:
        for _ in range(10):
            assert usage(client).status_code == 200
        assert len(ran_in) == 10
        assert len({id(thread) for thread in ran_in}) == 1
        assert ran_in[0].name == "plantid-http" and ran_in[0].daemon
        sandbox.configure(mode="hang")
        with pytest.raises(UpstreamTimeout):
            send(client, "plantid", "POST", f"{sandbox.plantid_url}/identification",
                 json={"images": ["aGVsbG8="]}, headers={"Api-Key": "k"},
                 extensions={"trace": trace})  # fmt: skip
        sandbox.configure(mode=None)
        assert usage(client).status_code == 200
    assert sandbox.stats()["plantid_usage"] == 11


def test_a_requests_own_timeout_bounds_its_exchange_on_a_client_with_a_longer_one(sandbox):
    """The credit check now goes over the run's client (one connection for it and the first
    upload) but keeps its own bound: the exchange's deadline is the request's timeout, which
    httpx fills in from the client's only when none is given.

    Headers dripped a byte per 0.05 s (~10 s in all): every socket read returns well within
    0.5 s, so only the exchange's total deadline can end it (a plain hang raced the socket's
    own 0.5 s read timeout, which says just "timed out"). Under the client's 120 s the drip
    would complete and nothing would be raised."""
    from plantid_cli.providers.exchange import exchange

    sandbox.configure(mode="header_drip", drip_interval=0.05)
    url = f"{sandbox.plantid_url}/identification"
    kwargs = {"json": {"images": ["aGVsbG8="]}, "headers": {"Api-Key": "k"}, "timeout": 0.5}
    with httpx.Client(timeout=120) as client:
        with pytest.raises(httpx.ReadTimeout) as caught:
            exchange(client, "POST", url, kwargs, 1 << 20)
    assert "within 0.5s" in str(caught.value)


def test_send_refuses_an_endless_answer(monkeypatch):
    from plantid_cli.providers import base

    monkeypatch.setattr(base, "MAX_RESPONSE_BYTES", 1000)

    def handler(request):
        return httpx.Response(200, content=iter([b"x" * 600] * 5))

    with httpx.Client(transport=httpx.MockTransport(handler), timeout=5) as client:
        with pytest.raises(BadResponse) as caught:
            send(client, "plantid", "GET", "http://upstream.invalid/x")
    assert caught.value.reason == "bad-response"


def test_send_classifies_transport_errors_and_redacts_urls():
    def handler(request):
        raise httpx.ConnectError(f"cannot reach {request.url}")

    url = "http://upstream.invalid/v2/identify/all?api-key=SECRET-IN-URL-123"
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(ServiceUnavailable) as caught:
            send(client, "plantnet", "POST", url)
    assert caught.value.reason == "connection"
    assert "SECRET-IN-URL-123" not in str(caught.value)
    assert "api-key=****" in caught.value.message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_an_abandon_never_shuts_a_connection_already_handed_to_the_next_request(sandbox, tmp_path):
    """Found by a red-team pass (session 10): an exchange that read its whole answer and gave
    its connection back to the pool just as its caller's deadline passed was abandoned all the
    same, and the abandon shut that connection's socket - by then another request's. That
    request's paid 201, held at the service, never reached it: a transport error, retried,
    bought again. Made deterministic here: the first exchange's helper is held (a chained
    httpx trace, public) right after its connection went back, past its 1 s deadline, while
    a second request on the same client waits for its answer on that connection."""
    import base64
    from pathlib import Path

    from plantid_cli.providers.exchange import exchange

    url = f"{sandbox.plantid_url}/identification"
    photo = Path(green_photo(tmp_path / "p.jpg", (160, 120), seed=960)).read_bytes()
    body = {"images": [base64.b64encode(photo).decode()]}
    released, second_sent = threading.Event(), threading.Event()

    def hold_after_release(event, info):
        if event == "http11.response_closed.complete":
            released.set()
            time.sleep(2.0)  # the helper starved: past the 1 s deadline, within SETTLE_SECONDS

    sandbox.configure(hold_after=1)  # the first is answered; the second waits at the service
    outcome: dict = {}
    with httpx.Client(timeout=30) as client:

        def second() -> None:
            kwargs = {"json": body, "headers": {"Api-Key": "k"}, "timeout": 30,
                      "extensions": {"trace": lambda e, i: e.endswith("send_request_body.complete")
                                     and second_sent.set()}}  # fmt: skip
            try:
                outcome["second"] = exchange(client, "POST", url, kwargs, 1 << 20).status_code
            except Exception as exc:  # noqa: BLE001 - what the defect raised
                outcome["second"] = repr(exc)

        first_kwargs = {"json": body, "headers": {"Api-Key": "k"}, "timeout": 1.0,
                        "extensions": {"trace": hold_after_release}}  # fmt: skip
        other = threading.Thread(target=lambda: released.wait(30) and second())
        other.start()
        first = exchange(client, "POST", url, first_kwargs, 1 << 20)
        assert second_sent.wait(30)
        sandbox.configure(hold_after=None)  # the service answers the second
        other.join(60)
    assert first.status_code == 201
    assert outcome["second"] == 201
    stats = sandbox.stats()
    assert (stats["plantid_identify"], stats["statuses"]) == (2, {"201": 2})
    assert stats["connections"] == 1  # the second went on the first's connection


def test_a_client_the_warm_up_finishes_after_a_stopped_run_closed_is_closed(monkeypatch, sandbox):
    """Found by a red-team pass (session 10): a stopped run's close() does not wait for its
    warm-up thread, so a warm-up still building the HTTP client (httpx's import) set it after
    close() had closed whatever was there: a client never closed. Held here in the build
    (run/setups.py's `new_client`, wrapped: it returns a real client), across close()."""
    from plantid_cli.config import load_settings
    from plantid_cli.events import EventBus
    from plantid_cli.run import setups as setups_module
    from plantid_cli.run.batch import make_engine
    from plantid_cli.run.options import IdentifyOptions

    monkeypatch.setenv("PLANTID_API_URL", sandbox.plantid_url)
    monkeypatch.setenv("PLANTID_API_KEY", "test-key-1234567890")
    building, go_on, built = threading.Event(), threading.Event(), []
    real_new_client = setups_module.new_client

    def held_new_client(*args, **kwargs):
        building.set()
        go_on.wait(60)
        built.append(real_new_client(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(setups_module, "new_client", held_new_client)
    stop = threading.Event()
    engine = make_engine(load_settings({}), IdentifyOptions(paths=["x.jpg"]), EventBus(), stop)
    engine.setups.warm()
    assert building.wait(60)
    engine.stop()
    closing = threading.Thread(target=engine.close)
    closing.start()
    go_on.set()
    closing.join(60)
    engine.setups._warmer.join(60)
    assert not closing.is_alive() and len(built) == 1
    assert built[0].is_closed
