"""guards/wire.py: `--concurrency` slots, handed to waiters first come, first served.

The run-level behaviour (the next photo ready while the slot is out, a retry's wait giving
the slot back, at most -j answers unstored) is tested against the sandbox in test_inflight.py;
these pin the rules a deadline is derived from (no waiter overtaken, a stopped waiter gone
from the queue without taking a slot, a refused waiter's slot passed on)."""

from __future__ import annotations

import threading

import pytest
from conftest import wait_for

from plantid_cli.errors import Interrupted, ServiceUnavailable
from plantid_cli.guards.wire import Wire


def _waiter(wire: Wire, stop: threading.Event, name: str, order: list[str], **kw):
    def run() -> None:
        try:
            with wire.turn(**kw) as turn:
                if turn.take(stop):  # waited: what was learned meanwhile (the callers' rule)
                    turn.recheck()
                order.append(name)
        except (Interrupted, ServiceUnavailable) as exc:
            order.append(f"{name}: {type(exc).__name__}")

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_slots_go_to_the_waiters_in_the_order_they_came():
    wire, stop, order = Wire(1), threading.Event(), []
    first = wire.turn()
    first.take(stop)
    threads = []
    for index, name in enumerate("abc"):
        threads.append(_waiter(wire, stop, name, order))
        wait_for(lambda n=index + 1: wire.waiting == n)
    first.give_back()
    for thread in threads:
        thread.join(30)
    assert order == ["a", "b", "c"]
    assert wire.waiting == 0


def test_a_stopped_waiter_leaves_the_queue_and_its_place_goes_to_the_next():
    wire, order = Wire(1), []
    first = wire.turn()
    first.take(threading.Event())
    stopped, going = threading.Event(), threading.Event()
    a = _waiter(wire, stopped, "a", order)
    wait_for(lambda: wire.waiting == 1)
    b = _waiter(wire, going, "b", order)
    wait_for(lambda: wire.waiting == 2)
    stopped.set()
    a.join(30)
    assert order == ["a: Interrupted"]
    first.give_back()
    b.join(30)
    assert order == ["a: Interrupted", "b"]
    # the one slot is free again: nothing was lost to the stopped waiter
    again = wire.turn()
    again.take(threading.Event())
    assert wire.waiting == 0
    again.give_back()


def test_a_waiter_refused_by_what_was_learned_passes_the_slot_on():
    wire, stop, order = Wire(1), threading.Event(), []

    def breaker_opened() -> None:
        raise ServiceUnavailable("circuit open")

    first = wire.turn()
    first.take(stop)
    a = _waiter(wire, stop, "a", order, recheck=breaker_opened)
    wait_for(lambda: wire.waiting == 1)
    b = _waiter(wire, stop, "b", order)
    wait_for(lambda: wire.waiting == 2)
    first.give_back()
    a.join(30)
    b.join(30)
    assert order == ["a: ServiceUnavailable", "b"]


def test_a_turn_that_did_not_wait_says_so_and_gives_back_once():
    calls = []
    wire = Wire(2, on_full=lambda: calls.append("full"))
    turn = wire.turn(recheck=lambda: calls.append("recheck"))
    assert turn.take(threading.Event()) is False  # a free slot: no wait
    assert turn.take(threading.Event()) is False  # holding one already: no second slot
    other = wire.turn()
    assert other.take(threading.Event()) is False  # the second slot: no wait
    assert calls == []
    turn.give_back()
    turn.give_back()  # once only: a third turn must still wait for the one free slot
    third, fourth = wire.turn(), wire.turn()
    third.take(threading.Event())
    stop = threading.Event()
    stop.set()
    with pytest.raises(Interrupted):
        fourth.take(stop)
    assert calls == ["full"]
