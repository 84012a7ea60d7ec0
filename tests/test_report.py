"""`plantid report` / `identify --report`: the page's content, its safety, and what headless
Chromium renders (every species name in the DOM, the filters hiding what they should)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import run_plantid

from plantid_cli.errors import UsageError
from plantid_cli.outputs.readback import read_records
from plantid_cli.outputs.report.page import Thumb, make_thumbnail, write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium not installed (.ci/run installs Debian's chromium)"
)
EVIL = '<script>alert("x")</script>'


def _record(index, status="ok", name=None, p=None, **extra):
    record = {
        "schema_version": 1,
        "index": index,
        "path": extra.pop("path", f"photos/p{index}.jpg"),
        "sha256": None,
        "status": status,
        "provider": "plantid",
        "cached": False,
        "best": None,
        "suggestions": [],
        "is_plant": {"probability": 0.9 if status == "ok" else 0.05, "binary": status == "ok"},
        "location": None,
        "taken_at": None,
        "model_version": "plant_id:3.2.0",
        "identified_at": "2026-11-28T10:00:00+00:00",
        "error": None,
    }
    if status == "ok":
        best = {
            "scientific_name": name,
            "probability": p,
            "common_names": [f"common {index}"],
            "family": "Rosaceae",
            "genus": name.split()[0],
            "gbif_id": 1000 + index,
            "rank": "species",
            "url": f"https://en.wikipedia.org/wiki/{name.replace(' ', '_')}",
        }
        record["best"] = best
        record["suggestions"] = [
            best,
            {**best, "scientific_name": "Rosa other", "probability": 0.01},
        ]
    if status == "error":
        record["error"] = {
            "code": "unavailable",
            "reason": "timeout",
            "message": f"timed out {index}",
        }
    record.update(extra)
    return record


RECORDS = [
    _record(
        0,
        name="Rosa canina",
        p=0.97,
        location={"latitude": 43.1, "longitude": -11.2, "source": "exif"},
    ),
    _record(1, name="Quercus robur", p=0.42, degraded=True, cached=True),
    _record(2, name="Bellis perennis", p=0.91),
    _record(3, status="not_plant"),
    _record(4, status="error"),
    _record(5, name="Aloe vera", p=0.6, paths=["spec/a.jpg", "spec/b.jpg"]),
]
SPECIES = ["Rosa canina", "Quercus robur", "Bellis perennis", "Aloe vera"]
FAKE = Thumb("data:image/gif;base64,R0lGODlhAQABAAAAACw=", 1, 1)


class _Cards(HTMLParser):
    """Cards in a (dumped) DOM: their attributes, in document order."""

    def __init__(self):
        super().__init__()
        self.cards, self.srcs, self.meta, self.links = [], [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "article":
            self.cards.append(attrs)
        if "src" in attrs:
            self.srcs.append(attrs["src"])
        if tag == "meta":
            self.meta.append(attrs)
        if tag == "link":
            self.links.append(attrs)


def _parse(html: str) -> _Cards:
    parser = _Cards()
    parser.feed(html)
    return parser


def _shown(cards):
    return [c for c in cards if "hidden" not in c]


# --------------------------------------------------------------------------------------------
# the file


def test_report_holds_a_card_per_record_and_is_self_contained(tmp_path):
    out = tmp_path / "report.html"
    stats = write_report(RECORDS, out, source="results.ndjson", thumbnailer=lambda p: FAKE)
    html = out.read_text(encoding="utf-8")
    page = _parse(html)
    assert stats.cards == len(page.cards) == len(RECORDS)
    assert [c["data-status"] for c in page.cards] == ["ok", "ok", "ok", "not_plant", "error", "ok"]
    for name in SPECIES:
        assert f"<i>{name}</i>" in html
    csp = [m["content"] for m in page.meta if m.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0] and "img-src data:" in csp[0]
    assert all(src.startswith("data:") for src in page.srcs)
    assert not page.links and "@import" not in html and "url(" not in html
    assert "https://www.gbif.org/species/1000" in html and "wikipedia.org/wiki/Rosa_canina" in html
    assert "timed out 4" in html and "degraded" in html and "43.10000, -11.20000" in html
    assert "6 photos" in html and "credits used" in html


def test_everything_from_records_is_escaped(tmp_path):
    evil = _record(0, name=EVIL, p=0.5, path=f"photos/{EVIL}.jpg")
    evil["best"]["url"] = "javascript:alert(1)"
    evil["best"]["common_names"] = ['"><img src=x onerror=alert(1)>']
    error = _record(1, status="error")
    error["error"]["message"] = EVIL
    out = tmp_path / "r.html"
    write_report([evil, error], out, source=EVIL, thumbnailer=lambda p: None)
    html = out.read_text(encoding="utf-8")
    assert EVIL not in html and "<img src=x" not in html
    assert "javascript:alert" not in html
    assert html.count("<script>") == 1  # ours only


def test_real_thumbnails_are_small_upright_jpegs(samples):
    thumb = make_thumbnail(samples / "exif-orientation-6.jpg")  # 600x450 stored, Orientation 6
    assert thumb is not None and thumb.uri.startswith("data:image/jpeg;base64,")
    assert (thumb.width, thumb.height) == (120, 160)  # turned upright
    assert len(thumb.uri) < 12_000
    heic = make_thumbnail(samples / "iphone-13.heic")
    assert heic is not None and max(heic.width, heic.height) == 160
    assert make_thumbnail(samples / "README.md") is None


def test_missing_photo_gets_a_placeholder(tmp_path):
    out = tmp_path / "r.html"
    stats = write_report([_record(0, name="Rosa canina", p=0.9, path="nowhere.jpg")], out)
    assert stats.missing == 1 and stats.thumbnails == 0
    assert "no photo" in out.read_text(encoding="utf-8")


def test_read_records_ndjson_json_and_refusals(tmp_path):
    nd = tmp_path / "r.ndjson"
    nd.write_text("".join(json.dumps(r) + "\n" for r in reversed(RECORDS)) + "\n")
    assert [r["index"] for r in read_records(nd)] == list(range(len(RECORDS)))
    js = tmp_path / "r.json"
    js.write_text(json.dumps(RECORDS))
    assert len(read_records(js)) == len(RECORDS)
    bad = tmp_path / "bad.ndjson"
    # damaged in the middle (not merely cut short at the end, see test_trust_outputs.py)
    bad.write_text(json.dumps(RECORDS[0]) + "\n{oops\n" + json.dumps(RECORDS[1]) + "\n")
    with pytest.raises(UsageError, match="line 2"):
        read_records(bad)
    newer = tmp_path / "newer.ndjson"
    newer.write_text(json.dumps({**RECORDS[0], "schema_version": 99}) + "\n")
    with pytest.raises(UsageError, match="schema_version 99"):
        read_records(newer)


# --------------------------------------------------------------------------------------------
# in a real browser


def _chromium_dom(html_file: Path, tmp_path: Path, fragment: str = "") -> tuple[str, str]:
    profile = tmp_path / f"chromium-{time.monotonic_ns()}"
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            f"--user-data-dir={profile}",
            "--dump-dom",
            html_file.resolve().as_uri() + fragment,
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "<article" in result.stdout, result.stderr[-2000:]
    return result.stdout, result.stderr


def _console_problems(stderr: str) -> list[str]:
    return [
        line
        for line in stderr.splitlines()
        if "CONSOLE" in line
        and re.search(r"Content Security Policy|Uncaught|Error", line, re.IGNORECASE)
    ]


@pytest.fixture
def page(tmp_path):
    out = tmp_path / "report.html"
    write_report(RECORDS, out, thumbnailer=lambda p: FAKE)
    return out


@needs_chromium
def test_chromium_renders_every_card_and_name_without_errors(page, tmp_path):
    dom, stderr = _chromium_dom(page, tmp_path)
    cards = _parse(dom).cards
    assert len(cards) == len(_shown(cards)) == len(RECORDS)
    for name in SPECIES:
        assert name in dom
    assert re.search(r'id="count"[^>]*>6 photos<', dom)
    assert not _console_problems(stderr)


@needs_chromium
@pytest.mark.parametrize(
    ("fragment", "expected"),
    [
        ("#status=error", [4]),
        ("#min=0.9", [0, 2]),
        ("?min=90", [0, 2]),
        ("#status=ok&min=0.5&q=aloe", [5]),
        ("#q=common%201", [1]),
    ],
)
def test_chromium_filters_hide_what_they_should(page, tmp_path, fragment, expected):
    dom, stderr = _chromium_dom(page, tmp_path, fragment)
    shown = [int(c["data-i"]) for c in _shown(_parse(dom).cards)]
    assert sorted(shown) == expected
    assert not _console_problems(stderr)


@needs_chromium
def test_chromium_sorts_by_probability_and_name(page, tmp_path):
    dom, _ = _chromium_dom(page, tmp_path, "#sort=p-desc")
    order = [int(c["data-i"]) for c in _parse(dom).cards]
    assert order[:4] == [0, 2, 5, 1]  # 0.97, 0.91, 0.6, 0.42; then the ones without probability
    dom, _ = _chromium_dom(page, tmp_path, "#sort=name")
    names = [c["data-name"] for c in _parse(dom).cards if c["data-name"]]
    assert names == sorted(names)


@needs_chromium
def test_chromium_csp_blocks_any_request(page, tmp_path):
    """The policy is live: a remote image slipped into the page is refused, and said so."""
    bad = tmp_path / "bad.html"
    html = page.read_text(encoding="utf-8")
    bad.write_text(
        html.replace('<div id="cards">', '<div id="cards"><img src="http://127.0.0.1:9/x.png">')
    )
    _, stderr = _chromium_dom(bad, tmp_path)
    assert any("Content Security Policy" in line for line in _console_problems(stderr))


@needs_chromium
def test_chromium_5000_cards_filter_quickly(tmp_path):
    names = ["Rosa canina", "Quercus robur", "Bellis perennis", "Aloe vera", "Acer campestre"]
    records = []
    for i in range(5000):
        status = "error" if i % 50 == 0 else "not_plant" if i % 25 == 0 else "ok"
        name = f"{names[i % 5]} var{i}"
        records.append(_record(i, status, name=name, p=(i % 100) / 100 if status == "ok" else None))
    out = tmp_path / "big.html"
    stats = write_report(records, out, thumbnailer=lambda p: FAKE)
    assert stats.bytes < 12_000_000  # cards alone stay small; thumbnails add ~6 kB each
    dom, stderr = _chromium_dom(out, tmp_path, "#status=ok&min=0.95&sort=p-desc")
    shown = _shown(_parse(dom).cards)
    expected = sum(1 for r in records if r["status"] == "ok" and r["best"]["probability"] >= 0.95)
    assert len(shown) == expected and float(shown[0]["data-p"]) == 0.99
    assert not _console_problems(stderr)


# --------------------------------------------------------------------------------------------
# end to end: identify --report on a folder, then plantid report from the results file


@needs_chromium
def test_identify_with_report_end_to_end(cli_env, samples, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("aloe-vera.jpg", "wheat.jpg", "bee-not-a-plant.jpeg", "exif-orientation-6.jpg"):
        shutil.copy(samples / name, photos / name)
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    result = run_plantid(
        ["identify", "photos", "--report", "report.html", "--format", "ndjson"],
        cli_env,
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr  # broken.jpg is an error record
    assert "report written to report.html (5 cards" in result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    names = {r["best"]["scientific_name"] for r in records if r["best"]}
    assert names and len(records) == 5
    (tmp_path / "results.ndjson").write_text(result.stdout)

    dom, stderr = _chromium_dom(tmp_path / "report.html", tmp_path)
    page = _parse(dom)
    assert len(page.cards) == 5
    for name in names:
        assert name in dom
    thumbs = [src for src in page.srcs if src.startswith("data:image/jpeg")]
    assert len(thumbs) == 4  # broken.jpg gets the placeholder
    assert not _console_problems(stderr)
    dom, _ = _chromium_dom(tmp_path / "report.html", tmp_path, "#status=error")
    shown = _shown(_parse(dom).cards)
    assert [c["data-status"] for c in shown] == ["error"]

    # plantid report from elsewhere: relative photo paths resolve against the results' folder
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    again = run_plantid(
        ["report", tmp_path / "results.ndjson", "-o", "again.html"], cli_env, cwd=elsewhere
    )
    assert again.returncode == 0, again.stderr
    html = (elsewhere / "again.html").read_text(encoding="utf-8")
    assert html.count("data:image/jpeg") == 4 and html.count("<article") == 5


def test_report_command_errors(cli_env, tmp_path):
    missing = run_plantid(["report", tmp_path / "none.ndjson"], cli_env)
    assert missing.returncode == 2 and "no such file" in missing.stderr
    stdin = run_plantid(["report", "-"], cli_env, input="")
    assert stdin.returncode == 2 and "-o" in stdin.stderr


def test_report_to_a_place_it_cannot_write_is_a_usage_error(cli_env, tmp_path):
    results = tmp_path / "results.ndjson"
    results.write_text("")
    for target in (tmp_path / "no-such-folder" / "r.html", tmp_path):
        result = run_plantid(["report", results, "-o", target], cli_env)
        assert result.returncode == 2, result.stderr
        assert "internal error" not in result.stderr and "Traceback" not in result.stderr
        assert "-o" in result.stderr


def test_a_name_with_a_right_to_left_override_turns_only_itself(tmp_path, sandbox, cli_env):
    """DEFECT (red team, session 19): a file name holding U+202E (right-to-left override) was
    shown un-isolated in its card, so it could turn the text after it around and disguise the
    name. Correct: the name is in its own <bdi>."""
    import json

    from photos import green_photo

    photo = green_photo(tmp_path / "leaf\u202egpj.exe.jpg", seed=11)
    found = run_plantid(["identify", photo, "-f", "ndjson"], cli_env)
    assert found.returncode == 0, found.stderr
    (tmp_path / "r.ndjson").write_text(found.stdout)
    assert json.loads(found.stdout)["path"].endswith("leaf\u202egpj.exe.jpg")
    page = tmp_path / "page.html"
    done = run_plantid(["report", tmp_path / "r.ndjson", "-o", page], cli_env)
    assert done.returncode == 0, done.stderr
    assert "<bdi>leaf\u202egpj.exe.jpg</bdi>" in page.read_text(encoding="utf-8")
