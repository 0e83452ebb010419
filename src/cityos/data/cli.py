"""`cityos data ...`: import files into the base databases, refresh subject databases, export the catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

data_app = typer.Typer(help="Base databases, subject databases and the catalog.", no_args_is_help=True)
err = Console(stderr=True)
out = Console()


def _platform() -> Any:
    from cityos.cli import platform

    return platform()


@data_app.command("import")
def data_import(
    dataset: Annotated[str, typer.Argument(help="population, legal_entities, buildings, pois, licences or credit")],
    file: Annotated[Path, typer.Argument(help="a .csv (UTF-8, header row), .jsonl or .parquet file")],
    reject_limit: Annotated[int, typer.Option(help="stop and roll back after this many bad rows")] = 1000,
    restart: Annotated[bool, typer.Option(help="start over instead of resuming an interrupted import")] = False,
) -> None:
    """Validate and load a file (upsert by key); bad rows go to a reject file."""
    from cityos.data.handlers import ImportFile
    from cityos.identity.model import SYSTEM

    p = _platform()
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,.0f} rows"),
                  TimeElapsedColumn(), console=err) as bars:
        task = bars.add_task(f"import {dataset}", total=None)

        def tick(n: int, total: int | None) -> None:
            bars.advance(task, n)

        result = p.bus.handle(ImportFile(SYSTEM, dataset, str(file), reject_limit, not restart, tick))
    line = (f"{result['status']}: {result['accepted']:,} row(s) accepted, {result['rejected']:,} rejected"
            + (f" (rejects: {result['reject_file']})" if result.get("rejected") else ""))
    if result.get("note"):
        line += f" — {result['note']}"
    if result["status"] != "done":
        err.print(f"[red]{line}[/red]: {result.get('error')}", highlight=False)
        raise typer.Exit(1)
    out.print(line, highlight=False)


@data_app.command("refresh")
def data_refresh(name: Annotated[str | None, typer.Argument(help="one subject database (default: all)")] = None) -> None:
    """Refresh subject databases now (the worker also does it on a schedule)."""
    from cityos.data.handlers import RefreshSubject
    from cityos.identity.model import SYSTEM

    for n, rows in _platform().bus.handle(RefreshSubject(SYSTEM, name)).items():
        out.print(f"{n}: {rows:,} row(s)")


@data_app.command("dcat")
def data_dcat(fmt: Annotated[str, typer.Option("--format", help="turtle or json-ld")] = "turtle",
              base: Annotated[str, typer.Option(help="base URL of the site")] = "http://127.0.0.1:8000") -> None:
    """Print the whole catalog as DCAT-AP."""
    from cityos.data.dcat import export

    print(export(_platform(), base.rstrip("/"), fmt))
