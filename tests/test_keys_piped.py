"""`plantid keys set` with a key piped in: one line, or nothing stored.

DEFECT (red team, session 14): stdin was read with one readline(), so `printf 'k1\\nk2\\n' |
plantid keys set plantid` stored k1 and dropped the rest without a word (two keys pasted, a
file piped by mistake: the key kept was perhaps not the one meant). Correct: more than one
non-blank line, or more than 64 kB, is a usage error (exit 2) and the keys file is untouched;
a key with its line end (LF or CRLF) and blank lines around it is stored as before.
"""

from __future__ import annotations

import json

import pytest
from conftest import run_plantid


@pytest.mark.parametrize(
    "piped, why",
    [
        ("new-key-0123456789\nsecond-line\n", "stdin held 2 lines"),
        ("new-key-0123456789\n# my work key\nthird\n", "stdin held 3 lines"),
        ("y\n" * 40_000, "more than 64 kB on stdin"),
    ],
)
def test_more_than_one_line_piped_in_stores_nothing(piped, why, cli_env, tmp_path):
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"plantid": "old-key-0123456789"}))
    done = run_plantid(["keys", "set", "plantid"], {**cli_env, "PLANTID_KEYS_FILE": str(keys)},
                       input=piped)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert why in done.stderr
    assert "new-key" not in done.stderr + done.stdout
    assert json.loads(keys.read_text()) == {"plantid": "old-key-0123456789"}


@pytest.mark.parametrize("piped", ["new-key-0123456789\n", "\r\nnew-key-0123456789\r\n\n"])
def test_one_key_on_its_line_is_stored(piped, cli_env, tmp_path):
    keys = tmp_path / "keys.json"
    done = run_plantid(["keys", "set", "plantid"], {**cli_env, "PLANTID_KEYS_FILE": str(keys)},
                       input=piped)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(keys.read_text()) == {"plantid": "new-key-0123456789"}
