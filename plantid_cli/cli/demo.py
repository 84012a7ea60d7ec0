"""`plantid demo`: the main job on the embedded default — a private sandbox, no key, nothing
real spent. The answers are the sandbox's, derived from the image bytes (an aloe may come out
as an oak), and the demo says so before and after the table; the credits it counts are the
sandbox's make-believe ones, and the summary calls them that."""

from __future__ import annotations

import os
import tempfile
from typing import Annotated

import typer

from plantid_cli.cli.options import DemoFormat, PlantidCommand, shared_options

EXAMPLES = "examples/"
#: Said after the table: the sandbox picks a species from the image bytes, it does not look.
SANDBOX_ANSWERS = "sandbox answers from the image bytes, not real identifications"


def register(app: typer.Typer) -> None:
    app.command("demo", cls=PlantidCommand)(demo)


@shared_options
def demo(
    paths: Annotated[
        list[str] | None, typer.Argument(help=f"Photos or folders (default: {EXAMPLES}).")
    ] = None,
    fmt: DemoFormat = "table",
    latency_ms: Annotated[
        int, typer.Option("--latency-ms", help="Simulated service latency.")
    ] = 300,
) -> None:
    """Start a sandbox on a free loopback port and identify photos against it.

    Nothing leaves the machine and no real credit is spent. The answers are sandbox answers,
    derived from the image bytes: they show the tool at work, not what the plants are. Example:

        plantid demo examples/
    """
    # lazy: keeps the identify run and sandbox.server off every command's start-up (app imports all)
    from plantid_cli.cli.common import run_guarded
    from plantid_cli.cli.identify_run import run_identify
    from plantid_cli.run.options import IdentifyOptions
    from plantid_cli.sandbox.server import SandboxServer

    if not paths and not os.path.isdir(EXAMPLES):
        # the default is the source tree's folder: from an installed copy elsewhere it was a
        # one-row table of "no such file or folder: examples/" (README walk-through, session 19)
        typer.echo(
            f"plantid: error: no photos given, and no {EXAMPLES} folder here (the source "
            "tree's): give photos or folders, e.g. `plantid demo ~/Pictures/plants`",
            err=True,
        )
        raise typer.Exit(2)
    server = SandboxServer(port=0, latency_ms=latency_ms)
    server.start()
    with tempfile.TemporaryDirectory(prefix="plantid-demo-") as cache_dir:
        # lazy: keeps config off every command's start-up (app imports all)
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
        typer.echo(f"plantid demo: sandbox at {server.url}; nothing leaves this machine", err=True)
        try:
            options = IdentifyOptions(paths=tuple(paths or [EXAMPLES]), format=fmt)
            code = run_guarded(run_identify, options, credit="sandbox credit")
        finally:
            server.stop()
        typer.echo(f"plantid demo: {SANDBOX_ANSWERS}", err=True)
    raise typer.Exit(code)
