"""Run the real `plantid` CLI with an audit hook that counts what it opens and lists.

    python tests/audited_plantid.py COUNTS.json FOLDER -- identify FOLDER ...

Why: "a rerun over unchanged files opens none of them" is a fact about system calls, which no
record shows. Python raises the audit events ``open`` (``open()``, ``os.open``) and
``os.scandir`` for every file opened and folder listed; this counts those under FOLDER by path
and writes ``{"opens": {path: n}, "scans": {path: n}}`` to COUNTS.json when the process ends.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
from collections import Counter

counts_file, folder, separator, *args = sys.argv[1:]
assert separator == "--"
root = os.path.join(os.path.realpath(folder), "")
opens: Counter[str] = Counter()
scans: Counter[str] = Counter()


def hook(event: str, arguments: tuple) -> None:
    if event not in ("open", "os.scandir") or not arguments:
        return
    path = arguments[0]
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, str) or not os.path.join(os.path.realpath(path), "").startswith(root):
        return
    (opens if event == "open" else scans)[os.path.realpath(path)] += 1


def report() -> None:
    with open(counts_file, "w") as out:
        json.dump({"opens": dict(opens), "scans": dict(scans)}, out)


atexit.register(report)
sys.addaudithook(hook)
sys.argv = ["plantid", *args]
from plantid_cli.cli import main  # noqa: E402

main()
