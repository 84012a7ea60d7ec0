"""`plantid demo`: the main job on the embedded default — a private sandbox, no key, no credits."""

from __future__ import annotations

import os
import tempfile

import typer


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    paths: list[str] = typer.Argument(None, help="Photos or folders (default: examples/)."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json, ndjson or csv."),
    latency_ms: int = typer.Option(300, "--latency-ms", help="Simulated service latency."),
) -> None:
    """Start a sandbox on a free loopback port and identify photos against it.

    Nothing leaves the machine; answers are derived from the image content. Example:

        plantid demo examples/
    """
    from plantid_cli.cli.identify import identify
    from plantid_cli.sandbox.server import SandboxServer

    server = SandboxServer(port=0, latency_ms=latency_ms)
    server.start()
    with tempfile.TemporaryDirectory(prefix="plantid-demo-") as cache_dir:
        from plantid_cli.config import env_name
        from plantid_cli.constants import CONFIG_ENV

        os.environ.update(
            {
                env_name("api_url"): server.plantid_url,
                env_name("plantnet_api_url"): server.plantnet_url,
                env_name("api_key"): "sandbox-demo-key",
                env_name("plantnet_api_key"): "sandbox-demo-key",
                env_name("cache_dir"): cache_dir,
                CONFIG_ENV: os.devnull,  # no config file: the defaults
            }
        )
        os.environ.pop(env_name("redis_url"), None)  # a demo never touches a fleet's state
        typer.echo(f"plantid demo: sandbox at {server.url} (nothing leaves this machine)", err=True)
        try:
            identify(paths=paths or ["examples/"], fmt=fmt, **_defaults())
        finally:
            server.stop()


def _defaults() -> dict:
    """Every other identify option at its unset value (Typer passes them when run as a command)."""
    import inspect

    from plantid_cli.cli.identify import identify

    values = {}
    for name, parameter in inspect.signature(identify).parameters.items():
        if name in ("paths", "fmt"):
            continue
        default = parameter.default
        values[name] = getattr(default, "default", default)
    return values
