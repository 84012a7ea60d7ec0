"""`plantid demo`: the main job on the embedded default — a private sandbox, no key, no credits."""

from __future__ import annotations

import os
import tempfile

import typer

from plantid_cli.cli.identify import identify


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
    # lazy: keeps sandbox.server off every command's start-up (app imports all)
    from plantid_cli.sandbox.server import SandboxServer

    server = SandboxServer(port=0, latency_ms=latency_ms)
    server.start()
    with tempfile.TemporaryDirectory(prefix="plantid-demo-") as cache_dir:
        os.environ.update(
            PLANTID_API_URL=server.plantid_url,
            PLANTNET_API_URL=server.plantnet_url,
            PLANTID_API_KEY="sandbox-demo-key",
            PLANTNET_API_KEY="sandbox-demo-key",
            PLANTID_CACHE_DIR=cache_dir,
            PLANTID_CONFIG=os.devnull,  # no config file: the defaults
        )
        os.environ.pop("PLANTID_REDIS_URL", None)  # a demo never touches a fleet's shared state
        typer.echo(f"plantid demo: sandbox at {server.url} (nothing leaves this machine)", err=True)
        try:
            identify(paths=paths or ["examples/"], fmt=fmt, **_defaults())
        finally:
            server.stop()


def _defaults() -> dict:
    """Every other identify option at its unset value (Typer passes them when run as a command)."""
    import inspect

    values = {}
    for name, parameter in inspect.signature(identify).parameters.items():
        if name in ("paths", "fmt"):
            continue
        default = parameter.default
        values[name] = getattr(default, "default", default)
    return values
