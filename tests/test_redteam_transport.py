"""Red team: answers that hurt at the transport layer, beyond the ones issue 12 named.

DEFECT (memory, then paid twice): the response cap counts decoded bytes chunk by chunk, which
bounds one gzip layer (a 64 kB read decodes to ~64 MB). But httpx undoes *stacked* codings
(`Content-Encoding: gzip, gzip`) in one call per chunk, and their ratios multiply: a 201 of
3.4 kB decoded to 2 GiB before the cap saw a byte (RSS 1.1 GB and `MemoryError` under a
1.5 GB address-space limit; that record was `error`, "0 credits used", so the paid answer was
not stored and a rerun or a retry bought it again). Correct: memory stays bounded whatever the
codings; the paid 201 is a stored `bad_response` (one call, a rerun makes none). Sandbox mode
`gzip_bomb_stacked` (the `gzip_bomb` of `bomb_mb` MiB, gzipped again).

DEFECT (memory times concurrency): one gzip layer is bounded per request at the cap plus one
*network read decoded whole* (httpx undoes each 64 kB read at once: 64 MB of zeros), and the
paid-cut path copied the whole capped body to keep 256 kB of it. With `-j 8` and eight bomb
answers in flight at once the CLI peaked at 668 MB with the cap at 32 MB. Correct: each
request holds at most the cap plus a small decode step (providers/exchange.py `_decoded`).
"""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO, run_plantid, wait_for
from photos import green_photo
from runs import MEASURED, identify_bomb, peak_of

from plantid_cli.constants import MAX_RESPONSE_BYTES


def test_a_stacked_gzip_bomb_is_a_bad_response_and_memory_stays_bounded(tmp_path, sandbox, cli_env):
    sandbox.configure(mode="gzip_bomb_stacked", bomb_mb=512)  # ~2 kB sent, 512 MiB decoded
    photo = green_photo(tmp_path / "leaf.jpg")
    record, peak_kb = identify_bomb(photo, cli_env)
    assert (record["error"]["code"], record["error"]["reason"]) == ("bad_response", "bad-response")
    assert peak_kb < 400 * 1024, f"the CLI peaked at {peak_kb // 1024} MB"
    assert sandbox.stats()["plantid_identify"] == 1
    # the paid answer was stored: a rerun serves the same record without a call
    again = run_plantid(["identify", photo], cli_env)
    [second] = [json.loads(line) for line in again.stdout.splitlines()]
    assert second["error"]["code"] == "bad_response" and second["cached"] is True
    assert sandbox.stats()["plantid_identify"] == 1


def test_eight_gzip_bombs_in_flight_hold_the_cap_each_not_a_decoded_read_more(
    tmp_path, sandbox, cli_env
):
    sandbox.configure(mode="gzip_bomb", bomb_mb=512, hold_after=0)  # all held, then all at once
    folder = tmp_path / "p"
    folder.mkdir()
    for i in range(8):
        green_photo(folder / f"p{i}.jpg", (160, 120), seed=i)
    proc = subprocess.Popen(
        [sys.executable, "-c", MEASURED, "identify", str(folder), "-j", "8"],
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    wait_for(lambda: sum(1 for c in sandbox.stats()["calls"] if c.get("held")) == 8)
    sandbox.configure(hold_after=None)
    stdout, stderr = proc.communicate(timeout=300)
    assert "internal error" not in stderr
    records = [json.loads(line) for line in stdout.splitlines()]
    assert [r["error"]["code"] for r in records] == ["bad_response"] * 8, stderr
    assert sandbox.stats()["plantid_identify"] == 8
    peak_kb = peak_of(stderr)
    # each of the 8 may hold the cap plus a 16 MB decode step, over a 100 MB interpreter
    bound_kb = (8 * (MAX_RESPONSE_BYTES + (16 << 20)) + (100 << 20)) // 1024
    assert peak_kb < bound_kb, f"the CLI peaked at {peak_kb // 1024} MB"
