"""Red team: answers that hurt at the transport layer, beyond the ones issue 12 named.

DEFECT (memory, then paid twice): the response cap counts decoded bytes chunk by chunk, which
bounds one gzip layer (a 64 kB read decodes to ~64 MB). But httpx undoes *stacked* codings
(`Content-Encoding: gzip, gzip`) in one call per chunk, and their ratios multiply: a 201 of
3.4 kB decoded to 2 GiB before the cap saw a byte (RSS 1.1 GB and `MemoryError` under a
1.5 GB address-space limit; that record was `error`, "0 credits used", so the paid answer was
not stored and a rerun or a retry bought it again). Correct: memory stays bounded whatever the
codings; the paid 201 is a stored `bad_response` (one call, a rerun makes none). Sandbox mode
`gzip_bomb_stacked` (the `gzip_bomb` of `bomb_mb` MiB, gzipped again).
"""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO, run_plantid
from photos import green_photo
from test_hostile_http import MEASURED


def test_a_stacked_gzip_bomb_is_a_bad_response_and_memory_stays_bounded(tmp_path, sandbox, cli_env):
    sandbox.configure(mode="gzip_bomb_stacked", bomb_mb=512)  # ~2 kB sent, 512 MiB decoded
    photo = green_photo(tmp_path / "leaf.jpg")
    result = subprocess.run(
        [sys.executable, "-c", MEASURED, "identify", str(photo)],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert result.returncode == 4, result.stderr
    [record] = [json.loads(line) for line in result.stdout.splitlines()]
    assert (record["error"]["code"], record["error"]["reason"]) == ("bad_response", "bad-response")
    peak_kb = int(result.stderr.rsplit("MAXRSS_KB=", 1)[1].split()[0])
    assert peak_kb < 400 * 1024, f"the CLI peaked at {peak_kb // 1024} MB"
    assert sandbox.stats()["plantid_identify"] == 1
    # the paid answer was stored: a rerun serves the same record without a call
    again = run_plantid(["identify", photo], cli_env)
    [second] = [json.loads(line) for line in again.stdout.splitlines()]
    assert second["error"]["code"] == "bad_response" and second["cached"] is True
    assert sandbox.stats()["plantid_identify"] == 1
