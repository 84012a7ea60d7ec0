"""Red team: two photos, one sidecar.

DEFECT (a wrong name beside a photo): in the short style (the default) `a.jpg` and `a.png`
both own `a.xmp`. `plantid tag` (and `identify --write-xmp`) wrote a.jpg's identification, then
merged a.png's over it: a.xmp said "Bellis perennis" for a photo identified as "Rosa canina",
`1 sidecars written, 1 merged`, exit 0. The sha256 check of issue 12 cannot see it: each
photo's bytes are its record's. Correct: the second photo's sidecar, already given to another
photo with a different name in this run, is refused with a warning and counted (exit 1);
a.xmp keeps the first photo's name; `--xmp-name full` gives each photo its own.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_plantid
from photos import green_photo
from runs import needs_exempi

pytestmark = needs_exempi


def _two_photos_one_stem(folder: Path) -> None:
    """a.jpg and a.png, different plants to the sandbox; their names as identified."""
    from PIL import Image

    folder.mkdir()
    green_photo(folder / "a.jpg", (160, 120), seed=1)
    other = green_photo(folder / "other.jpg", (160, 120), seed=7)
    Image.open(other).save(folder / "a.png")
    other.unlink()


def _names(stdout: str) -> dict[str, str]:
    records = [json.loads(line) for line in stdout.splitlines()]
    return {Path(r["path"]).name: r["best"]["scientific_name"] for r in records}


def _xmp_name(sidecar: Path) -> str:
    from plantid_cli.outputs.xmp import _xmp

    meta = _xmp().XMPMeta()
    meta.parse_from_str(sidecar.read_text(encoding="utf-8"), xmpmeta_wrap=False)
    return meta.get_property("http://rs.tdwg.org/dwc/terms/", "scientificName")


@pytest.mark.parametrize("how", ["tag", "write-xmp"])
def test_a_sidecar_two_photos_share_keeps_the_first_name_and_refuses_the_other(
    cli_env, sandbox, tmp_path, how
):
    folder = tmp_path / "photos"
    _two_photos_one_stem(folder)
    args = ["identify", folder, "--format", "ndjson", "-j", "1"]
    run = run_plantid([*args, "--write-xmp"] if how == "write-xmp" else args, cli_env)
    names = _names(run.stdout)
    assert names["a.jpg"] != names["a.png"]  # the sandbox tells them apart (else no test)
    results = tmp_path / "results.ndjson"
    results.write_text(run.stdout)
    result = run if how == "write-xmp" else run_plantid(["tag", results], cli_env)
    # the first to claim it: `identify --write-xmp` writes as answers come (NDJSON is in
    # completion order, -j 1 too), `tag` reads the records back in input order
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    first = lines[0] if how == "write-xmp" else min(lines, key=lambda r: r["index"])
    first_name = Path(first["path"]).name
    second_name = "a.png" if first_name == "a.jpg" else "a.jpg"
    # dwc:scientificName is the name with its authorship ("Rosa canina L.")
    assert _xmp_name(folder / "a.xmp").startswith(names[first_name] + " ")
    assert result.returncode == 1, result.stderr
    assert f"{second_name}: its sidecar" in result.stderr
    assert "1 sidecar written, 0 merged, 1 failed" in result.stderr
    assert sandbox.stats()["plantid_identify"] == 2


def test_full_sidecar_names_give_each_photo_its_own(cli_env, sandbox, tmp_path):
    folder = tmp_path / "photos"
    _two_photos_one_stem(folder)
    run = run_plantid(["identify", folder, "--write-xmp", "--xmp-name", "full"], cli_env)
    assert run.returncode == 0, run.stderr
    names = _names(run.stdout)
    for photo in ("a.jpg", "a.png"):
        assert _xmp_name(folder / f"{photo}.xmp").startswith(names[photo] + " ")
