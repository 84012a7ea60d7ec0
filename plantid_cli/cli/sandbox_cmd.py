"""`plantid sandbox`: run the local stand-in of both services (demos, rehearsals, tests)."""

from __future__ import annotations

import typer

from plantid_cli.cli.options import PlantidCommand


def register(app: typer.Typer) -> None:
    app.command("sandbox", cls=PlantidCommand)(sandbox)


def sandbox(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8765, "--port", help="Port (0 picks a free one)."),
    latency_ms: int = typer.Option(
        0, "--latency-ms", help="Delay before each identification answer."
    ),
    fail_rate: float = typer.Option(0.0, "--fail-rate", help="Fraction of calls answered 500."),
    mode: str = typer.Option(
        None,
        "--mode",
        help="Fault mode: error500, error503, hang, credits, auth, drip, reset, echo_key; "
        "charged but unusable answers: badjson, badshape, badtypes, badlist, badnumber, hugelist.",
    ),
    key: str = typer.Option(
        None, "--key", help="Accept only this API key (default: any non-empty key)."
    ),
) -> None:
    """Serve Plant.id v3 and Pl@ntNet v2 on loopback, with answers derived from the image.

    Example:

        plantid sandbox --port 8765 --latency-ms 200 &

        export PLANTID_API_URL=http://127.0.0.1:8765/api/v3 PLANTID_API_KEY=demo

        export PLANTNET_API_URL=http://127.0.0.1:8765/v2 PLANTNET_API_KEY=demo

        plantid identify examples/ --provider both
    """
    # lazy: keeps sandbox.server off every command's start-up (app imports all)
    from plantid_cli.sandbox.server import serve

    serve(host=host, port=port, latency_ms=latency_ms, fail_rate=fail_rate, mode=mode, key=key)
