"""`plantid sandbox` offers every sandbox knob, with defaults that rehearse a real batch
(issue 16: it stopped at 100 credits, and `--credits` existed only in
`python -m plantid_cli.sandbox`)."""

from __future__ import annotations

import subprocess
import sys

import httpx
from conftest import REPO, wait_for

from plantid_cli.sandbox.settings import KNOBS


def _options(command) -> set[str]:
    return {opt for param in command.params for opt in getattr(param, "opts", [])}


def test_every_knob_is_a_plantid_sandbox_option_and_a_module_option():
    import typer

    from plantid_cli.cli.app import build_app

    command = typer.main.get_command(build_app()).commands["sandbox"]  # type: ignore[attr-defined]
    flags = {"--" + name.replace("_", "-") for name in KNOBS}
    assert flags - _options(command) == set()
    module_help = subprocess.run(
        [sys.executable, "-m", "plantid_cli.sandbox", "--help"],
        capture_output=True, text=True, cwd=REPO, timeout=30,
    ).stdout  # fmt: skip
    assert {flag for flag in flags if flag not in module_help} == set()


def _start(args, env, tmp_path):
    port_file = tmp_path / "port"
    process = subprocess.Popen(
        [sys.executable, "-m", "plantid_cli", "sandbox", "--port", "0", "--port-file",
         str(port_file), *args],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    wait_for(lambda: port_file.exists() and port_file.read_text().strip())
    return process, f"http://127.0.0.1:{int(port_file.read_text())}"


def test_knobs_given_to_plantid_sandbox_reach_the_server(tmp_path, cli_env):
    args = ["--credits", "3", "--plantnet-quota", "7", "--mode-plantid", "error503",
            "--retry-after", "2", "--latency-ms", "5", "--fault-reread",
            "--hold-after", "4"]  # fmt: skip
    process, url = _start(args, cli_env, tmp_path)
    try:
        stats = httpx.get(f"{url}/_sandbox/stats", trust_env=False).json()
    finally:
        process.terminate()
        process.communicate(timeout=10)
    assert stats["credits"]["total"] == 3 and stats["plantnet_remaining"] == 7
    config = stats["config"]
    assert config["mode_plantid"] == "error503" and config["retry_after"] == 2.0
    assert config["latency_ms"] == 5.0 and config["fault_reread"] is True
    assert config["hold_after"] == 4


def test_the_defaults_rehearse_a_300_photo_folder(tmp_path, cli_env):
    """The README's rehearsal, with the sandbox's defaults, on 300 distinct photos."""
    from conftest import run_plantid
    from photos import green_photo

    folder = tmp_path / "card"
    for i in range(300):
        green_photo(folder / f"IMG_{i:04d}.jpg", (64, 48), seed=i)
    process, url = _start([], cli_env, tmp_path)
    try:
        env = {**cli_env, "PLANTID_API_URL": f"{url}/api/v3"}
        result = run_plantid(["identify", folder, "-j", "8", "-f", "ndjson"], env, timeout=600)
        stats = httpx.get(f"{url}/_sandbox/stats", trust_env=False).json()
    finally:
        process.terminate()
        process.communicate(timeout=10)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count('"status": "ok"') == 300
    assert stats["plantid_identify"] == 300 and stats["credits"]["used"] == 300
