"""A 2xx whose body never arrives whole has been paid for: stored as `bad_response`, not re-bought.

Once the status line of an identification says 2xx the service has charged. Before this, a body
cut by the total deadline (`drip`), a reset after the status line (`cut_body`), a gzip body over
the size cap (`gzip_bomb`) or one that does not decode (`bad_gzip`) was retried as a timeout or
a bad response: PLANTID_RETRIES=2 bought it 3 times, and every rerun bought it again. Real CLI
in subprocesses against the test's sandbox; POSTs counted in the sandbox's log, no clock.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path

import httpx
import pytest
from photos import green_photo
from runs import identify_one

from plantid_cli.errors import UnusableAnswer, UpstreamTimeout
from plantid_cli.providers.base import send

POST = {"plantid": "plantid_identify", "plantnet": "plantnet_identify"}
#: The cut in each mode, as the record's message names it.
CUTS = {
    "drip": "no complete answer within",
    "cut_body": "the body was cut",
    "gzip_bomb": "larger than",
    "bad_gzip": "not valid gzip",
}


@pytest.fixture
def env(cli_env):
    return {**cli_env, "PLANTID_RETRIES": "2", "PLANTID_TIMEOUT": "2"}


@pytest.fixture
def photo(tmp_path):
    return green_photo(tmp_path / "leaf.jpg", (320, 240))


identify = identify_one


@pytest.mark.parametrize("provider", ["plantid", "plantnet"])
@pytest.mark.parametrize("mode", sorted(CUTS))
def test_a_2xx_cut_short_is_bought_once(sandbox, env, photo, provider, mode):
    # a drip of one byte per second: the 2 s total deadline always cuts it after the status;
    # the Plant.id re-read by token is spoiled the same way (or finds no token in the text)
    sandbox.configure(
        **{f"mode_{provider}": mode}, drip_interval=1.0, bomb_mb=64, fault_reread=True
    )
    args = ["--provider", provider]
    code, record, stderr = identify(photo, env, *args)
    assert code == 4
    assert (record["error"]["code"], record["error"]["reason"]) == ("bad_response", "bad-response")
    assert CUTS[mode] in record["error"]["message"]
    assert sandbox.stats()[POST[provider]] == 1  # not retried although PLANTID_RETRIES=2
    assert "1 credit used" in stderr
    # the paid answer was stored: the rerun serves it without a call
    code, again, stderr = identify(photo, env, *args)
    assert (code, again["cached"], again["error"]["code"]) == (4, True, "bad_response")
    assert sandbox.stats()[POST[provider]] == 1
    assert "0 credits used" in stderr


def test_a_cut_plantid_answer_is_saved_by_the_free_reread(sandbox, env, photo):
    """The first half of a Plant.id answer names its access_token: the free GET reads the
    paid answer whole, so the photo is answered with one POST."""
    sandbox.configure(mode_plantid="cut_body")
    code, record, stderr = identify(photo, env, "--provider", "plantid")
    assert (code, record["status"]) == (0, "ok")
    assert (sandbox.stats()["plantid_identify"], sandbox.stats()["plantid_get"]) == (1, 1)
    assert "1 credit used" in stderr


def test_both_providers_store_each_cut_answer(sandbox, env, photo):
    """`--provider both`: each lane's cut answer is stored; the rerun posts to neither."""
    sandbox.configure(mode="cut_body", fault_reread=True)
    code, record, _ = identify(photo, env, "--provider", "both")
    assert code == 4
    stats = sandbox.stats()
    assert (stats["plantid_identify"], stats["plantnet_identify"]) == (1, 1)
    identify(photo, env, "--provider", "both")
    stats = sandbox.stats()
    assert (stats["plantid_identify"], stats["plantnet_identify"]) == (1, 1)


def test_a_free_get_cut_short_stays_a_timeout(sandbox, photo):
    """Only a POST (an identification) is charged: a 2xx re-read (GET) cut by the deadline
    is a timeout, as before."""

    url = f"{sandbox.plantid_url}/identification"
    body = {"images": [base64.b64encode(Path(photo).read_bytes()).decode()]}
    with httpx.Client(timeout=1.0) as client:
        answer = send(client, "plantid", "POST", url, json=body,
                      headers={"Api-Key": "k"})  # fmt: skip
        token = answer.json()["access_token"]
        sandbox.configure(mode="drip", drip_interval=1.0)
        with pytest.raises(UpstreamTimeout):
            send(client, "plantid", "GET", f"{url}/{token}", headers={"Api-Key": "k"})
        with pytest.raises(UnusableAnswer):
            send(client, "plantid", "POST", url, json=body,
                 headers={"Api-Key": "k"})  # fmt: skip
    statuses = [call["status"] for call in sandbox.stats()["calls"]]
    assert statuses == [201, 200, 201]  # the GET and the last POST were answered 2xx


def test_an_answer_that_arrived_before_the_deadline_is_read_though_the_client_was_slow(
    sandbox, photo
):
    """Soak finding: on a loaded machine the service's 201 reached this machine before the
    total deadline, but the client thread had not yet parsed it (starved of CPU) when the
    deadline fired; the exchange called it a timeout with no status, and the retry bought the
    photo again. The bytes were already here: the exchange must read them before it judges.
    The client's starvation is made explicit: the trace hook holds the reading thread, after
    the sandbox has delivered the whole answer, until well past the deadline."""
    from plantid_cli.constants import SETTLE_SECONDS

    def delivered() -> bool:
        return any(call.get("delivered") for call in sandbox.stats()["calls"])

    def starved(event, info):
        if event == "http11.receive_response_headers.started":
            while not delivered():  # the answer is on its way to this machine
                time.sleep(0.01)
            time.sleep(1.5)  # past the 1 s deadline, within the settle bound

    assert SETTLE_SECONDS > 1.0  # the hold above ends inside the bound the exchange waits

    url = f"{sandbox.plantid_url}/identification"
    body = {"images": [base64.b64encode(Path(photo).read_bytes()).decode()]}
    with httpx.Client(timeout=1.0) as client:
        answer = send(client, "plantid", "POST", url, json=body,
                      headers={"Api-Key": "k"}, extensions={"trace": starved})  # fmt: skip
    assert answer.status_code == 201
    assert answer.json()["result"]["is_plant"]["binary"] in (True, False)
    assert sandbox.stats()["plantid_identify"] == 1


def test_a_reused_connection_is_shut_at_the_deadline(sandbox, photo):
    """Soak finding: a keep-alive connection that a request reused (its socket opened by an
    earlier request) was left to drip on after the deadline; its headers completed 13 s later
    (a 201 the sandbox counts as paid) while the retry had already bought the photo again. At
    the deadline the exchange shuts the socket of the connection it is on, reused or not.

    The status line (`HTTP/1.1 201`) is in before the deadline here: that 201 is paid, so it
    is an UnusableAnswer, never retried (red team, session 15: it was a timeout, retried and
    bought again). Its bytes were read on the reused connection's socket: the watch on a
    reused stream takes effect (providers/exchange.py, `_watch`)."""
    from conftest import wait_for

    url = f"{sandbox.plantid_url}/identification"
    body = {"images": [base64.b64encode(Path(photo).read_bytes()).decode()]}
    events: list[str] = []
    with httpx.Client(timeout=1.0) as client:
        send(client, "plantid", "POST", url, json=body, headers={"Api-Key": "k"})
        sandbox.configure(mode="header_drip", drip_interval=0.03)  # ~7 s of headers
        with pytest.raises(UnusableAnswer) as caught:
            send(client, "plantid", "POST", url, json=body, headers={"Api-Key": "k"},
                 extensions={"trace": lambda event, info: events.append(event)})  # fmt: skip
        assert "HTTP 201, then no complete answer within 1s" in caught.value.message
        wait_for(lambda: sandbox.stats()["calls"][1]["t_end"] is not None)
        dripped = sandbox.stats()["calls"][1]
    assert not any("connect_tcp" in event for event in events)  # the connection was reused
    assert dripped["client_gone"] is True
    assert dripped["header_sent"] < dripped["header_bytes"]  # the 201 never reached anyone


def test_a_201_whose_headers_are_dripped_past_the_deadline_is_paid_once(sandbox, cli_env, tmp_path):
    """DEFECT (red team, session 15): the status line `HTTP/1.1 201 Created` came, then the
    headers a byte at a time past the deadline. It was taken for a timeout with no status:
    retried twice (each retry charged) and not stored, so the next run bought it three times
    more (6 credits for one photo, summaries saying 0). Correct: the status line says the
    service charged: one call, an unusable answer stored, the rerun buys nothing."""
    photo = green_photo(tmp_path / "leaf.jpg", (200, 150), seed=61)
    sandbox.configure(mode="header_drip", drip_interval=0.01)  # the status line in 0.2 s
    code, record, stderr = identify_one(photo, cli_env, "--timeout", "1")
    assert code == 4, stderr
    assert (record["error"]["code"], record["error"]["reason"]) == ("bad_response", "bad-response")
    assert "HTTP 201, then no complete answer within 1s" in record["error"]["message"]
    assert "1 credit used" in stderr
    again, record, _ = identify_one(photo, cli_env, "--timeout", "1")
    assert again == 4 and record["cached"] is True
    assert sandbox.stats()["plantid_identify"] == 1


def test_a_keep_alive_connection_gathers_no_readers(sandbox, photo):
    """The watch on a connection's stream is taken off when its request is done with it: 30
    requests on one keep-alive connection leave no reader of ours behind on its stream."""
    from plantid_cli.providers.exchange import exchange

    url = f"{sandbox.plantid_url}/identification"
    body = {"images": [base64.b64encode(Path(photo).read_bytes()).decode()]}
    streams = []

    def opened(event, info):
        if event.endswith("connect_tcp.complete"):
            streams.append(info["return_value"])

    with httpx.Client(timeout=10.0) as client:
        for _ in range(30):
            kwargs = {"json": body, "headers": {"Api-Key": "k"}, "extensions": {"trace": opened}}
            assert (
                exchange(client, "POST", url, kwargs, 1 << 24, charged_by="plantid").status_code
                == 201
            )
    assert len(streams) == 1  # one connection for all 30
    assert "read" not in vars(streams[0])


@pytest.mark.parametrize(
    "head, status",
    [
        (b"HTTP/1.1 201 Created\r\nContent-Type", 201),
        (b"HTTP/1.1 201", 201),
        (b"HTTP/1.1 20", 200),  # DEFECT (red team, session 15): read as 5000, not paid
        (b"HTTP/1.1 2", 200),  # the same: the byte value of "2" (50) times 100
        (b"HTTP/1.0 503 Service", 503),
        (b"HTTP/1.1 5", 500),
        (b"HTTP/1.1 ", None),
        (b"HTTP/", None),
        (b"", None),
        (b"SSH-2.0-OpenSSH", None),
    ],
)
def test_the_status_line_read_from_the_first_bytes(head, status):
    """A 201 cut after one or two digits of its status is paid too: the first digit says 2xx."""
    from plantid_cli.providers.exchange import _status_in

    assert _status_in(head) == status
