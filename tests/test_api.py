"""The public Python API (`plantid_cli.__all__`), used only through its public names, against
the test's sandbox; and `import plantid_cli` staying light."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import REPO, TEST_KEY
from photos import green_photo

import plantid_cli


@pytest.fixture
def configured(sandbox, monkeypatch):
    """The environment a user's shell would hold for the CLI (isolated_env set the paths)."""
    monkeypatch.setenv("PLANTID_API_URL", sandbox.plantid_url)
    monkeypatch.setenv("PLANTID_API_KEY", TEST_KEY)
    monkeypatch.setenv("PLANTID_RATE_LIMIT", "off")
    monkeypatch.setenv("PLANTID_RETRIES", "0")
    return sandbox


def test_identify_yields_records_and_a_second_call_is_served_from_the_cache(configured, tmp_path):
    photo = green_photo(tmp_path / "photos" / "leaf.jpg")
    (first,) = plantid_cli.identify([tmp_path / "photos"], top=1)
    assert first["status"] == "ok" and first["cached"] is False
    assert first["best"]["scientific_name"]
    assert len(first["suggestions"]) == 1  # top=1 won over the default like --top does
    (again,) = plantid_cli.identify([str(photo)])
    assert again["cached"] is True
    assert again["best"]["scientific_name"] == first["best"]["scientific_name"]
    assert configured.stats()["plantid_identify"] == 1


def test_identify_reads_the_keys_file_like_the_cli(configured, isolated_env, monkeypatch, tmp_path):
    monkeypatch.delenv("PLANTID_API_KEY")
    keys = isolated_env / "config" / "keys.json"
    keys.parent.mkdir(parents=True, exist_ok=True)
    keys.write_text(json.dumps({"plantid": TEST_KEY}))
    green_photo(tmp_path / "a.jpg")
    green_photo(tmp_path / "b.jpg", seed=1)
    found = list(plantid_cli.identify([tmp_path / "a.jpg", tmp_path / "b.jpg"]))
    assert sorted(r["status"] for r in found) == ["ok", "ok"]
    assert configured.stats()["plantid_identify"] == 2


def test_identify_with_settings_and_public_errors(configured, tmp_path):
    photo = green_photo(tmp_path / "leaf.jpg")
    settings = plantid_cli.load_settings()
    assert isinstance(settings, plantid_cli.Settings)
    with pytest.raises(plantid_cli.MissingKeyError) as missing:
        list(plantid_cli.identify([photo], settings=dataclasses.replace(settings, api_key=None)))
    assert isinstance(missing.value, plantid_cli.ConfigError)
    assert "plantid keys set" in str(missing.value)
    with pytest.raises(plantid_cli.UsageError, match="--lat and --lon go together"):
        list(plantid_cli.identify([photo], latitude=10.0))
    with pytest.raises(plantid_cli.UsageError, match="--max-credits is 0"):
        list(plantid_cli.identify([photo], max_credits=0))
    with pytest.raises(TypeError, match="colour"):
        list(plantid_cli.identify([photo], colour="green"))
    assert configured.stats()["plantid_identify"] == 0  # none of those sent anything
    (record,) = plantid_cli.identify([photo], settings=settings)
    assert record["status"] == "ok"
    (missing_file,) = plantid_cli.identify([tmp_path / "nope.jpg"], settings=settings)
    assert missing_file["status"] == "error"
    assert configured.stats()["plantid_identify"] == 1
    assert all(isinstance(getattr(plantid_cli, name), object) for name in plantid_cli.__all__)


def test_the_batch_docstring_example_runs(configured, tmp_path, monkeypatch, capsys):
    from plantid_cli.run import batch

    example = batch.__doc__.split("::", 1)[1]
    green_photo(tmp_path / "photos" / "leaf.jpg")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(textwrap.dedent(example), namespace)  # noqa: S102 - our own docstring
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["status"] == "ok"
    assert namespace["code"] == 0 and namespace["stats"].done == 1
    assert configured.stats()["plantid_identify"] == 1


def test_import_plantid_cli_loads_no_heavy_dependency():
    heavy = ("typer", "click", "rich", "httpx", "PIL", "pydantic")
    probe = (
        "import sys, plantid_cli\n"
        "plantid_cli.__version__, plantid_cli.PlantidError, plantid_cli.identify\n"
        f"print([m for m in {heavy!r} if m in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_fresh_run_opens_the_stores_write_side_in_the_background(
    configured, tmp_path, monkeypatch
):
    """Issue 17: diskcache was opened by the first answer's store, in a call thread, and
    every other call thread's first store waited for it (~10 ms of each run's second round).
    It is opened in the background once the first call is about to go out, while the first
    answers are out; a cached rerun opens it not at all."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from conftest import wait_for

    from plantid_cli.guards.disk import cache

    opened_in: list[str] = []
    real_open = cache.open_locked

    def recording_open(directory, size_limit):
        opened_in.append(threading.current_thread().name)
        return real_open(directory, size_limit)

    monkeypatch.setattr(cache, "open_locked", recording_open)
    for n in range(3):
        green_photo(tmp_path / "photos" / f"leaf{n}.jpg", seed=n)
    configured.configure(hold_after=0)  # every call held until the store has been opened
    run = ThreadPoolExecutor(1).submit(
        lambda: list(plantid_cli.identify([tmp_path / "photos"], concurrency=3))
    )
    wait_for(lambda: opened_in or run.done())
    configured.configure(hold_after=None)
    records = run.result()
    assert [r["status"] for r in records] == ["ok"] * 3
    assert opened_in == ["plantid-store"]
    assert configured.stats()["plantid_identify"] == 3
    opened_in.clear()
    assert all(r["cached"] for r in plantid_cli.identify([tmp_path / "photos"]))
    assert opened_in == []


def test_a_run_whose_photos_all_fail_before_a_call_creates_no_store(configured, tmp_path):
    """The store's background opening waits for a call: a run of photos that cannot be read
    (found by a red-team pass: the first warm-up built results/cache.db for it, and on a full
    disk said at random that answers were not being stored) leaves nothing behind."""
    bad = tmp_path / "photos" / "bad.jpg"
    bad.parent.mkdir()
    bad.write_bytes(b"\xff\xd8 not a jpeg at all" * 50)
    (record,) = plantid_cli.identify([bad])
    assert record["status"] == "error"
    cache = Path(os.environ["PLANTID_CACHE_DIR"])
    assert not (cache / "results" / "cache.db").exists()
    assert configured.stats()["plantid_identify"] == 0


def test_the_warm_up_still_imports_the_lock_library_when_the_credit_check_built_the_client(
    configured, tmp_path, monkeypatch
):
    """The credit check now builds the run's client; the warm-up took an existing client for
    "nothing to do" and left portalocker's import (~13 ms) to the first call, in front of its
    upload (the first upload came 35 ms later in benchmarks/timeline.py)."""
    import threading

    import plantid_cli.guards.lazy_imports as lazy

    imported_in: list[str] = []
    real = lazy.portalocker

    def recording():
        imported_in.append(threading.current_thread().name)
        return real()

    monkeypatch.setattr(lazy, "portalocker", recording)
    green_photo(tmp_path / "photos" / "leaf.jpg")
    (record,) = plantid_cli.identify([tmp_path / "photos"])
    assert record["status"] == "ok"
    assert configured.stats()["plantid_usage"] == 1  # the credit check ran, on the run's client
    assert "plantid-client" in imported_in  # the warm-up asked for it (the call may too)


FORKED_POOL = r"""
import multiprocessing, os, random, sys
from pathlib import Path
from PIL import Image
import plantid_cli

root = Path(sys.argv[1])
rng = random.Random(7)
for k in range(3):  # 3 folders of 30 different photos
    (root / f"photos{k}").mkdir(parents=True)
    for i in range(30):
        colour = (rng.randrange(20, 90), rng.randrange(120, 220), rng.randrange(20, 90))
        picture = Image.new("RGB", (160, 120), colour)
        picture.putpixel((i, k), (255, 255, 255))
        picture.save(root / f"photos{k}" / f"leaf{i:02d}.jpg", quality=95)

def identify(k, cache):
    os.environ["PLANTID_CACHE_DIR"] = str(root / cache)
    records = plantid_cli.identify([root / f"photos{k}"], concurrency=4)
    return {r["path"]: (r["status"], (r["best"] or {}).get("scientific_name")) for r in records}

def in_child(k):
    return identify(k, f"cache{k}")

alone = {}
for k in range(3):  # each folder on its own, in this process: what the service says of each
    alone.update(identify(k, f"alone{k}"))
with multiprocessing.get_context("fork").Pool(3) as pool:  # then forked, side by side
    forked = {}
    for records in pool.map(in_child, range(3)):
        forked.update(records)
print(len(alone), sum(forked.get(path) != said for path, said in alone.items()))
"""


def test_processes_forked_after_a_run_each_upload_their_own_photos(configured, tmp_path):
    """DEFECT (red team, session 19): `multiprocessing.Pool` (fork, Linux's default) after a
    call of `identify` in the parent: the children inherited the parent's idle scratch file for
    the upload's JPEG (images/encode.py) and shared it, so a child could upload a sibling's
    photo as its own and store that photo's identification under its own photo's hash (2-3 of
    these 90 photos in most runs before the fix, and error records). Correct: every photo
    identified in a child is identified as when it was sent alone."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", FORKED_POOL, str(tmp_path / "run")], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    photos, different = map(int, done.stdout.split())
    assert (photos, different) == (90, 0)
    assert configured.stats()["plantid_identify"] == 180  # each photo bought once per cache
