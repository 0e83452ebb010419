"""The assistant's settings, chosen on the dev split only (`cityos assistant tune`).

`data/settings.json` holds the chosen values; the classifier and the duplicate score read them at
build time. The grid search fits on train and scores dev; the test split is never read here."""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from cityos.assistant import evalset

SETTINGS_FILE = Path(__file__).parent / "data" / "settings.json"


@dataclass(frozen=True)
class Tuning:
    category_weight: float = 4.0  # weight of a subclass description against one labelled example
    max_n: int = 3  # longest character n-gram
    class_spread: bool = True  # multiply IDF by the class-spread factor
    blend: float = 0.7  # score = blend * best neighbour + (1 - blend) * second best
    dup_threshold: float = 0.45  # duplicate score at which a pair is suggested


def load_settings() -> Tuning:
    if not SETTINGS_FILE.exists():
        return Tuning()
    raw = json.loads(SETTINGS_FILE.read_text(encoding="utf-8"))
    known = {k: v for k, v in raw.get("settings", {}).items() if k in Tuning.__dataclass_fields__}
    return replace(Tuning(), **known)


GRID: dict[str, list[Any]] = {
    "category_weight": [1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0],
    "max_n": [2, 3, 4],
    "class_spread": [True, False],
    "blend": [0.5, 0.7, 0.85, 1.0],
}
# a pair near in space and time with nothing else in common scores 0.2 + 0.2 = 0.4 at most: the
# threshold must lie above that, or every neighbour reported the same hour is a "duplicate"
DUP_GRID = [0.42, 0.45, 0.5, 0.55, 0.6]


def search(model: str = "tfidf") -> dict[str, Any]:
    """Every combination of GRID fitted on train and scored on dev (top-1, then top-3, then the
    default's neighbourhood as the tie-break); then the duplicate threshold with the best F1 on dev pairs."""
    from cityos.assistant.evaluate import catalogue, duplicate_eval
    from cityos.assistant.handlers import build_classifier

    cats = catalogue()
    train, dev = evalset.load("train"), evalset.load("dev")
    gold = [r["category"] for r in dev]
    texts = [r["text"] for r in dev]
    trials = []
    for values in itertools.product(*GRID.values()):
        t = replace(Tuning(), **dict(zip(GRID, values, strict=True)))
        preds = build_classifier(cats, [], model=model, train=train, tuning=t).predict(texts)
        top1 = sum(p[0].category == g for p, g in zip(preds, gold, strict=True)) / len(gold)
        top3 = sum(g in [s.category for s in p[:3]] for p, g in zip(preds, gold, strict=True)) / len(gold)
        trials.append({"settings": asdict(t), "dev_top1": round(top1, 4), "dev_top3": round(top3, 4)})
    default = asdict(Tuning())
    trials.sort(key=lambda r: (-r["dev_top1"], -r["dev_top3"],
                               sum(r["settings"][k] != default[k] for k in GRID)))
    best = replace(Tuning(), **trials[0]["settings"])
    clf = build_classifier(cats, [], model=model, train=train, tuning=best)
    dups = []
    for th in DUP_GRID:
        d = duplicate_eval(clf, dev, threshold=th)
        p, r = d["precision"], d["recall"]
        dups.append({"threshold": th, "precision": p, "recall": r, "f1": round(2 * p * r / (p + r), 4) if p + r else 0})
    dups.sort(key=lambda d: (-d["f1"], -d["precision"]))
    best = replace(best, dup_threshold=dups[0]["threshold"])
    return {"chosen_on": "dev", "settings": asdict(best), "dev_top1": trials[0]["dev_top1"],
            "dev_top3": trials[0]["dev_top3"], "dev_duplicates": dups[0], "trials": len(trials),
            "runners_up": trials[1:6]}


def write(result: dict[str, Any]) -> None:
    SETTINGS_FILE.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
