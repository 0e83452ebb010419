"""`cityos ds ...`: validate, publish and retire data service interface definitions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

ds_app = typer.Typer(help="Data service interfaces (the /ds/v1/ gateway).", no_args_is_help=True)
err = Console(stderr=True)
out = Console()


def _platform() -> Any:
    from cityos.cli import platform

    return platform()


def _read(file: Path) -> list[dict[str, Any]]:
    from cityos.data.services.handlers import load_documents

    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        err.print(f"[red]file: cannot read {file}: {exc.strerror}[/red]", highlight=False)
        raise typer.Exit(2) from None
    return load_documents(text)


@ds_app.command("validate")
def ds_validate(file: Annotated[Path, typer.Argument(help="a YAML or JSON file of one or more definitions")]) -> None:
    """Check definitions without publishing them."""
    from cityos.data.services.handlers import validate

    for d in validate(_read(file)):
        out.print(f"ok: {d.code} version {d.version} ({d.sharing}, {len(d.params)} parameter(s))", highlight=False)


@ds_app.command("publish")
def ds_publish(file: Annotated[Path, typer.Argument(help="a YAML or JSON file of one or more definitions")]) -> None:
    """Publish each definition as a new immutable version (all or nothing)."""
    from cityos.data.services.handlers import Publish
    from cityos.identity.model import SYSTEM

    p = _platform()
    for r in p.bus.handle(Publish(SYSTEM, _read(file))):
        out.print(f"{'published' if r['published'] else 'unchanged'}: {r['code']} version {r['version']}",
                  highlight=False)


@ds_app.command("retire")
def ds_retire(code: str, version: int) -> None:
    """Retire one version: its calls are refused from now on."""
    from cityos.data.services.handlers import Retire
    from cityos.identity.model import SYSTEM

    r = _platform().bus.handle(Retire(SYSTEM, code, version))
    out.print(f"retired: {code} version {version}; latest is now {r['latest_version']}", highlight=False)


@ds_app.command("list")
def ds_list(q: Annotated[str | None, typer.Option(help="search text")] = None,
            as_json: Annotated[bool, typer.Option("--json", help="JSON output")] = False) -> None:
    """The published interfaces."""
    from cityos.data.services import store

    with _platform().db.read() as conn:
        items = store.search_interfaces(conn, q, None, None)
    if as_json:
        print(json.dumps([{k: i[k] for k in ("code", "name", "owner", "sharing", "latest_version")} for i in items],
                         ensure_ascii=False))
        return
    for i in items:
        out.print(f"{i['code']:32} v{i['latest_version']}  {i['sharing']:13} {i['owner']:20} {i['name']}",
                  highlight=False)
