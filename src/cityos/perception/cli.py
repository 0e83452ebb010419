"""CLI doors of perception: `cityos ingest mqtt`, `cityos simulate sensors`, `cityos perception backfill`."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated

import typer

ingest_app = typer.Typer(help="Telemetry ingest.", no_args_is_help=True)
simulate_app = typer.Typer(help="Simulators.", no_args_is_help=True)


@ingest_app.command("mqtt")
def ingest_mqtt(
    url: Annotated[str | None, typer.Option(help="broker URL (default: CITYOS_MQTT_URL)")] = None,
    client_id: Annotated[str, typer.Option(help="MQTT client id: the persistent session's name")] = "cityos-ingest",
    group: Annotated[str, typer.Option(help="shared subscription group")] = "cityos",
    batch: Annotated[int, typer.Option(help="messages per database transaction (at most)")] = 500,
    max_wait_ms: Annotated[int, typer.Option(help="longest wait to fill a batch")] = 200,
    seconds: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
    metrics_port: Annotated[int | None, typer.Option(help="serve Prometheus metrics on this port")] = None,
) -> None:
    """Consume `$share/<group>/cityos/v1/devices/+/telemetry` (MQTT 5, QoS 1, persistent session)."""
    from cityos.cli import platform
    from cityos.perception.mqtt import MqttIngest

    if not 1 <= batch <= 10_000:
        raise typer.BadParameter("must be between 1 and 10000", param_hint="--batch")
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port)
    ing = MqttIngest(platform(), url, client_id=client_id, group=group, batch=batch, max_wait_s=max_wait_ms / 1000)
    signal.signal(signal.SIGTERM, ing.request_stop)
    signal.signal(signal.SIGINT, ing.request_stop)
    ing.run(max_seconds=seconds)
    typer.echo(f"stored {ing.stored} reading(s)")


@simulate_app.command("sensors")
def simulate_sensors(
    devices: Annotated[int, typer.Option(help="how many devices report")] = 100,
    rate: Annotated[float, typer.Option(help="messages per second, in all")] = 10.0,
    scenario: Annotated[str | None, typer.Option(help="rockfall | rainstorm: drive a risk point's level")] = None,
    risk_point: Annotated[str | None, typer.Option(help="the scenario's risk point (default: the first)")] = None,
    minutes: Annotated[float, typer.Option(help="scenario length: blue to red in this many minutes")] = 4.0,
    seconds: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
    http: Annotated[str | None, typer.Option(help="send over HTTP to this base URL instead of MQTT")] = None,
    api_key: Annotated[str | None, typer.Option(help="API key with telemetry.write (for --http)")] = None,
    url: Annotated[str | None, typer.Option(help="broker URL (default: CITYOS_MQTT_URL)")] = None,
    seed: Annotated[int, typer.Option(help="random seed")] = 1,
) -> None:
    """Publish telemetry for registered devices (and a hazard scenario) to MQTT or HTTP."""
    from sqlalchemy import select

    from cityos.cli import platform
    from cityos.perception import simulate as sim
    from cityos.perception import store

    if scenario not in (None, "rockfall", "rainstorm"):
        raise typer.BadParameter("must be rockfall or rainstorm", param_hint="--scenario")
    if devices < 0 or rate < 0:
        raise typer.BadParameter("must not be negative", param_hint="--devices/--rate")
    p = platform()
    with p.db.read() as conn:
        rows = conn.execute(select(store.devices.c.code, store.devices.c.type).where(
            store.devices.c.status == "active", store.devices.c.risk_point.is_(None))
            .order_by(store.devices.c.code).limit(devices)).all()
        chosen = {str(c): str(t) for c, t in rows}
        sc = None
        if scenario:
            q = select(store.risk_points.c.code).order_by(store.risk_points.c.code).limit(1)
            rp = risk_point or conn.execute(q).scalar()
            if rp is None:
                raise typer.BadParameter("no risk point registered; run `cityos demo seed` first")
            members = [dict(r) for r in conn.execute(select(store.devices).where(
                store.devices.c.risk_point == rp)).mappings()]
            sc = sim.Scenario(scenario, sim.scenario_devices(members), minutes * 60)
            typer.echo(f"scenario {scenario} on risk point {rp}: {', '.join(sc.devices)}", err=True)
    p.close()
    if http:
        send, close = sim.http_sender(http, api_key)
    else:
        send, close = sim.mqtt_sender(url or p.settings.mqtt_url or "")
    try:
        n = sim.run(chosen, rate, send, seconds=seconds, scenario=sc, seed=seed)
    except KeyboardInterrupt:
        n = -1
    finally:
        close()
    typer.echo(f"sent {n} message(s)")


perception_app = typer.Typer(help="Perception: devices and telemetry.", no_args_is_help=True)


@perception_app.command("backfill")
def backfill_file(
    file: Annotated[Path, typer.Argument(help="CSV (device_code,key,ts,value) or JSON Lines file")],
    fmt: Annotated[str | None, typer.Option("--format", help="csv | jsonl (default: by the file's suffix)")] = None,
) -> None:
    """Load historical readings from a file (one transaction; a re-run adds nothing)."""
    import sys
    import time

    from cityos.cli import platform
    from cityos.perception.backfill import backfill

    t0 = time.monotonic()

    def progress(phase: str, done: int, total: int) -> None:
        if phase == "read" and total:
            msg = f"read {done / total:.0%} of {file.name}"
        else:
            msg = {"insert": "storing new readings", "rollups": "rolling up"}.get(phase, phase)
        print(f"[{time.monotonic() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)

    res = backfill(platform(), file, fmt, progress)
    typer.echo(f"{res.rows} reading(s) read, {res.inserted} new, {res.rows - res.inserted} already stored; "
               f"{res.seconds:.1f} s")
