"""`cityos scenario validate|publish FILE`: check or publish a "one thing" definition (YAML or JSON)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

scenario_app = typer.Typer(help="One-thing scenarios.", no_args_is_help=True)


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        typer.echo(f"cannot read {file}: {exc}", err=True)
        raise typer.Exit(2) from None


@scenario_app.command("validate")
def validate(file: Annotated[Path, typer.Argument(help="definition, YAML or JSON")]) -> None:
    """Check a definition whole; prints its dependency layers, or the item that is wrong."""
    from cityos.core.errors import CityOSError
    from cityos.scenarios.handlers import validate_definition

    try:
        sc = validate_definition(_read(file))
    except CityOSError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{sc.code} v{sc.version}: {len(sc.fields)} fields, {len(sc.matters)} matters")
    for i, layer in enumerate(sc.order(), start=1):
        typer.echo(f"  step {i}: {', '.join(layer)}")


@scenario_app.command("publish")
def publish(file: Annotated[Path, typer.Argument(help="definition, YAML or JSON")]) -> None:
    """Publish a new version (as the system; pre-fills must already be granted)."""
    from cityos.cli import platform
    from cityos.core.errors import CityOSError
    from cityos.identity.model import SYSTEM
    from cityos.scenarios.handlers import PublishScenario, publish_scenario

    try:
        out = publish_scenario(platform(), PublishScenario(SYSTEM, _read(file)))
    except CityOSError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"published {out['code']} v{out['version']}")
