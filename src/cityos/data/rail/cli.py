"""`cityos rail ...`: keep a district warehouse table in sync with a change feed."""

from __future__ import annotations

import signal
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

rail_app = typer.Typer(help="The data high-speed rail: change feeds and warehouse sync.", no_args_is_help=True)
err = Console(stderr=True)
out = Console()


@rail_app.command("sync")
def sync(
    dataset: Annotated[str, typer.Argument(help="the feed: residents, legal_entities, buildings, pois, licences, "
                                                "credit_records or risk_areas")],
    to: Annotated[str, typer.Option("--to", help="the warehouse: sqlite:///path or postgresql://...")],
    table: Annotated[str | None, typer.Option(help="the warehouse table (default: the feed's name)")] = None,
    follow: Annotated[bool, typer.Option(help="keep following the feed until stopped (Ctrl-C)")] = False,
    interval: Annotated[float, typer.Option(help="seconds between polls when caught up (--follow)")] = 0.2,
    batch: Annotated[int, typer.Option(help="changes per warehouse transaction")] = 10_000,
    from_url: Annotated[str | None, typer.Option("--from", help="read the feed over HTTP from this CityOS "
                                                                "(default: this CityOS's database)")] = None,
    key: Annotated[str | None, typer.Option(help="API key or bearer token of an approved subscriber (--from)")] = None,
) -> None:
    """Snapshot the feed's table into the warehouse once, then apply its changes (resumable, idempotent)."""
    from cityos.data.rail.sync import DatabaseSource, HttpSource, Source, Sync

    source: Source
    if from_url:
        if not key:
            err.print("--from needs --key (an approved subscriber's API key)")
            raise typer.Exit(2)
        source = HttpSource(from_url, key)
    else:
        from cityos.cli import platform

        source = DatabaseSource(platform().db)
    to = to.replace("postgresql://", "postgresql+psycopg://") if to.startswith("postgresql://") else to
    s = Sync(source, dataset, to, table)
    stop = {"now": False}

    def _stop(*_: Any) -> None:
        stop["now"] = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err) as bars:
            tasks: dict[str, Any] = {}

            def progress(phase: str, n: int, total: int | None) -> None:
                if phase not in tasks:
                    tasks[phase] = bars.add_task(f"{dataset} {phase}", total=total)
                if total is not None:
                    bars.update(tasks[phase], total=total)
                if n:
                    bars.advance(tasks[phase], n)

            result = s.run(follow=follow, interval_s=interval, limit=batch, progress=progress,
                           should_stop=lambda: stop["now"])
    finally:
        s.close()
    snap = result["snapshot"]
    line = f"{result['dataset']} → {result['table']}: at sequence {result['seq']:,}, {result['applied']:,} change(s) applied"
    if snap:
        line += f" after a snapshot of {snap['rows']:,} row(s) at sequence {snap['seq']:,}"
    out.print(line, highlight=False)
