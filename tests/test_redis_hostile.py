"""A Redis that answers, but not the way we hoped: full (OOM under noeviction), a database
index out of range, the redis package missing, a password in the URL's query.

Real `plantid` processes, a real `redis-server` (fixtures from test_redis_fleet), upstream
calls counted at the sandbox.
"""

from __future__ import annotations

import json
import sys

import test_redis_fleet
from conftest import REPO, run_plantid
from test_redis_fleet import WARNING, free_port, machine, make_photos

redis_server = test_redis_fleet.redis_server  # its fixture: a real redis-server per test


def _identify_two(sandbox, cli_env, tmp_path, url):
    photos = make_photos(tmp_path / "photos", 2)
    env = machine(cli_env, tmp_path, "m1", url)
    result = run_plantid(["identify", *photos], env)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["status"] for line in result.stdout.splitlines()] == ["ok", "ok"]
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert sandbox.stats()["plantid_identify"] == 2
    return result


def test_a_full_redis_falls_back_to_local_state_with_one_warning(
    sandbox, cli_env, redis_server, tmp_path
):
    client = redis_server.client()
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", "1")  # every write: "OOM command not allowed"
    result = _identify_two(sandbox, cli_env, tmp_path, redis_server.url)
    assert result.stderr.count(WARNING.format(url=redis_server.url)) == 1, result.stderr
    assert "maxmemory" in result.stderr  # the reason (OOM), in the one warning
    # The answers were kept on this machine: a rerun serves them without a call.
    again = run_plantid(
        ["identify", *sorted((tmp_path / "photos").iterdir())],
        machine(cli_env, tmp_path, "m1", redis_server.url),
    )
    assert again.returncode == 0, again.stderr
    assert [json.loads(line)["cached"] for line in again.stdout.splitlines()] == [True, True]
    assert sandbox.stats()["plantid_identify"] == 2


def test_a_database_index_out_of_range_falls_back_with_one_warning(
    sandbox, cli_env, redis_server, tmp_path
):
    url = f"redis://127.0.0.1:{redis_server.port}/99"
    result = _identify_two(sandbox, cli_env, tmp_path, url)
    assert result.stderr.count(WARNING.format(url=url)) == 1, result.stderr
    status = run_plantid(["status", "--format", "json"], machine(cli_env, tmp_path, "m1", url))
    assert status.returncode == 0, status.stderr
    backend = json.loads(status.stdout)["backend"]
    assert backend["reachable"] is False and backend["fallback"] == "disk"


def test_redis_url_without_the_redis_package_is_a_configuration_error(tmp_path, cli_env):
    """`sys.modules['redis'] = None` makes `import redis` fail as if it were not installed."""
    env = dict(cli_env, PLANTID_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    photo = make_photos(tmp_path / "photos", 1)[0]
    code = (
        "import sys; sys.modules['redis'] = None; sys.argv = ['plantid', *sys.argv[1:]];"
        " from plantid_cli.cli import main; main()"
    )
    for args in (["identify", str(photo)], ["status"]):
        result = __import__("subprocess").run(
            [sys.executable, "-c", code, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
        )
        assert result.returncode == 3, (args, result.stdout, result.stderr)
        assert "pip install 'plantid-cli[redis]'" in result.stderr
        assert "internal error" not in result.stderr and "Traceback" not in result.stderr


def test_a_password_in_the_redis_url_query_is_never_shown(tmp_path, sandbox, cli_env):
    secret = "query-pw-6b1d9e4f"
    url = f"redis://127.0.0.1:{free_port()}/0?password={secret}"  # nothing listens there
    env = machine(cli_env, tmp_path, "m1", url)
    for args in (["config", "show"], ["config", "show", "--json"]):
        shown = run_plantid(args, env)
        assert shown.returncode == 0, shown.stderr
        assert secret not in shown.stdout + shown.stderr
        assert "redis_url" in shown.stdout
    photo = make_photos(tmp_path / "photos", 1)[0]
    result = run_plantid(["identify", photo, "-v"], env)  # the unreachable warning
    assert result.returncode == 0, result.stderr
    assert "[REDIS] unreachable" in result.stderr
    assert secret not in result.stdout + result.stderr
