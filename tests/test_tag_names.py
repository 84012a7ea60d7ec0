"""`plantid tag` warnings name photos whose names hold control characters: escaped.

DEFECT (red team, session 14): the warnings of `tag` (and of `identify --write-xmp`) printed
the photo's path raw: a name holding ESC drove the terminal, one holding a newline forged a
line of output (`plantid: ...` of its choosing). Correct: the path shows as every record's
path does (display_path: `\\x1b`, `\\x0a`), on the one line of its warning.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from conftest import REPO, run_plantid
from photos import green_photo

NAME = "leaf\x1b[31mRED\nplantid: forged line.jpg"
SHOWN = "leaf\\x1b[31mRED\\x0aplantid: forged line."  # .jpg, or its .xmp


def _identified(cli_env, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(green_photo(tmp_path / "src.jpg", (200, 150), seed=91), folder / NAME)
    results = tmp_path / "results.ndjson"
    with open(results, "w") as out:
        done = subprocess.run([sys.executable, "-m", "plantid_cli", "identify", str(folder),
                               "-q", "-f", "ndjson"], env=cli_env, cwd=REPO, stdout=out,
                              stderr=subprocess.PIPE, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return folder / NAME, results


def _assert_escaped(stderr):
    assert "\x1b" not in stderr
    assert not any(line.startswith("plantid: forged") for line in stderr.splitlines())
    assert SHOWN in stderr, stderr


def test_a_changed_photo_with_control_characters_in_its_name(cli_env, sandbox, tmp_path):
    photo, results = _identified(cli_env, tmp_path)
    with open(photo, "ab") as edited:
        edited.write(b"edited since")
    done = run_plantid(["tag", results], cli_env)
    assert "content changed or not the same file" in done.stderr
    _assert_escaped(done.stderr)


def test_a_refused_sidecar_of_such_a_photo(cli_env, sandbox, tmp_path):
    photo, results = _identified(cli_env, tmp_path)
    os.mkfifo(photo.with_suffix(".xmp"))  # refused unread: "a pipe, left as it is"
    done = run_plantid(["tag", results], cli_env)
    assert done.returncode != 0
    assert "left as it is" in done.stderr
    _assert_escaped(done.stderr)
