"""`cityos assistant ...` commands."""

from __future__ import annotations

import json
from typing import Annotated

import typer

assistant_app = typer.Typer(help="The assistant: classification, duplicates, answers.", no_args_is_help=True)


@assistant_app.command("eval")
def evaluate(model: Annotated[str, typer.Option(help="tfidf (built in) or e5 (extra `assistant`)")] = "tfidf",
             write: Annotated[bool, typer.Option(help="also write data/eval_report.json (shown on /assistant)")] = False,
             ) -> None:
    """Print top-1/top-3 accuracy, macro-F1, duplicate precision/recall and latency as JSON."""
    from cityos.assistant.evaluate import REPORT_FILE, run

    text = json.dumps(run(model), ensure_ascii=False, indent=2)
    if write:
        REPORT_FILE.write_text(text + "\n", encoding="utf-8")
    typer.echo(text)


@assistant_app.command("tune")
def tune(write: Annotated[bool, typer.Option(help="write data/settings.json")] = False) -> None:
    """Choose the settings on the dev split (grid search; the test split is not read) and print them."""
    from cityos.assistant import tune as t

    result = t.search()
    if write:
        t.write(result)
    typer.echo(json.dumps(result, ensure_ascii=False, indent=2))


@assistant_app.command("build-evalset")
def build_evalset() -> None:
    """Rewrite data/cases_eval.jsonl from the hand-written phrasings (deterministic)."""
    from cityos.assistant.evalset import write

    typer.echo(f"wrote {write()} labelled texts")
