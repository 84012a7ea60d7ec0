"""Start-up cost guards: what a run imports, and what it must not."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO

CODE = """
import sys
from plantid_cli.guards.lazy_imports import portalocker, pybreaker
pybreaker().CircuitBreaker
portalocker().Lock
hidden = "redis" not in sys.modules and "uuid" not in sys.modules
import redis  # still importable afterwards: nothing was poisoned
import portalocker.redis
print(hidden, redis.Redis.__name__, portalocker.redis.RedisLock.__name__)
"""


def test_guard_libraries_load_without_redis_and_leave_it_importable():
    out = subprocess.run(
        [sys.executable, "-c", CODE], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    # nor portalocker's RedisLock module, whose own imports (uuid: 5 ms) came first
    assert out == ["True", "Redis", "RedisLock"]


def test_with_redis_already_loaded_nothing_is_hidden():
    code = "import redis, sys\n" + CODE.replace(
        '"redis" not in sys.modules and "uuid" not in', '"redis" in sys.modules and "uuid" in'
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["True", "Redis", "RedisLock"]


SEEDED = """
import sys
from plantid_cli.guards import lazy_imports
if sys.argv[1] == "misfit":  # a portalocker whose __init__ reads a field the seed lacks
    lazy_imports._ABOUT = {}
module = lazy_imports.portalocker()
asked = "importlib.metadata" in sys.modules
from importlib.metadata import version
print(asked, module.__version__ == version("portalocker"), hasattr(module.__about__, "get_version"))
module.Lock  # usable
"""


def test_portalocker_is_imported_without_asking_importlib_metadata_for_its_version():
    """Its __about__ asked importlib.metadata (17-28 ms before every fresh run's first call);
    the seed gives the same version from the dist-info folder's name. Fails the moment the
    seed stops taking effect (a portalocker that no longer reads it, a renamed folder)."""
    out = subprocess.run(
        [sys.executable, "-c", SEEDED, "fits"], cwd=REPO, capture_output=True, text=True,
        check=True,
    ).stdout.split()  # fmt: skip
    assert out == ["False", "True", "False"]  # not asked, the real version, the seed's module


def test_a_portalocker_the_seed_does_not_fit_is_imported_as_it_is():
    out = subprocess.run(
        [sys.executable, "-c", SEEDED, "misfit"], cwd=REPO, capture_output=True, text=True,
        check=True,
    ).stdout.split()  # fmt: skip
    assert out == ["True", "True", "True"]  # its own __about__, which asked


#: Runs the real main() and prints the plantid command modules it had imported when it ended.
COMMAND_MODULES = """
import atexit, sys
def report():
    from plantid_cli.cli.app import COMMANDS
    commands = {f"plantid_cli.cli.{module}" for module, _ in COMMANDS.values()}
    loaded = sorted(m for m in sys.modules if m in commands)
    sys.__stderr__.write("MODULES " + " ".join(loaded) + "\\n")
atexit.register(report)
sys.argv = ["plantid", *sys.argv[1:]]
from plantid_cli.cli import main
main()
"""


def command_modules(*args: str, env=None) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", COMMAND_MODULES, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    [line] = [line for line in result.stderr.splitlines() if line.startswith("MODULES")]
    return line.split()[1:]


def test_a_command_line_builds_only_the_command_it_names(cli_env):
    """Building every command's Typer parameters on each start-up cost more than Typer's own
    import: `--version` builds none, `cache path` only the cache group, and help all."""
    assert command_modules("--version", env=cli_env) == []
    assert command_modules("-v", "cache", "path", env=cli_env) == ["plantid_cli.cli.cache_cmd"]
    everything = command_modules("--help", env=cli_env)
    assert {"plantid_cli.cli.identify", "plantid_cli.cli.keys", "plantid_cli.cli.demo"} <= set(
        everything
    )
    # a mistyped command still gets the suggestion that needs every name
    assert set(command_modules("idnetify", env=cli_env)) == set(everything)


def test_a_fresh_run_never_imports_importlib_metadata(tmp_path, sandbox, cli_env):
    """What the seed above is for: nothing else on a fresh run's path asks for package
    metadata either (a library that does would put the 17-28 ms back)."""
    import runs
    from photos import green_photo

    photo = green_photo(tmp_path / "p.jpg", seed=3)
    watched = ("importlib.metadata", "portalocker", "httpx")
    code, loaded, _ = runs.probe(["identify", photo, "-f", "json"], cli_env, watched)
    assert (code, loaded) == (0, ["portalocker", "httpx"])
    assert sandbox.stats()["plantid_identify"] == 1
