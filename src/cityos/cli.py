"""The `cityos` command. Each subcommand is a thin door onto a handler."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cityos.core.errors import CityOSError

app = typer.Typer(help="CityOS: the digital city operating and governance platform.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
demo_app = typer.Typer(help="The seeded demo city.", no_args_is_help=True)
geo_app = typer.Typer(help="Divisions and grids.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(geo_app, name="geo")
apikey_app = typer.Typer(help="API keys.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)
user_app = typer.Typer(help="Users and roles.", no_args_is_help=True)
app.add_typer(apikey_app, name="apikey")
app.add_typer(audit_app, name="audit")
app.add_typer(user_app, name="user")
from cityos.perception.cli import ingest_app, perception_app, simulate_app  # noqa: E402  (perception's doors)

app.add_typer(ingest_app, name="ingest")
app.add_typer(simulate_app, name="simulate")
app.add_typer(perception_app, name="perception")


def _context_apps() -> None:
    from cityos.assistant.cli import assistant_app
    from cityos.dashboard.cli import dashboard_app
    from cityos.data.cli import data_app
    from cityos.data.rail.cli import rail_app
    from cityos.scenarios.cli import scenario_app

    app.add_typer(data_app, name="data")
    app.add_typer(rail_app, name="rail")
    app.add_typer(dashboard_app, name="dashboard")
    app.add_typer(assistant_app, name="assistant")
    app.add_typer(scenario_app, name="scenario")


_context_apps()

err = Console(stderr=True)
out = Console()


def platform() -> Any:
    from cityos.bootstrap import bootstrap
    from cityos.core.logging import configure

    p = bootstrap()
    configure(p.settings.log_level)
    return p


@contextmanager
def progress_bars() -> Iterator[Callable[[str, int], Callable[[int], None]]]:
    with Progress(TextColumn("{task.description:<14}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=False) as bars:

        def factory(name: str, total: int) -> Callable[[int], None]:
            task = bars.add_task(name, total=total)
            return lambda n: bars.advance(task, n)

        yield factory


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration (creates the schema on a new database)."""
    from cityos.core.migrate import upgrade

    p = platform()
    upgrade(p.db)
    out.print(f"database at {_safe_url(p.db.url)} is up to date")


@demo_app.command("seed")
def demo_seed(
    scale: Annotated[str, typer.Option(help="S, M or L (see DESIGN.md)")] = "S",
    seed: Annotated[int, typer.Option(help="random seed: the same seed gives the same city")] = 1,
) -> None:
    """Generate the demo city deterministically (replaces the demo data)."""
    from cityos.core.migrate import upgrade
    from cityos.demo.seed import resolve_scale, run_seed

    p = platform()
    sc = resolve_scale(scale)
    upgrade(p.db)
    with progress_bars() as factory:
        results = run_seed(p, sc, seed, factory)
    for step, counts in results.items():
        out.print(f"{step}: " + ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k}: {v}" for k, v in counts.items()))


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(help="server processes")] = 1,
) -> None:
    """Serve the web UI and the APIs."""
    import uvicorn

    p = platform()
    out.print(f"CityOS is at http://{host}:{port}/  (API docs: http://{host}:{port}/docs)")
    p.close()
    if workers <= 1:
        uvicorn.run("cityos.web.app:create_app", factory=True, host=host, port=port, log_level="warning",
                    proxy_headers=True)
        return
    if hasattr(__import__("socket"), "SO_REUSEPORT"):
        from cityos.web.serve import serve_reuseport

        serve_reuseport(host, port, workers)  # a socket per process: connections spread evenly
        return
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config("cityos.web.app:create_app", factory=True, host=host, port=port, workers=workers,
                            log_level="warning", proxy_headers=True)
    Multiprocess(config, sockets=[listening_socket(config)]).run()


def listening_socket(config: Any) -> Any:
    """The socket the server processes share, with TCP_NODELAY set on it (Linux passes it on to
    every accepted connection). uvicorn's own multi-process path leaves it off, and then each answer
    on a keep-alive connection waits ~40 ms for the client's delayed ACK (Nagle's algorithm)."""
    import socket

    sock = config.bind_socket()
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


@app.command("worker")
def worker(
    once: Annotated[bool, typer.Option(help="run one pass and exit")] = False,
    seconds: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
    name: Annotated[str | None, typer.Option(help="worker name in job records")] = None,
) -> None:
    """Relay the outbox and run durable jobs and timers."""
    from cityos.core.worker import Worker

    w = Worker(platform(), name=name)
    if once:
        out.print(f"did {w.run_once()} item(s)")
    else:
        w.run_forever(max_seconds=seconds)


@geo_app.command("import")
def geo_import(file: Annotated[Path, typer.Argument(help="a GeoJSON FeatureCollection of divisions")]) -> None:
    """Import divisions; the whole file is checked and written, or nothing is."""
    from cityos.geo.handlers import ImportDivisions, parse_geojson_file

    p = platform()
    data = parse_geojson_file(file)
    by_level = p.bus.handle(ImportDivisions(data, source=str(file)))
    out.print("imported " + ", ".join(f"{n:,} {lv}" for lv, n in by_level.items()))


@geo_app.command("export")
def geo_export(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="file to write (default: stdout)")] = None,
    level: Annotated[list[str] | None, typer.Option(help="only these levels (repeatable)")] = None,
) -> None:
    """Export divisions as a GeoJSON FeatureCollection."""
    from cityos.geo.handlers import export_divisions

    fc = export_divisions(platform(), level)
    text = json.dumps(fc, ensure_ascii=False)
    if output:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {len(fc['features']):,} features to {output}")
    else:
        sys.stdout.write(text + "\n")


@geo_app.command("locate")
def geo_locate(lon: float, lat: float) -> None:
    """Which grid, village, township and district a point lies in."""
    loc = platform().geo.locate(lon, lat)
    out.print_json(json.dumps(loc.as_dict(), ensure_ascii=False))
    if not loc.inside:
        raise typer.Exit(1)


def _system_actor() -> Any:
    from cityos.identity.model import SYSTEM

    return SYSTEM


@apikey_app.command("create")
def apikey_create(
    name: Annotated[str, typer.Option(help="what the key is for")],
    user: Annotated[str, typer.Option(help="the user the key acts as")] = "admin",
    scope: Annotated[list[str] | None, typer.Option(help="permission scopes, e.g. case.read or case.* (repeatable)")] = None,
    days: Annotated[int | None, typer.Option(help="expire after this many days")] = None,
) -> None:
    """Create an API key; the key is printed once, as the last line."""
    from datetime import timedelta

    from cityos.identity.handlers import CreateCredential

    p = platform()
    expires = p.clock.now() + timedelta(days=days) if days else None
    cid, secret = p.bus.handle(CreateCredential(_system_actor(), user, name, "api_key", tuple(scope or ["*"]), expires))
    err.print(f"API key #{cid} for {user} ({', '.join(scope or ['*'])}); store it now, it is not shown again:")
    print(secret)


@apikey_app.command("revoke")
def apikey_revoke(key_id: int) -> None:
    """Revoke an API key or token by its number."""
    from cityos.identity.handlers import RevokeCredential

    platform().bus.handle(RevokeCredential(_system_actor(), key_id))
    out.print(f"revoked #{key_id}")


@user_app.command("create")
def user_create(
    username: str,
    node: Annotated[str, typer.Option(help="division code the user belongs to")],
    role: Annotated[list[str] | None, typer.Option(help="role held at --node (repeatable)")] = None,
    name: Annotated[str, typer.Option(help="display name")] = "",
    password: Annotated[str | None, typer.Option(help="password (prompted when omitted)")] = None,
) -> None:
    """Create a user with roles at a node."""
    from cityos.identity.handlers import CreateUser

    if password is None:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    platform().bus.handle(CreateUser(_system_actor(), username, name, password, node, grants=[(r, node) for r in role or []]))
    out.print(f"created {username}")


@audit_app.command("seal")
def audit_seal() -> None:
    """Chain every audit record written so far (the worker does this every few seconds)."""
    from datetime import timedelta

    from cityos.identity.audit import seal

    p = platform()
    n = seal(p.db, p.clock.now(), horizon=timedelta(0))
    out.print(f"sealed {n:,} record(s)")


@audit_app.command("verify")
def audit_verify(
    workers: Annotated[int | None, typer.Option(min=1, help="processes checking seal_seq ranges side by side "
                                                "(default: 2 from 200,000 records on, else 1)")] = None,
) -> None:
    """Check the audit hash chain; name the first broken record. Exit 1 if broken."""
    from datetime import timedelta

    from cityos.identity import store
    from cityos.identity.audit import seal, verify

    p = platform()
    seal(p.db, p.clock.now(), horizon=timedelta(seconds=2))
    with p.db.read() as conn:
        from sqlalchemy import func, select

        total = conn.execute(select(func.count()).select_from(store.audit_log)).scalar_one()
    with progress_bars() as factory:
        result = verify(p.db, factory("verifying", int(total)), workers=workers)
    if result.ok:
        out.print(f"audit chain intact: {result.checked:,} sealed record(s) verified, {result.unsealed:,} not yet sealed")
        return
    err.print(f"[red]audit chain broken[/red] at seal_seq {result.broken_at} (record id {result.broken_id}): {result.reason}",
              highlight=False)
    raise typer.Exit(1)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main() -> None:
    try:
        app()
    except CityOSError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        if exc.details:
            for d in exc.details[:20] if isinstance(exc.details, list) else [exc.details]:
                err.print(f"  - {d}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()


case_app = typer.Typer(help="Cases of the governance loop.", no_args_is_help=True)
app.add_typer(case_app, name="case")


@case_app.command("import-hotline")
def case_import_hotline(file: Annotated[Path, typer.Argument(help="a CSV of 12345 work orders (UTF-8)")]) -> None:
    """Import 12345 work orders: every row is checked first; one bad row and nothing is written."""
    from cityos.governance.hotline import import_hotline

    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        err.print(f"[red]error:[/red] cannot read {file}: {exc}", highlight=False)
        raise typer.Exit(2) from None
    result = import_hotline(platform(), _system_actor(), text)
    for d in result["duplicates"]:
        err.print(f"line {d['line']}: work order {d['number']} was imported before: skipped", highlight=False)
    out.print(f"created {result['created']} case(s), skipped {len(result['duplicates'])} duplicate(s)")
