"""`cityos dashboard import-series FILE`: load indicator series from CSV (all rows or none);
`cityos dashboard rebuild-counters`: recount the open-case counters the screen reads."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

dashboard_app = typer.Typer(help="The command screen.", no_args_is_help=True)


@dashboard_app.command("import-series")
def import_series(file: Annotated[Path, typer.Argument(help="CSV: name,unit,source,node,period,value")]) -> None:
    """Import indicator series; a bad file names its bad rows and writes nothing."""
    from cityos.cli import platform
    from cityos.core.errors import CityOSError
    from cityos.dashboard import handlers as h
    from cityos.identity.model import SYSTEM

    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        typer.echo(f"cannot read {file}: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        n = h.import_series(platform(), SYSTEM, text)
    except CityOSError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"imported {n} values")


@dashboard_app.command("rebuild-counters")
def rebuild_counters() -> None:
    """Recount the open-case counters per division node from the cases (after a bulk load or a restore)."""
    import time

    from cityos.cli import platform
    from cityos.governance import store

    p = platform()
    t0 = time.perf_counter()
    with p.db.begin() as conn:
        rows = store.rebuild_case_counts(conn)
    typer.echo(f"rebuilt {rows} counter rows in {time.perf_counter() - t0:.1f}s")
