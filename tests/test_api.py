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
    with pytest.raises(TypeError, match="colour") as unknown:
        list(plantid_cli.identify([photo], colour="green"))
    assert isinstance(unknown.value, plantid_cli.UsageError)  # a bad option, as documented
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


# The public API given what a Python caller actually passes (red team, session 19).


def test_one_path_given_as_a_str_is_one_path_never_its_characters(
    configured, tmp_path, monkeypatch
):
    """DEFECT: `identify("p0.jpg")` walked "p", "0", ".", "j", "p", "g" - the current folder
    among them - and `identify("/photos/a.jpg")` walked "/": 5,761 photos paid for one.
    Correct: one path is one path (a str, a Path, bytes), as the list of it would be."""
    monkeypatch.chdir(tmp_path)
    green_photo(tmp_path / "p0.jpg")
    for i in range(3):  # what "p" would have walked
        green_photo(tmp_path / "p" / f"other{i}.jpg", seed=i + 1)
    (record,) = plantid_cli.identify("p0.jpg")
    assert record["path"] == "p0.jpg" and record["status"] == "ok"
    assert configured.stats()["plantid_identify"] == 1
    for one in (str(tmp_path / "p0.jpg"), tmp_path / "p0.jpg", os.fsencode(tmp_path / "p0.jpg")):
        (again,) = plantid_cli.identify(one)
        assert again["status"] == "ok" and again["cached"] is True
    (listed,) = plantid_cli.identify([os.fsencode(tmp_path / "p0.jpg")])  # bytes in a list
    assert listed["status"] == "ok"
    assert configured.stats()["plantid_identify"] == 1


def test_run_options_given_as_text_mean_what_they_say(configured, tmp_path):
    """DEFECT: the run's own options were used as given, so any non-empty text was true:
    `refresh="false"` bought the cached answers again, `health="no"` ran a health assessment
    too (2 credits a photo). Correct: read as the configuration reads its settings, or refused
    with the option's name before anything is sent."""
    photo = green_photo(tmp_path / "leaf.jpg")
    (first,) = plantid_cli.identify([photo])
    (again,) = plantid_cli.identify([photo], refresh="false", health="no", max_credits="5")
    assert again["cached"] is True and "health" not in again
    assert configured.stats()["plantid_identify"] == 1
    with pytest.raises(plantid_cli.UsageError, match="refresh"):
        list(plantid_cli.identify([photo], refresh="maybe"))
    (bought,) = plantid_cli.identify([photo], refresh="yes")
    assert bought["cached"] is False
    assert configured.stats()["plantid_identify"] == 2


def test_overrides_beside_settings_are_read_and_checked_as_without(configured, tmp_path):
    """DEFECT: with `settings=` the overrides went in as given: `details="taxonomy"` was sent
    letter by letter, `similar_images="no"` as the text "no" (HTTP 400, error records), and
    `top=1.5` ended every record in `internal error: TypeError`. Correct: the same reading and
    checks as `load_settings` gives them, before anything is sent."""
    photos = [green_photo(tmp_path / f"leaf{i}.jpg", seed=i) for i in range(2)]
    settings = plantid_cli.load_settings()
    with pytest.raises(plantid_cli.PlantidError, match="top"):
        list(plantid_cli.identify(photos, settings=settings, top=1.5))
    assert configured.stats()["plantid_identify"] == 0
    records = list(
        plantid_cli.identify(
            photos, settings=settings, details="taxonomy", similar_images="no", top="1"
        )
    )
    assert [r["status"] for r in records] == ["ok", "ok"]
    assert all(len(r["suggestions"]) == 1 for r in records)
    calls = configured.stats()["calls"]
    assert len(calls) == 2
    assert all("taxonomy" in call["details"] and "t" not in call["details"] for call in calls)
    assert all(call["similar_images"] is False for call in calls)


def test_a_key_is_in_no_text_a_library_caller_gets(configured, monkeypatch):
    """DEFECT: `str(exc)` of the ConfigError for an API URL carrying `?key=...` held the key
    (the CLI masked it when printing, a library caller got it whole), and `repr(settings)`
    showed `api_key='...'` in full. Correct: neither holds the key."""
    key = "sk-live-9b7c6d5e4f3a2b1c0d"
    monkeypatch.setenv("PLANTID_API_KEY", key)
    monkeypatch.setenv("PLANTID_API_URL", configured.plantid_url + "?key=" + key)
    with pytest.raises(plantid_cli.ConfigError) as bad_url:
        plantid_cli.load_settings()
    assert "query" in str(bad_url.value)
    assert key not in str(bad_url.value) and key not in repr(bad_url.value)
    monkeypatch.setenv("PLANTID_API_URL", configured.plantid_url)
    settings = plantid_cli.load_settings()
    assert settings.api_key == key
    assert key not in repr(settings) and key not in str(settings)


@pytest.mark.parametrize("shard", [(3, 2), (0, 0), (1,), ("0", "2"), (0.0, 2)])
def test_a_shard_given_as_a_pair_is_checked_as_the_flag_is(configured, tmp_path, shard):
    """DEFECT: `shard=(3, 2)` ran and returned nothing (no worker 3 of 2), `shard=(0, 0)`
    ended in ZeroDivisionError. Correct: a UsageError, as `shard="3/2"` gives."""
    photo = green_photo(tmp_path / "leaf.jpg")
    with pytest.raises(plantid_cli.UsageError, match="shard"):
        list(plantid_cli.identify([photo], shard=shard))
    assert configured.stats()["plantid_identify"] == 0


def test_floras_for_a_position_given_as_text(sandbox, monkeypatch):
    """DEFECT: `plantnet_projects("10", "20")` ended in `TypeError: '<=' not supported`.
    Correct: read as numbers, as identify's latitude and longitude are."""
    monkeypatch.setenv("PLANTNET_API_URL", sandbox.plantnet_url)
    monkeypatch.setenv("PLANTNET_API_KEY", TEST_KEY)
    monkeypatch.setenv("PLANTID_RATE_LIMIT", "off")
    as_text = plantid_cli.plantnet_projects("10", "20")
    assert as_text == plantid_cli.plantnet_projects(10.0, 20.0)
    assert as_text  # the sandbox has floras there
    with pytest.raises(plantid_cli.UsageError, match="latitude"):
        plantid_cli.plantnet_projects("north", "20")


def test_threads_loading_settings_at_once_never_see_half_the_setting_names(monkeypatch):
    """DEFECT: the table of setting types was filled in place on first use, so a thread that
    read it meanwhile found a valid setting unknown (`option --top: unknown setting 'top'`:
    3 in 30 fresh processes with 16-32 threads loading settings). Correct: a thread sees the
    whole table or builds its own. Real threads; the first builder held half way."""
    import threading

    from plantid_cli import config

    monkeypatch.setattr(config, "_FIELD_TYPES", {})
    halfway, go_on = threading.Event(), threading.Event()
    real_fields = config.fields

    def slow_fields(cls):
        for number, item in enumerate(real_fields(cls)):
            if number == 1:  # one type recorded, the rest not yet
                halfway.set()
                go_on.wait(30)
            yield item

    monkeypatch.setattr(config, "fields", slow_fields)
    builder = threading.Thread(target=config.coerce, args=("top", "1", "test"))
    builder.start()
    assert halfway.wait(30)
    try:
        monkeypatch.setattr(config, "fields", real_fields)  # this thread's own look is quick
        assert config.coerce("top", "2", "option --top") == 2
        assert config.coerce("cache_dir", "/tmp/x", "environment PLANTID_CACHE_DIR") == "/tmp/x"
    finally:
        go_on.set()
        builder.join(30)


def test_a_setting_given_a_value_it_cannot_read_is_a_usage_error(configured, tmp_path):
    """DEFECT (README walk-through, session 19): `identify(x, top="abc")` raised ConfigError
    where the README says a value that cannot be read raises UsageError (a flag's value, not
    the configuration). Correct: UsageError, with the option's name, nothing sent."""
    photo = green_photo(tmp_path / "leaf.jpg")
    for settings in (None, plantid_cli.load_settings()):
        with pytest.raises(plantid_cli.UsageError, match="--top"):
            list(plantid_cli.identify([photo], settings=settings, top="abc"))
    assert configured.stats()["plantid_identify"] == 0
