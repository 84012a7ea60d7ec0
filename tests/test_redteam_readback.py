"""What a red-team pass over the readers of plantid's own output found (session 7): records
dropped with exit 0, a file the tool wrote that it could not read back, decisions lost to an
unclosed quote, and a quadratic regex that held a run past SIGTERM. Each test fails before
its fix."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO, run_plantid
from photos import green_photo

HEADER = "sha256,decision,scientific_name,identified_by,remarks\n"


def _identified(tmp_path, cli_env, name: str, count: int) -> str:
    folder = tmp_path / name
    for n in range(count):
        green_photo(folder / f"p{n}.jpg", seed=hash(name) % 1000 + n)
    result = run_plantid(["identify", folder, "-f", "ndjson", "-q"], cli_env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_export_csv_of_several_runs_keeps_every_record(tmp_path, sandbox, cli_env):
    """Three runs of two photos, concatenated (indexes 0, 1 three times): `export csv` wrote
    4 of 6 rows, exit 0 (one record per index was kept, the others overwritten)."""
    both = "".join(_identified(tmp_path, cli_env, name, 2) for name in ("a", "b", "c"))
    results = tmp_path / "all.ndjson"
    results.write_text(both)
    exported = run_plantid(["export", "csv", results], cli_env)
    assert exported.returncode == 0, exported.stderr
    rows = [line for line in exported.stdout.splitlines()[1:] if line.strip()]
    assert len(rows) == 6
    for name in ("a", "b", "c"):
        assert sum(f"/{name}/p" in row for row in rows) == 2, rows


def test_a_photo_named_with_a_unicode_line_separator_reads_back(tmp_path, sandbox, cli_env):
    """JSON keeps U+2028 raw in a string; the reader split lines with str.splitlines(), so
    `report` of the tool's own results stopped: "line 1: not a JSON record"."""
    folder = tmp_path / "odd"
    green_photo(folder / "leaf\u2028two.jpg", seed=4)
    ran = run_plantid(["identify", folder, "-f", "ndjson", "-q"], cli_env)
    assert ran.returncode == 0, ran.stderr
    results = tmp_path / "r.ndjson"
    results.write_text(ran.stdout, encoding="utf-8")
    exported = run_plantid(["export", "csv", results], cli_env)
    assert exported.returncode == 0, exported.stderr
    assert "leaf\u2028two.jpg" in exported.stdout


def test_a_one_line_json_array_with_a_bad_item_inside_is_an_error(tmp_path, sandbox, cli_env):
    """`jq -c` writes an array on one line; a damaged item in its middle was taken for a run
    cut short: a warning and exit 0 with the items before it only."""
    records = [json.loads(line) for line in _identified(tmp_path, cli_env, "j", 3).splitlines()]
    line = json.dumps(records[:1])[:-1] + ', {"bad": }, ' + json.dumps(records[1:])[1:]
    results = tmp_path / "one-line.json"
    results.write_text(line + "\n")
    exported = run_plantid(["export", "csv", results], cli_env)
    assert exported.returncode == 2, (exported.returncode, exported.stderr)
    assert "not a JSON record" in exported.stderr
    assert exported.stdout == ""


def _results_and_shas(tmp_path, cli_env) -> tuple[str, list[str]]:
    text = _identified(tmp_path, cli_env, "r", 3)
    path = tmp_path / "results.ndjson"
    path.write_text(text)
    return str(path), [json.loads(line)["sha256"] for line in text.splitlines()]


def test_an_unclosed_quote_in_a_decisions_file_is_an_error(tmp_path, sandbox, cli_env):
    """Before: the quote swallowed every later row into one remark; "1 of 3 records
    reviewed", exit 0, two decisions silently lost."""
    results, (a, b, c) = _results_and_shas(tmp_path, cli_env)
    decisions = tmp_path / "d.csv"
    decisions.write_text(
        HEADER + f'{a},accepted,,me,"leaf margin\n{b},rejected,,me,\n{c},accepted,,me,\n'
    )
    applied = run_plantid(["review", "apply", decisions, results], cli_env)
    assert applied.returncode == 2, applied.stderr
    assert "not valid CSV" in applied.stderr and "Traceback" not in applied.stderr
    assert applied.stdout == ""


def test_a_long_remark_in_a_decisions_file_is_applied(tmp_path, sandbox, cli_env):
    """Before: a remark over 128 KiB (csv's default field limit) was an internal error."""
    results, (a, _, _) = _results_and_shas(tmp_path, cli_env)
    decisions = tmp_path / "d.csv"
    decisions.write_text(HEADER + f"{a},accepted,,me,{'x' * 200_000}\n")
    applied = run_plantid(["review", "apply", decisions, results], cli_env)
    assert applied.returncode == 0, applied.stderr
    [reviewed] = [r for r in map(json.loads, applied.stdout.splitlines()) if r["sha256"] == a]
    assert len(reviewed["verification"]["remarks"]) == 200_000


def test_reading_a_decisions_file_leaves_the_processs_csv_limit_as_it_was(tmp_path):
    """Before: reading a decisions file raised csv's field limit for the whole process, for
    good: a program using plantid as a library had its own CSV reading changed (a limit it
    set to refuse huge fields quietly became 256 MiB). The long remark is still read."""
    import csv

    from plantid_cli.outputs.review.decisions import read_decisions

    sha = "ab" * 32
    decisions = tmp_path / "d.csv"
    decisions.write_text(HEADER + f"{sha},accepted,,me,{'x' * 200_000}\n")
    before = csv.field_size_limit(1000)  # what a library caller chose
    try:
        [decision] = read_decisions(decisions)
        assert csv.field_size_limit() == 1000
        assert len(decision.remarks) == 200_000
    finally:
        csv.field_size_limit(before)


def test_redacting_a_long_run_of_letters_is_linear():
    """The URL-password pattern scanned, from every start in a run of letters, to its end:
    quadratic (20,000 letters 3.6 s; a 50 MB line on stdin held the GIL and ignored SIGTERM
    for good). Two million letters now take a fraction of a second; the timeout is only
    there to end the test, at thousands of times that."""
    code = (
        "from plantid_cli.redact import redact\n"
        "text = 'a' * 2_000_000 + ' redis://:secret@host ' + 'b' * 2_000_000\n"
        "print(redact(text).count('****'), 'secret' in redact(text))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.stdout.split() == ["1", "False"], done.stderr


def test_a_record_field_of_the_wrong_type_is_a_clear_error_in_every_reader(
    tmp_path, sandbox, cli_env
):
    """Before: `"best": "x"`, `"schema_version": []`, `"index": "x"` or a suggestion's
    probability as a string was an internal error (AttributeError, TypeError) in report,
    export, tag, checklist and review."""
    [record] = [json.loads(line) for line in _identified(tmp_path, cli_env, "t", 1).splitlines()]
    mutations = {
        "best": "x",
        "schema_version": [],
        "index": "x",
        "location": 5,
        "suggestions": 7,
        "error": "boom",
        "best.probability": "high",
    }
    for field, value in mutations.items():
        broken = json.loads(json.dumps(record))
        if "." in field:
            outer, inner = field.split(".")
            broken[outer][inner] = value
        else:
            broken[field] = value
        results = tmp_path / f"bad-{field}.ndjson"
        results.write_text(json.dumps(broken) + "\n")
        for command in (["export", "csv"], ["report", "-o", tmp_path / "r.html"], ["checklist"]):
            done = run_plantid([*command, results], cli_env)
            said = done.stdout + done.stderr
            assert done.returncode == 2, (field, command, said)
            assert "internal error" not in said and "Traceback" not in said, (field, said)
            assert "line 1" in done.stderr, (field, command, done.stderr)


def test_a_photo_path_too_long_for_the_system_is_a_photo_not_found(tmp_path, sandbox, cli_env):
    """Before: `tag` stopped with "internal error: OSError: File name too long" (Path.is_file
    raises ENAMETOOLONG), and `report` blamed its own output file."""
    [record] = [json.loads(line) for line in _identified(tmp_path, cli_env, "l", 1).splitlines()]
    record["path"] = str(tmp_path / ("x" * 300 + ".jpg"))
    record.pop("path_b64", None)
    results = tmp_path / "long.ndjson"
    results.write_text(json.dumps(record) + "\n")
    report = run_plantid(["report", results, "-o", tmp_path / "r.html"], cli_env)
    assert report.returncode == 0, report.stderr
    assert "1 photo not found" in report.stderr
    import runs

    if runs._exempi_missing() is None:  # `tag` needs Exempi
        tagged = run_plantid(["tag", results], cli_env)
        said = tagged.stdout + tagged.stderr
        assert "internal error" not in said and "photo not found" in said, said
        assert tagged.returncode == 1


def _measured_identify_stdin(stdin_path, env, *extra) -> tuple[subprocess.CompletedProcess, int]:
    import runs

    with open(stdin_path, "rb") as stdin:
        done = subprocess.run(
            [sys.executable, "-c", runs.MEASURED, "identify", "-", "-f", "ndjson", *extra],
            env=env, cwd=REPO, stdin=stdin, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    return done, runs.peak_of(done.stderr)


def test_an_endless_line_on_stdin_is_read_in_bounded_memory(tmp_path, sandbox, cli_env):
    """`identify -` held a line whole: `< /dev/zero` grew to 7.7 GB in 20 s. Here 150 MB
    without a line end (no path is longer than 4 kB), then a real photo: one record says
    the long name cannot be a file, the photo is answered, and the peak stays far under
    the 150 MB it would take to hold the line once."""
    photo = green_photo(tmp_path / "leaf.jpg", seed=12)
    for null, sep in ((False, b"\n"), (True, b"\0")):
        listing = tmp_path / f"paths-{null}.txt"
        with open(listing, "wb") as out:
            for _ in range(150):
                out.write(b"a" * (1 << 20))
            out.write(sep + str(photo).encode() + sep)
        done, peak_kb = _measured_identify_stdin(listing, cli_env, *(["-0"] if null else []))
        said = done.stdout + done.stderr
        assert "internal error" not in said and "Traceback" not in said, said[-2000:]
        statuses = sorted(json.loads(line)["status"] for line in done.stdout.splitlines())
        assert statuses == ["error", "ok"], (null, statuses)
        assert peak_kb < 120_000, (null, peak_kb)


def test_every_path_item_is_cut_at_the_same_length_however_the_reads_fall():
    """A NUL-ended item that began in one 64 KiB read and ended in the next passed whole (up
    to ~128 KiB) while the line form cut at 64 KiB; and a text stream a library caller hands
    in is read as text, bounded the same way (review of session 7)."""
    import io

    from plantid_cli.inputs.walk import MAX_PATH_LINE, _expand_arguments

    data = b"a" * 60000 + b"\0" + b"x" * 70000 + b"\0b"
    nul = list(_expand_arguments(["-"], io.TextIOWrapper(io.BytesIO(data)), null=True))
    assert [len(p) for p in nul] == [60000, MAX_PATH_LINE, 1]
    text = "a\r\n\nb\n" + "y" * 200_000 + "\nc"
    assert [len(p) for p in _expand_arguments(["-"], io.StringIO(text))] == [1, 1, MAX_PATH_LINE, 1]
