"""`plantid sandbox`: run the local stand-in of both services (demos, rehearsals, tests).

Every knob of the sandbox (sandbox/settings.KNOBS: credits, latency, faults...) is an option
here, with the default and help from that table; tests/test_sandbox_cli.py fails when one is
missing, so `python -m plantid_cli.sandbox` is never the only way to reach a knob."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from plantid_cli.cli.options import PlantidCommand
from plantid_cli.sandbox.settings import KNOBS, MODES

FAULTS = tuple(sorted(MODES))


def register(app: typer.Typer) -> None:
    app.command("sandbox", cls=PlantidCommand)(sandbox)


def _knob(name: str) -> typer.models.OptionInfo:
    default, help_text = KNOBS[name]
    return typer.Option(
        "--" + name.replace("_", "-"),
        help=help_text,
        show_default=default is not None,
        metavar="MODE" if name.startswith("mode") else None,
    )


def sandbox(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port (0 picks a free one).")] = 8765,
    port_file: Annotated[
        str | None,
        typer.Option("--port-file", metavar="FILE", help="Write the port chosen to this file."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Log each request to stderr.")] = False,
    key: Annotated[str | None, _knob("key")] = None,
    latency_ms: Annotated[float, _knob("latency_ms")] = KNOBS["latency_ms"][0],
    fail_rate: Annotated[float, _knob("fail_rate")] = KNOBS["fail_rate"][0],
    mode: Annotated[Literal[FAULTS] | None, _knob("mode")] = None,
    mode_plantid: Annotated[Literal[FAULTS] | None, _knob("mode_plantid")] = None,
    mode_plantnet: Annotated[Literal[FAULTS] | None, _knob("mode_plantnet")] = None,
    credits: Annotated[int, _knob("credits")] = KNOBS["credits"][0],
    plantnet_quota: Annotated[int, _knob("plantnet_quota")] = KNOBS["plantnet_quota"][0],
    seed: Annotated[int, _knob("seed")] = KNOBS["seed"][0],
    hang_seconds: Annotated[float, _knob("hang_seconds")] = KNOBS["hang_seconds"][0],
    drip_interval: Annotated[float, _knob("drip_interval")] = KNOBS["drip_interval"][0],
    retry_after: Annotated[float, _knob("retry_after")] = KNOBS["retry_after"][0],
    fault_reread: Annotated[bool, _knob("fault_reread")] = KNOBS["fault_reread"][0],
    usage_hang: Annotated[bool, _knob("usage_hang")] = KNOBS["usage_hang"][0],
    hold_after: Annotated[int | None, _knob("hold_after")] = None,
    bomb_mb: Annotated[int, _knob("bomb_mb")] = KNOBS["bomb_mb"][0],
) -> None:
    """Serve Plant.id v3 and Pl@ntNet v2 on loopback, with answers derived from the image.

    Answers are made from the image bytes, not real; 10,000 sandbox credits by default.

    Examples:

        plantid sandbox --port 8765 --latency-ms 200 &

        export PLANTID_API_URL=http://127.0.0.1:8765/api/v3 PLANTID_API_KEY=demo

        export PLANTNET_API_URL=http://127.0.0.1:8765/v2 PLANTNET_API_KEY=demo

        plantid identify examples/ --provider both

        plantid sandbox --port 0 --port-file port.txt --credits 3 --mode-plantid error503
    """
    # lazy: keeps sandbox.server off every command's start-up (app imports all)
    from plantid_cli.sandbox.server import serve

    serve(
        host=host,
        port=port,
        port_file=port_file,
        verbose=verbose,
        key=key,
        latency_ms=latency_ms,
        fail_rate=fail_rate,
        mode=mode,
        mode_plantid=mode_plantid,
        mode_plantnet=mode_plantnet,
        credits=credits,
        plantnet_quota=plantnet_quota,
        seed=seed,
        hang_seconds=hang_seconds,
        drip_interval=drip_interval,
        retry_after=retry_after,
        fault_reread=fault_reread,
        usage_hang=usage_hang,
        hold_after=hold_after,
        bomb_mb=bomb_mb,
    )
