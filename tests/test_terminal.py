"""What a person at an 80-column terminal sees (issue 16, "On a terminal" and "First contact"):
the question before the bar, a bar that counts what the summary counts, a clean last frame,
an unbroken table. Run under a real pty and rendered by a terminal emulator (tests/terminal.py);
the assertions are on the screen and on the sandbox's call log, never on timing."""

from __future__ import annotations

import re

import pytest
from photos import green_photo, magenta_photo
from terminal import Terminal

BAR = "identify ━"  # the bar's label and its first cell


def _photos(folder, green=3, magenta=0):
    for i in range(green):
        green_photo(folder / f"green-{i}.jpg", (160, 120), seed=i)
    for i in range(magenta):
        magenta_photo(folder / f"magenta-{i}.jpg")
    return folder


def test_the_question_comes_before_the_bar_on_its_own_line(tmp_path, sandbox, cli_env):
    """The prompt was drawn into the bar's line and cut at the edge; `[y/N]` was never seen
    and the run looked stuck at 0/N."""
    folder = _photos(tmp_path / "photos", green=3)
    term = Terminal(["identify", folder], {**cli_env, "PLANTID_CONFIRM_ABOVE": "2"})
    term.expect(r"\[y/N\]")
    asked = term.text()
    assert "3 images: this run may spend up to 3 credits. Go on? [y/N]" in asked, asked
    assert BAR not in asked  # no bar yet: nothing has started
    assert sandbox.stats()["plantid_identify"] == 0
    term.send_line("y")
    assert term.finish() == 0
    lines = term.lines()
    prompt = next(i for i, line in enumerate(lines) if "[y/N]" in line)
    bar = next(i for i, line in enumerate(lines) if BAR in line)
    assert prompt < bar, term.text()
    assert "3/3" in lines[bar]
    assert sandbox.stats()["plantid_identify"] == 3


def test_a_no_answer_sends_nothing_and_draws_no_bar(tmp_path, sandbox, cli_env):
    folder = _photos(tmp_path / "photos", green=3)
    term = Terminal(["identify", folder], {**cli_env, "PLANTID_CONFIRM_ABOVE": "2"})
    term.expect(r"\[y/N\]")
    term.send_line("n")
    assert term.finish() == 2
    assert "cancelled: nothing was sent" in term.text() and BAR not in term.text()
    assert sandbox.stats()["plantid_identify"] == 0


def test_the_run_is_timed_from_the_answer(tmp_path, sandbox, monkeypatch):
    """The summary's elapsed time included the time the question waited for a person."""
    import io
    import time

    from plantid_cli.config import load_settings
    from plantid_cli.outputs.writers import NdjsonWriter
    from plantid_cli.run.batch import run_batch
    from plantid_cli.run.options import IdentifyOptions

    for name, value in {
        "PLANTID_API_URL": sandbox.plantid_url,
        "PLANTID_API_KEY": "k",
        "PLANTID_RATE_LIMIT": "off",
        "PLANTID_CONFIRM_ABOVE": "1",
    }.items():
        monkeypatch.setenv(name, value)
    folder = _photos(tmp_path / "photos", green=2)
    answered: list[float] = []

    def confirm(images: int, cost: int) -> bool:
        answered.append(time.monotonic())  # the person answers now
        return True

    result = run_batch(
        load_settings(),
        IdentifyOptions(paths=(str(folder),)),
        NdjsonWriter(io.StringIO()),
        confirm=confirm,
    )
    assert result.stats.done == 2 and len(answered) == 1
    assert result.stats.started >= answered[0]  # the clock starts at the answer


def test_the_bar_counts_what_the_summary_counts(tmp_path, sandbox, cli_env):
    """The bar said "ok 300 · failed 0" while the summary said "116 ok, 184 not_plant"."""
    folder = _photos(tmp_path / "photos", green=2, magenta=1)
    term = Terminal(["identify", folder, "-f", "table"], cli_env)
    assert term.finish() == 0
    bar = term.line_with(BAR)
    summary = term.line_with("plantid: 3 images")
    assert "2 ok · 1 not_plant" in bar, bar
    assert "2 ok, 1 not_plant" in summary, summary
    assert "failed" not in bar


def test_last_frame_has_no_stale_note_and_the_caption_has_its_own_line(tmp_path, sandbox, cli_env):
    """The caption ("in photos") was glued to the bar's last line and the final frame kept
    "waiting 0.3s on the rate limit" after every wait was over."""
    folder = _photos(tmp_path / "photos", green=4)
    env = {**cli_env, "PLANTID_RATE_LIMIT": "2/second"}  # the 3rd and 4th calls wait
    term = Terminal(["identify", folder, "-f", "table", "-j", "4"], env)
    assert term.finish() == 0
    assert "rate limit" in term.raw.decode(errors="replace")  # a wait was shown meanwhile
    bar = term.line_with(BAR)
    assert "4/4" in bar and "rate limit" not in bar and "waiting" not in bar, bar
    lines = term.lines()
    caption = lines.index(f"in {folder}")  # a line of its own
    assert BAR in lines[caption - 1] and lines[caption + 1].startswith("┏")
    bottom = next(i for i, line in enumerate(lines) if line.startswith("└"))
    assert not any(BAR in line for line in lines[bottom:])  # no frame redrawn under the table


def test_the_summary_says_when_the_rate_limit_set_the_pace(tmp_path, sandbox, cli_env):
    from conftest import run_plantid

    folder = _photos(tmp_path / "photos", green=6)
    env = {**cli_env, "PLANTID_RATE_LIMIT": "2/second"}
    limited = run_plantid(["identify", folder, "-j", "4"], env)
    assert limited.returncode == 0, limited.stderr
    assert "limited by rate_limit 2/second" in limited.stderr, limited.stderr
    # the same photos, no limit: nothing held the run back but the service
    free = run_plantid(["identify", folder, "-j", "4", "--refresh"], cli_env)
    assert free.returncode == 0 and "limited by" not in free.stderr, free.stderr
    assert sandbox.stats()["plantid_identify"] == 12


def test_the_json_summary_names_the_limit(tmp_path, sandbox, cli_env):
    import json

    from conftest import run_plantid

    folder = _photos(tmp_path / "photos", green=6)
    env = {**cli_env, "PLANTID_RATE_LIMIT": "2/second"}
    result = run_plantid(["identify", folder, "-j", "4", "--log-format", "json"], env)
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    summary = next(e for e in events if e.get("event") == "run.summary")
    assert summary["limited_by"] == "rate_limit 2/second"


@pytest.mark.parametrize("cols", [80, 100])
def test_demo_at_80_columns_keeps_names_whole_and_says_what_its_answers_are(cols, isolated_env):
    """At 80 columns names broke mid-word ("Aloe arboresc/ens", "Asphodel/aceae"); the demo
    said "5 credits used" while the README said it spends nothing, and nothing said that the
    answers (the aloe comes out as an oak) are made up."""
    import os

    env = {k: v for k, v in os.environ.items()}
    term = Terminal(["demo", "examples/"], env, cols=cols)
    assert term.finish() == 0
    text = term.text()
    assert all(len(line) <= cols for line in term.lines())
    table = [line for line in term.lines() if line.startswith("│")]
    assert any("Aloe arborescens" in line for line in table), text  # on one line
    assert "Asphodel" not in text or any("Asphodelaceae" in line for line in table), text
    assert re.search(r"5 sandbox credits used", text), text
    assert "sandbox answers from the image bytes, not real identifications" in text
    header = next(line for line in term.lines() if line.startswith("┃"))
    assert all(cell.strip() for cell in header.strip("┃").split("┃")), header


def test_both_shows_agreement_and_keeps_cached_in_the_table(tmp_path, sandbox, cli_env):
    """`--provider both`: agreement appeared only in JSON."""
    import json

    from conftest import run_plantid

    folder = _photos(tmp_path / "photos", green=3)
    first = run_plantid(["identify", folder, "--provider", "both", "-f", "ndjson"], cli_env)
    tokens = {
        json.loads(line)["path"].rsplit("/", 1)[-1]: json.loads(line)["agreement"]
        for line in first.stdout.splitlines()
    }
    term = Terminal(["identify", folder, "--provider", "both", "-f", "table"], cli_env)
    assert term.finish() == 0
    header = term.line_with("┃ #")
    assert "agreement" in header and "note" in header, term.text()
    for name, token in tokens.items():
        row = term.line_with(name)
        assert token in row and "cached" in row, row
    assert sandbox.stats()["plantid_identify"] == 3  # the table run was all cache


def test_table_columns_all_have_headers(cli_env, tmp_path, sandbox):
    folder = _photos(tmp_path / "photos", green=2)
    from conftest import run_plantid

    run_plantid(["identify", folder], cli_env)
    term = Terminal(["identify", folder, "-f", "table"], cli_env)  # cached: a note column
    assert term.finish() == 0
    header = term.line_with("┃ #")
    cells = [cell.strip() for cell in header.strip().strip("┃").split("┃")]
    assert cells[-1] == "note" and all(cells), header


def test_records_streamed_to_the_terminal_are_not_torn_by_a_bar(tmp_path, sandbox, cli_env):
    """`-f csv` (or ndjson) on the terminal: the bar was redrawn between the rows, cutting
    them; the rows show the progress themselves, so no bar is drawn."""
    import csv
    import io

    folder = _photos(tmp_path / "photos", green=3, magenta=1)
    env = {**cli_env, "PLANTID_RATE_LIMIT": "2/second"}  # slow enough for the bar to draw
    term = Terminal(["identify", folder, "-f", "csv", "-j", "4"], env)
    assert term.finish() == 0
    out = term.raw.decode().replace("\r\n", "\n")
    assert BAR not in out
    body = out[out.index("scientificName") : out.index("plantid: 4 images")]
    rows = list(csv.DictReader(io.StringIO(body)))
    assert sorted(row["associatedMedia"].rsplit("/", 1)[-1] for row in rows) == [
        "green-0.jpg", "green-1.jpg", "green-2.jpg", "magenta-0.jpg",
    ]  # fmt: skip


def test_the_last_frame_drops_a_note_whose_wait_is_not_over_on_the_clock():
    """The final frame kept "waiting 0.3s on the rate limit": a note stays up at least a
    second, so the last record often came while it was still up. Stopping clears it."""
    from plantid_cli.cli.progress import ProgressDisplay
    from plantid_cli.events import Event, EventBus
    from plantid_cli.records import base_record

    bus = EventBus()
    display = ProgressDisplay(bus)
    display.start()
    bus.emit(Event.RATE_WAIT, provider="plantid", seconds=30.0)  # up for 30 s
    done = base_record(0, "a.jpg", "0" * 64, "plantid")
    done["status"] = "ok"
    display.record(done)
    task = display.progress.tasks[0]
    assert task.fields["note"]  # still waiting, as far as the note knows
    display.stop()
    assert task.fields["note"] == "" and task.fields["counts"] == "1 ok"
    display.stop()  # the way out stops it again: harmless
