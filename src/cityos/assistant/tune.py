"""The assistant's settings, chosen on the dev split only (`cityos assistant tune`).

`data/settings.json` holds the chosen values; the classifier and the duplicate score read them at
build time. The grid search fits on train and scores dev; the test split is never read here."""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from cityos.assistant import evalset

SETTINGS_FILE = Path(__file__).parent / "data" / "settings.json"


@dataclass(frozen=True)
class Tuning:
    category_weight: float = 4.0  # weight of a subclass description against one labelled example
    max_n: int = 3  # longest character n-gram
    class_spread: bool = True  # multiply IDF by the class-spread factor
    blend: float = 0.7  # score = blend * best neighbour + (1 - blend) * second best
    dup_threshold: float = 0.45  # duplicate score at which a pair is suggested
    ridge: float = 0.0  # share of the kernel ridge head in the score (0: nearest neighbours only)
    lam: float = 1.0  # ridge regularisation
    hierarchy: float = 0.0  # weight of the class-level (P01, E04, ...) ridge score
    temperature: float = 0.05  # softmax temperature of the confidences, fitted on dev (calibration)


def load_settings() -> Tuning:
    if not SETTINGS_FILE.exists():
        return Tuning()
    raw = json.loads(SETTINGS_FILE.read_text(encoding="utf-8"))
    known = {k: v for k, v in raw.get("settings", {}).items() if k in Tuning.__dataclass_fields__}
    return replace(Tuning(), **known)


# the encoder's settings (each costs a fit of the TF-IDF and of the example similarity matrix) ...
ENCODER_GRID: dict[str, list[Any]] = {
    "max_n": [3, 4],
    "class_spread": [True, False],
}
# ... the example weights and the ridge (one linear solve each) ...
SOLVE_GRID: dict[str, list[Any]] = {
    "category_weight": [2.0, 4.0, 8.0, 16.0],
    "lam": [0.03, 0.1, 0.3, 1.0],
}
# ... and how the parts are combined (free)
COMBINE_GRID: dict[str, list[Any]] = {
    "blend": [0.5, 1.0],
    "ridge": [0.0, 0.25, 0.5, 0.75, 1.0],
    "hierarchy": [0.0, 0.25, 0.5],
}
TEMPERATURES = [round(0.01 * 1.25 ** i, 4) for i in range(25)]
# a pair near in space and time with nothing else in common scores 0.2 + 0.2 = 0.4 at most: the
# threshold must lie above that, or every neighbour reported the same hour is a "duplicate"
DUP_GRID = [0.42, 0.45, 0.5, 0.55, 0.6]


def nll(conf_of_gold: np.ndarray) -> float:
    return float(-np.log(np.maximum(conf_of_gold, 1e-12)).mean())


def search(model: str = "tfidf") -> dict[str, Any]:
    """Every combination of the grids fitted on train and scored on dev (top-1, then top-3, then
    the fewest changes from the defaults); then the softmax temperature with the lowest negative
    log-likelihood of the gold subclass on dev (calibration); then the duplicate threshold with the
    best F1 on dev pairs. The test split is not read."""
    from cityos.assistant.evaluate import catalogue, duplicate_eval
    from cityos.assistant.handlers import build_classifier

    cats = catalogue()
    train, dev = evalset.load("train"), evalset.load("dev")
    gold = [r["category"] for r in dev]
    texts = [r["text"] for r in dev]
    trials: list[dict[str, Any]] = []
    default = asdict(Tuning())
    for enc_values in itertools.product(*ENCODER_GRID.values()):
        base = replace(Tuning(), **dict(zip(ENCODER_GRID, enc_values, strict=True)))
        clf = build_classifier(cats, [], model=model, train=train, tuning=replace(base, category_weight=1.0))
        gold_idx = np.array([clf.labels.index(g) for g in gold])
        is_category = np.array([e.source == "category" for e in clf.examples])
        sims = clf.similarities(texts)
        for solve_values in itertools.product(*SOLVE_GRID.values()):
            t = replace(base, **dict(zip(SOLVE_GRID, solve_values, strict=True)))
            clf.set_weights(np.where(is_category, t.category_weight, 1.0))
            clf.solve(t.lam)
            for blend in COMBINE_GRID["blend"]:
                clf.blend = blend
                parts = clf.parts(texts, sims)
                for ridge, hierarchy in itertools.product(COMBINE_GRID["ridge"], COMBINE_GRID["hierarchy"]):
                    clf.ridge, clf.hierarchy = ridge, hierarchy
                    sc = clf.combine(parts)
                    order = np.argsort(-sc, axis=1, kind="stable")
                    top1 = float((order[:, 0] == gold_idx).mean())
                    top3 = float((order[:, :3] == gold_idx[:, None]).any(axis=1).mean())
                    s = replace(t, blend=blend, ridge=ridge, hierarchy=hierarchy)
                    trials.append({"settings": asdict(s), "dev_top1": round(top1, 4), "dev_top3": round(top3, 4)})
    keys = [*ENCODER_GRID, *SOLVE_GRID, *COMBINE_GRID]
    trials.sort(key=lambda r: (-r["dev_top1"], -r["dev_top3"], sum(r["settings"][k] != default[k] for k in keys)))
    best = replace(Tuning(), **trials[0]["settings"])
    clf = build_classifier(cats, [], model=model, train=train, tuning=best)
    sc, _ = clf.scores(texts)
    gold_idx = np.array([clf.labels.index(g) for g in gold])
    calib = []
    for temp in TEMPERATURES:
        clf.temperature = temp
        conf = clf.confidences(sc)
        calib.append((nll(conf[np.arange(len(gold)), gold_idx]), temp))
    best = replace(best, temperature=min(calib)[1])
    dups = []
    for th in DUP_GRID:
        d = duplicate_eval(clf, dev, threshold=th)
        p, r = d["precision"], d["recall"]
        dups.append({"threshold": th, "precision": p, "recall": r, "f1": round(2 * p * r / (p + r), 4) if p + r else 0})
    dups.sort(key=lambda d: (-d["f1"], -d["precision"]))
    best = replace(best, dup_threshold=dups[0]["threshold"])
    return {"chosen_on": "dev", "settings": asdict(best), "dev_top1": trials[0]["dev_top1"],
            "dev_top3": trials[0]["dev_top3"], "dev_nll": round(min(calib)[0], 4), "dev_duplicates": dups[0],
            "trials": len(trials), "runners_up": trials[1:6]}


def write(result: dict[str, Any]) -> None:
    SETTINGS_FILE.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
