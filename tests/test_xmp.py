"""XMP sidecars: what exiftool reads back, merging with other tools' sidecars, the photo untouched,
`plantid tag` and `plantid identify --write-xmp`."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_plantid
from runs import needs_exempi

from plantid_cli.errors import ConfigError
from plantid_cli.outputs.xmp import (
    SidecarError,
    keywords,
    sidecar_path,
    write_sidecar,
)

EXIFTOOL = shutil.which("exiftool")
needs_exiftool = pytest.mark.skipif(
    EXIFTOOL is None, reason="exiftool not installed (.ci/run installs libimage-exiftool-perl)"
)


pytestmark = needs_exempi

OTHER_TOOL_SIDECAR = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:digiKam="http://www.digikam.org/ns/1.0/"
    xmlns:darktable="http://darktable.sf.net/"
    xmp:Rating="4" darktable:xmp_version="5">
   <dc:subject><rdf:Bag><rdf:li>holiday</rdf:li></rdf:Bag></dc:subject>
   <digiKam:TagsList><rdf:Seq><rdf:li>holiday</rdf:li></rdf:Seq></digiKam:TagsList>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


def _record(name="Triticum durum", family="Poaceae", genus="Triticum", p=0.9, **extra):
    record = {
        "schema_version": 1,
        "index": 0,
        "path": "photo.jpg",
        "status": "ok",
        "provider": "plantid",
        "cached": False,
        "best": {
            "scientific_name": name,
            "authorship": "Desf.",
            "probability": p,
            "common_names": ["Durum wheat", "Pasta wheat"],
            "family": family,
            "genus": genus,
            "gbif_id": 2706141,
            "rank": "species",
            "url": "https://en.wikipedia.org/wiki/Durum_wheat",
        },
        "suggestions": [],
        "model_version": "plant_id:3.2.0",
        "identified_at": "2026-11-28T13:33:22+00:00",
        "error": None,
    }
    record.update(extra)
    return record


def _exif(path: Path, *tags: str) -> list[str]:
    result = subprocess.run(
        [EXIFTOOL, "-s", "-s", "-s", "-sep", " ;; ", *tags, str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return [item for line in result.stdout.splitlines() for item in line.split(" ;; ") if item]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def photo(samples, tmp_path):
    target = tmp_path / "wheat.jpg"
    shutil.copy(samples / "wheat.jpg", target)
    return target


def test_sidecar_names():
    assert sidecar_path(Path("a/b/photo.jpg")) == Path("a/b/photo.xmp")
    assert sidecar_path(Path("a/b/photo.jpg"), "full") == Path("a/b/photo.jpg.xmp")
    assert sidecar_path(Path("IMG.1.HEIC")) == Path("IMG.1.xmp")


def test_keywords():
    assert keywords("Rosa canina", "Rosaceae", "Rosa") == (
        ["Rosa canina", "Rosaceae"],
        "Plants|Rosaceae|Rosa|Rosa canina",
    )
    assert keywords("Rosa", "Rosaceae", "Rosa")[1] == "Plants|Rosaceae|Rosa"  # genus-rank answer
    assert keywords("Rosa canina", "", "Rosa")[1] == "Plants|Rosa|Rosa canina"


@needs_exiftool
def test_new_sidecar_reads_back_with_exiftool(photo):
    before = _sha(photo)
    result = write_sidecar(photo, _record(p=0.3))
    assert result.created and result.path == photo.with_suffix(".xmp")
    xmp = result.path
    assert _exif(xmp, "-XMP-dwc:ScientificName") == ["Triticum durum Desf."]
    assert _exif(xmp, "-XMP-dc:Subject") == ["Triticum durum", "Poaceae"]
    assert _exif(xmp, "-XMP-lr:HierarchicalSubject") == ["Plants|Poaceae|Triticum|Triticum durum"]
    assert _exif(xmp, "-XMP-dwc:IdentificationQualifier") == ["cf."]  # 0.3 < 0.5
    assert _exif(xmp, "-XMP-dwc:IdentifiedBy") == ["Plant.id plant_id:3.2.0"]
    text = xmp.read_text(encoding="utf-8")
    assert 'xmlns:dwc="http://rs.tdwg.org/dwc/terms/"' in text  # the official namespace too
    for term in ("scientificNameAuthorship", "family", "genus", "vernacularName", "taxonID"):
        assert f"<dwc:{term}>" in text
    assert "<dwc:taxonID>https://www.gbif.org/species/2706141</dwc:taxonID>" in text
    assert _sha(photo) == before


@needs_exiftool
def test_existing_sidecar_is_merged_and_updated(photo):
    xmp = photo.with_suffix(".xmp")
    xmp.write_text(OTHER_TOOL_SIDECAR, encoding="utf-8")
    before = _sha(photo)
    assert not write_sidecar(photo, _record(p=0.3)).created
    assert _exif(xmp, "-XMP-xmp:Rating") == ["4"]
    assert _exif(xmp, "-XMP-digiKam:TagsList") == ["holiday"]
    assert _exif(xmp, "-XMP-dc:Subject") == ["holiday", "Triticum durum", "Poaceae"]
    assert "darktable:xmp_version" in xmp.read_text(encoding="utf-8")
    # identified again, differently: our terms and keywords follow, the user's stay
    write_sidecar(photo, _record("Triticum aestivum", p=0.95))
    assert _exif(xmp, "-XMP-dwc:ScientificName") == ["Triticum aestivum Desf."]
    assert _exif(xmp, "-XMP-dc:Subject") == ["holiday", "Poaceae", "Triticum aestivum"]
    hierarchy = _exif(xmp, "-XMP-lr:HierarchicalSubject")
    assert hierarchy == ["Plants|Poaceae|Triticum|Triticum aestivum"]
    assert _exif(xmp, "-XMP-dwc:IdentificationQualifier") == []  # no longer cf.
    assert _exif(xmp, "-XMP-xmp:Rating") == ["4"]
    assert _sha(photo) == before
    assert sorted(p.name for p in photo.parent.iterdir()) == ["wheat.jpg", "wheat.xmp"]


def test_unreadable_sidecar_is_left_alone(photo):
    xmp = photo.with_suffix(".xmp")
    xmp.write_text("<x:xmpmeta><oops", encoding="utf-8")
    with pytest.raises(SidecarError, match="not valid XMP"):
        write_sidecar(photo, _record())
    assert xmp.read_text(encoding="utf-8") == "<x:xmpmeta><oops"


def test_missing_exempi_is_a_clear_config_error(monkeypatch):
    import plantid_cli.outputs.xmp as xmp

    monkeypatch.setattr(xmp, "_ready", False)
    monkeypatch.setitem(sys.modules, "libxmp", None)
    with pytest.raises(ConfigError, match="libexempi8"):
        xmp.check_available()


@needs_exiftool
def test_tag_command_from_results_file(photo, tmp_path, cli_env):
    results = tmp_path / "results.ndjson"
    not_plant = _record(status="not_plant", best=None, index=1, path="bee.jpg")
    lost = _record(index=2, path="gone.jpg")
    lines = [_record(path="wheat.jpg", sha256=_sha(photo)), not_plant, lost]
    results.write_text("".join(json.dumps(r) + "\n" for r in lines))
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    result = run_plantid(["tag", results, "--xmp-name", "full"], cli_env, cwd=elsewhere)
    assert result.returncode == 1, result.stderr  # gone.jpg: no photo, no sidecar
    assert "gone.jpg: photo not found" in result.stderr
    assert "1 sidecar written" in result.stderr and "1 record not identified" in result.stderr
    assert _exif(tmp_path / "wheat.jpg.xmp", "-XMP-dwc:ScientificName") == ["Triticum durum Desf."]
    assert not (tmp_path / "wheat.xmp").exists()
    bad = run_plantid(["tag", results, "--xmp-name", "odd"], cli_env)
    assert bad.returncode == 2 and "--xmp-name" in bad.stderr


@needs_exiftool
def test_identify_write_xmp_end_to_end(cli_env, samples, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("aloe-vera.jpg", "wheat.jpg", "bee-not-a-plant.jpeg", "iphone-13.heic"):
        shutil.copy(samples / name, photos / name)
    (photos / "wheat.xmp").write_text(OTHER_TOOL_SIDECAR, encoding="utf-8")
    hashes = {p.name: _sha(p) for p in photos.iterdir() if p.suffix != ".xmp"}
    result = run_plantid(
        ["identify", "photos", "--write-xmp", "--format", "ndjson"], cli_env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    records = {Path(r["path"]).name: r for r in map(json.loads, result.stdout.splitlines())}
    assert len(records) == 4
    for name, record in records.items():
        xmp = photos / (Path(name).stem + ".xmp")
        if record["status"] != "ok":
            assert not xmp.exists()
            continue
        best = record["best"]
        # Darwin Core's scientificName carries the authorship (Plant.id's too, since issue 14)
        assert best["authorship"]
        full = f"{best['scientific_name']} {best['authorship']}"
        assert _exif(xmp, "-XMP-dwc:ScientificName") == [full]
        subjects = _exif(xmp, "-XMP-dc:Subject")
        assert best["scientific_name"] in subjects and best["family"] in subjects
        hierarchy = f"Plants|{best['family']}|{best['genus']}|{best['scientific_name']}"
        assert _exif(xmp, "-XMP-lr:HierarchicalSubject") == [hierarchy]
    if records["wheat.jpg"]["status"] == "ok":
        assert "holiday" in _exif(photos / "wheat.xmp", "-XMP-dc:Subject")
        assert _exif(photos / "wheat.xmp", "-XMP-xmp:Rating") == ["4"]
    assert {p.name: _sha(p) for p in photos.iterdir() if p.suffix != ".xmp"} == hashes
    assert "XMP: " in result.stderr and "sidecar" in result.stderr


# A photo folder (a card, a shared folder) may hold IMG.xmp as anything: the red-team pass of
# session 14 hung `tag` on a FIFO, grew it to 3 GB on a link to /dev/zero, and wrote through a
# planted symlink outside the folder. Each is refused, left as it is, and nothing is written.


def _odd_sidecar(tmp_path: Path, make) -> tuple[Path, Path]:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"\xff\xd8 not decoded here")
    sidecar = sidecar_path(photo, "short")
    make(sidecar)
    return photo, sidecar


@needs_exempi
def test_a_fifo_sidecar_is_refused_not_read_forever(tmp_path):
    import os

    photo, sidecar = _odd_sidecar(tmp_path, lambda p: os.mkfifo(p))
    with pytest.raises(SidecarError, match="not a regular file"):
        write_sidecar(photo, _record())
    assert sidecar.is_fifo()


@needs_exempi
def test_a_sidecar_linked_to_a_device_is_refused(tmp_path):
    photo, sidecar = _odd_sidecar(tmp_path, lambda p: p.symlink_to("/dev/zero"))
    with pytest.raises(SidecarError, match="symlink"):
        write_sidecar(photo, _record())
    assert sidecar.is_symlink()


@needs_exempi
def test_a_planted_symlink_is_not_written_through(tmp_path):
    outside = tmp_path / "elsewhere" / "planted.txt"
    outside.parent.mkdir()
    for existing in (False, True):
        if existing:
            outside.write_text("someone else's file")
        folder = tmp_path / f"photos-{existing}"
        folder.mkdir()
        photo, sidecar = _odd_sidecar(folder, lambda p: p.symlink_to(outside))
        with pytest.raises(SidecarError, match="symlink"):
            write_sidecar(photo, _record())
        assert sidecar.is_symlink()
        assert outside.exists() is existing
        if existing:
            assert outside.read_text() == "someone else's file"


@needs_exempi
def test_a_symlink_planted_after_the_read_is_replaced_not_followed(tmp_path, monkeypatch):
    """DEFECT (review, session 14): the existing sidecar was read with O_NOFOLLOW, but written
    through file_targets.replacing, which resolved symlinks: a link planted between the read
    and the write carried the XMP outside the photo's folder. Correct: the write replaces the
    name itself (the link goes, its target is never touched). The window is opened on purpose
    here: the real reader runs, then the link is planted, before the write."""
    import plantid_cli.outputs.xmp as xmp

    outside = tmp_path / "elsewhere" / "planted.txt"
    outside.parent.mkdir()
    outside.write_text("someone else's file")
    photo = tmp_path / "photos" / "leaf.jpg"
    photo.parent.mkdir()
    photo.write_bytes(b"not read here")
    sidecar = sidecar_path(photo, "short")
    read = xmp._read_existing

    def read_then_plant(target):
        found = read(target)
        target.symlink_to(outside)
        return found

    monkeypatch.setattr(xmp, "_read_existing", read_then_plant)
    result = write_sidecar(photo, _record())
    assert result.created
    assert outside.read_text() == "someone else's file"
    assert not sidecar.is_symlink() and sidecar.is_file()
    assert "Triticum durum" in sidecar.read_text()


def test_replacing_without_following_keeps_a_links_target_and_a_fifo_unwritten(tmp_path):
    from plantid_cli.file_targets import replacing

    target = tmp_path / "target.txt"
    target.write_text("kept")
    link = tmp_path / "link"
    link.symlink_to(target)
    with replacing(link, follow_symlinks=False) as handle:
        handle.write("new")
    assert not link.is_symlink() and link.read_text() == "new"
    assert target.read_text() == "kept"
    import os

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with replacing(fifo, follow_symlinks=False) as handle:  # renamed over, never opened
        handle.write("file now")
    assert fifo.is_file() and fifo.read_text() == "file now"


@needs_exiftool
def test_a_nul_in_a_value_never_cuts_the_sidecars_field(photo):
    """DEFECT (red team, session 19): a NUL in a value (a review remark from a decisions file,
    a name) ended exempi's C string: `rem\\x00ark` was stored as `rem`. Correct: every control
    character becomes a space; the rest of the value is kept."""
    record = _record(name="Triticum\x00 durum")
    record["verification"] = {
        "decision": "accepted", "scientific_name": None, "by": "A. B.", "date": "2026-12-08",
        "remarks": "rem\x00ark, the\x07rest",
    }  # fmt: skip
    xmp = write_sidecar(photo, record).path
    remarks = _exif(xmp, "-XMP-dwc:IdentificationRemarks")
    assert remarks and "rem ark, the rest" in remarks[0], remarks
    assert _exif(xmp, "-XMP-dwc:ScientificName")[0].startswith("Triticum  durum")
