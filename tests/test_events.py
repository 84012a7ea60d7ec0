"""Event names cannot drift: every member is sent and heard, and nothing else is sent.

Why a source scan: an event nobody sends (a log format that never shows) or one nobody hears
(a name typed differently in the listener) fails silently at run time, so it must fail here.
The scan reads the package's code as written: every `.emit(...)` and every `Event.X` a listener
names, with no list of expected names kept in this test.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import plantid_cli
from plantid_cli.events import TEXT_FORMATS, Event, EventBus

PACKAGE = Path(plantid_cli.__file__).parent
#: The modules that subscribe to the bus (besides events.log_listener, which reads TEXT_FORMATS).
LISTENERS = ("cli/progress.py", "telemetry/metrics.py", "telemetry/registry.py")


def _trees() -> dict[str, ast.AST]:
    return {
        str(path.relative_to(PACKAGE)): ast.parse(path.read_text(encoding="utf-8"))
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def _members_named(node: ast.AST) -> set[str]:
    """The Event members written as `Event.X` anywhere inside `node`."""
    return {
        sub.attr
        for sub in ast.walk(node)
        if isinstance(sub, ast.Attribute)
        and isinstance(sub.value, ast.Name)
        and sub.value.id == "Event"
    }


def _emit_calls() -> list[tuple[str, ast.Call]]:
    return [
        (name, node)
        for name, tree in _trees().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "emit"
        and name != "outputs/writers.py"  # the writers' own emit(record), not the bus
    ]


def test_every_emit_names_an_event_member():
    calls = _emit_calls()
    assert len(calls) >= len(Event)  # the scan found the bus's calls
    for module, call in calls:
        where = f"{module}:{call.lineno}"
        assert call.args, where
        named = _members_named(call.args[0])
        assert named, f"{where} emits {ast.unparse(call.args[0])}, not an Event member"
        assert named <= set(Event.__members__), f"{where}: {named - set(Event.__members__)}"
        strings = [
            sub
            for sub in ast.walk(call.args[0])
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str)
        ]
        assert strings == [], f"{where} emits a free string: {ast.unparse(call.args[0])}"


def test_every_member_is_emitted():
    emitted = set().union(*(_members_named(call.args[0]) for _, call in _emit_calls()))
    assert set(Event.__members__) - emitted == set(), "members never sent"


def test_every_member_has_a_log_format_or_a_listener():
    trees = _trees()
    listened = set().union(*(_members_named(trees[name]) for name in LISTENERS))
    formatted = {member.name for member in TEXT_FORMATS}
    assert set(Event.__members__) - listened - formatted == set(), "members nobody hears"


def test_log_formats_only_for_members():
    assert all(isinstance(key, Event) for key in TEXT_FORMATS)


@pytest.mark.parametrize("event", list(TEXT_FORMATS))
def test_each_log_format_fills_from_what_is_sent(event, caplog):
    """A format naming a field the emitter does not send falls back to a plain line: catch
    that here by sending each event with the fields its emit calls pass."""
    fields = {
        keyword.arg
        for _, call in _emit_calls()
        if event.name in _members_named(call.args[0])
        for keyword in call.keywords
        if keyword.arg
    }
    sample = {name: 1.0 for name in fields}
    with caplog.at_level("DEBUG", logger="plantid"):
        EventBus().emit(event, **sample)
    assert caplog.records, event
    message = caplog.records[-1].getMessage()
    assert message != event.value + " " + " ".join(f"{k}={v}" for k, v in sample.items())
    assert caplog.records[-1].event == event
