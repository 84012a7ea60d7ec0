"""`--provider both` in every output people read (issue 16): `agreement` in the CSV and the
report, not only in JSON; and one credits count: the CLI summary, `identify --report` and
`plantid report` from the records say the same number (they said 23 and 15)."""

from __future__ import annotations

import csv
import io
import json
import re

from conftest import run_plantid
from photos import green_photo, magenta_photo


def _folder(tmp_path):
    folder = tmp_path / "photos"
    for i in range(4):
        green_photo(folder / f"g{i}.jpg", (160, 120), seed=i)
    magenta_photo(folder / "m0.jpg")
    magenta_photo(folder / "m1.jpg")  # the same bytes: bought once per service
    return folder


def _credits(summary: str) -> int:
    return int(re.search(r"(\d+) credits? used", summary).group(1))


def _header_credits(html: str) -> int:
    return int(re.search(r"<b>([\d,]+)</b> credits used", html).group(1).replace(",", ""))


def test_one_credits_count_for_the_summary_and_both_reports(tmp_path, sandbox, cli_env):
    folder = _folder(tmp_path)
    report = tmp_path / "run.html"
    run = run_plantid(
        ["identify", folder, "--provider", "both", "-f", "ndjson", "--report", report], cli_env
    )
    assert run.returncode == 0, run.stderr
    spent = _credits(run.stderr)
    calls = sandbox.stats()["plantid_identify"] + sandbox.stats()["plantnet_identify"]
    assert spent == calls  # each service's answer is a credit
    results = tmp_path / "run.ndjson"
    results.write_text(run.stdout)
    later = tmp_path / "later.html"
    rebuilt = run_plantid(["report", results, "-o", later], cli_env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert _header_credits(report.read_text()) == spent
    assert _header_credits(later.read_text()) == spent  # was: one per record


def test_agreement_is_in_the_csv_and_the_report(tmp_path, sandbox, cli_env):
    folder = _folder(tmp_path)
    first = run_plantid(["identify", folder, "--provider", "both", "-f", "ndjson"], cli_env)
    tokens = {
        json.loads(line)["path"]: json.loads(line).get("agreement")
        for line in first.stdout.splitlines()
    }
    assert {"species", "genus", "differ"} & set(tokens.values())
    report = tmp_path / "r.html"
    again = run_plantid(
        ["identify", folder, "--provider", "both", "-f", "csv", "--report", report], cli_env
    )
    rows = list(csv.DictReader(io.StringIO(again.stdout)))
    assert {row["associatedMedia"]: row["agreement"] for row in rows} == {
        path: token or "" for path, token in tokens.items()
    }
    assert all(row["cached"] == "true" for row in rows)
    html = report.read_text()
    for token in {t for t in tokens.values() if t}:
        shown = html.count(f"agreement: {token}</span>")
        assert shown == sum(1 for t in tokens.values() if t == token)


def test_one_service_csv_has_an_empty_agreement(tmp_path, sandbox, cli_env):
    folder = _folder(tmp_path)
    result = run_plantid(["identify", folder, "-f", "csv"], cli_env)
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows and all(row["agreement"] == "" for row in rows)


def test_plantids_access_token_is_kept_whichever_best_is_shown(tmp_path, sandbox, cli_env):
    """DEFECT (README walk-through, session 19): with `--provider both`, a record showing
    Pl@ntNet's best carried no trace of Plant.id's access_token, so that identification could
    not be re-read (`plantid refetch`). Correct: Plant.id's token is the record's own when its
    best is shown, and in `providers.plantid` always."""
    from conftest import REPO

    done = run_plantid(["identify", REPO / "examples", "--provider", "both", "-f", "ndjson"],
                       cli_env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    tokens = set(sandbox._identifications)
    shown_by = {r["provider"] for r in records if r["providers"]["plantid"]["status"] == "ok"}
    assert shown_by == {"plantid", "plantnet"}  # both cases are here (the sandbox's answers)
    for record in records:
        if record["providers"]["plantid"]["status"] != "ok":
            continue
        assert record["providers"]["plantid"]["access_token"] in tokens
        if record["provider"] == "plantid":
            assert record["access_token"] == record["providers"]["plantid"]["access_token"]
