"""The subclass classifier: nearest neighbours plus a kernel ridge head, with a class-level prior.

Every example (a subclass description, a labelled text, an operator's correction) is a TF-IDF row
(`model.TfidfEncoder`: Chinese character n-grams, English words, stems and word pairs). A text's
cosine similarities to all examples give three scores per subclass:

- nearest neighbours: blend * best + (1 - blend) * second best weighted similarity of its examples
  (the best one is shown as the evidence: "the nearest labelled text");
- a kernel ridge head (regularised least squares, one-vs-rest, in dual form): score =
  sum_i alpha[i, subclass] * similarity(text, example i), alpha = (K + lam * diag(1/w))^-1 Y. It is
  a linear model over the n-gram features (the weights are X^T alpha), fitted in closed form,
  so it is deterministic and refits in well under a second when a correction arrives;
- the same head for the subclass's class (the catalogue's two-level hierarchy: P01 public
  facilities, E04 emergencies, ...), added with weight `hierarchy`.

The combined score becomes a confidence by a softmax whose temperature is fitted on the dev split
(`tune`), so "0.8" means right about 80 % of the time there. Plain numpy: the example matrix is
kept as compressed columns (n-gram -> examples), so one text costs a gather of its n-grams'
postings, not a (vocabulary x examples) product."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from cityos.assistant.model import Encoder, Example, Suggestion


def parent_of(code: str) -> str:
    """The catalogue class of a subclass code: P0104 -> P01 (public facilities)."""
    return code[:3]


class KnnClassifier:
    """Nearest neighbours + kernel ridge + class prior over labelled examples (see the module doc)."""

    def __init__(self, encoder: Encoder, temperature: float = 0.05, blend: float = 0.7, ridge: float = 0.0,
                 lam: float = 1.0, hierarchy: float = 0.0) -> None:
        self.encoder = encoder
        self.temperature = temperature
        self.blend = blend
        self.ridge = ridge  # share of the ridge head in the score (0: neighbours only)
        self.lam = lam
        self.hierarchy = hierarchy
        self.examples: list[Example] = []
        self.labels: list[str] = []
        self._csc_ptr = np.zeros(1, dtype=np.int64)
        self._csc_rows = np.zeros(0, dtype=np.int64)
        self._csc_vals = np.zeros(0, dtype=np.float32)
        self._dense_t: np.ndarray | None = None
        self._weights = np.zeros(0, dtype=np.float32)
        self._groups = np.zeros((0, 1), dtype=np.int64)
        self._gram = np.zeros((0, 0), dtype=np.float64)
        self._alpha = np.zeros((0, 0), dtype=np.float32)
        self._alpha_parent = np.zeros((0, 0), dtype=np.float32)
        self._parent_idx = np.zeros(0, dtype=np.int64)

    # --- fitting ---------------------------------------------------------------------------

    def fit(self, examples: Iterable[Example]) -> KnnClassifier:
        self.examples = list(examples)
        texts = [e.text for e in self.examples]
        self.encoder.fit(texts, [e.label for e in self.examples])
        sparse = getattr(self.encoder, "sparse", None)
        if sparse is not None:
            rows = [sparse(t) for t in texts]
            cols = np.concatenate([c for c, _ in rows]) if rows else np.zeros(0, np.int64)
            vals = np.concatenate([v for _, v in rows]) if rows else np.zeros(0, np.float32)
            owner = np.repeat(np.arange(len(rows), dtype=np.int64), [len(c) for c, _ in rows])
            order = np.argsort(cols, kind="stable")
            width = len(getattr(self.encoder, "vocab", {})) or (int(cols.max()) + 1 if len(cols) else 0)
            self._csc_rows, self._csc_vals = owner[order], vals[order].astype(np.float32)
            self._csc_ptr = np.concatenate([[0], np.cumsum(np.bincount(cols, minlength=width))]).astype(np.int64)
            self._dense_t = None
        else:
            self._dense_t = np.ascontiguousarray(self.encoder.encode(texts).T)
        self.labels = sorted({e.label for e in self.examples})
        members: dict[str, list[int]] = {lb: [] for lb in self.labels}
        for i, e in enumerate(self.examples):
            members[e.label].append(i)
        width = max((len(v) for v in members.values()), default=1)
        pad = len(self.examples)  # a column of -inf appended to the similarities
        self._groups = np.full((len(self.labels), max(width, 2)), pad, dtype=np.int64)
        for r, lb in enumerate(self.labels):
            self._groups[r, :len(members[lb])] = members[lb]
        self._weights = np.array([e.weight for e in self.examples], dtype=np.float32)
        if sparse is not None:
            self._gram = self._sparse_similarities(rows).astype(np.float64)
        else:
            self._gram = self.similarities(texts).astype(np.float64)
        self.solve()
        return self

    def set_weights(self, weights: np.ndarray) -> None:
        """New example weights (same examples); call `solve` after."""
        self._weights = np.asarray(weights, dtype=np.float32)

    def solve(self, lam: float | None = None) -> None:
        """(Re)fit the ridge heads for `lam` from the kept similarity matrix (cheap: one solve)."""
        if lam is not None:
            self.lam = lam
        n = len(self.examples)
        if not n:
            return
        label_idx = {lb: i for i, lb in enumerate(self.labels)}
        parents = sorted({parent_of(lb) for lb in self.labels})
        parent_idx = {p: i for i, p in enumerate(parents)}
        self._parent_idx = np.array([parent_idx[parent_of(lb)] for lb in self.labels], dtype=np.int64)
        y = np.zeros((n, len(self.labels) + len(parents)))
        for i, e in enumerate(self.examples):
            y[i, label_idx[e.label]] = 1.0
            y[i, len(self.labels) + parent_idx[parent_of(e.label)]] = 1.0
        # a heavier example (a description, a correction) is held closer by the fit: less
        # regularisation for it, as in weighted least squares
        m = self._gram + np.diag(self.lam / np.maximum(self._weights.astype(np.float64), 1e-6))
        alpha = np.linalg.solve(m, y)
        self._alpha = np.ascontiguousarray(alpha[:, :len(self.labels)], dtype=np.float32)
        self._alpha_parent = np.ascontiguousarray(alpha[:, len(self.labels):], dtype=np.float32)

    # --- scoring ---------------------------------------------------------------------------

    def similarities(self, texts: Sequence[str]) -> np.ndarray:
        """(B, N) cosine similarities of the texts to every example."""
        if self._dense_t is not None:
            return np.asarray(self.encoder.encode(list(texts)) @ self._dense_t, dtype=np.float32)
        sparse = self.encoder.sparse  # type: ignore[attr-defined]
        return self._sparse_similarities([sparse(t) for t in texts])

    def _sparse_similarities(self, queries: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        n = len(self.examples)
        out = np.zeros((len(queries), n), dtype=np.float32)
        ptr, rows, vals = self._csc_ptr, self._csc_rows, self._csc_vals
        for r, (cols, qv) in enumerate(queries):
            if not len(cols):
                continue
            starts, ends = ptr[cols], ptr[cols + 1]
            lengths = ends - starts
            total = int(lengths.sum())
            if not total:
                continue
            # the postings of every n-gram of the text, gathered in one go
            offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
            idx = np.arange(total, dtype=np.int64) + offsets
            out[r] = np.bincount(rows[idx], weights=vals[idx] * np.repeat(qv, lengths), minlength=n)
        return out

    def parts(self, texts: Sequence[str], sims: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The score parts per text and subclass: neighbours, ridge, class prior, and the index of
        the nearest example of each subclass (the evidence). `sims`: the texts' similarities, when
        already known (the tuning reuses them)."""
        sims = self.similarities(texts) if sims is None else sims
        weighted = sims * (self._weights / max(1.0, float(self._weights.max(initial=1.0))))
        weighted = np.concatenate([weighted, np.full((len(texts), 1), -np.inf, dtype=np.float32)], axis=1)
        grouped = weighted[:, self._groups]  # (B, L, M)
        top2 = -np.partition(-grouped, 1, axis=2)[:, :, :2]
        best, second = top2[:, :, 0], top2[:, :, 1]
        second = np.where(np.isfinite(second), second, best)  # a subclass with a single example
        arg = np.take_along_axis(self._groups[None, :, :].repeat(len(texts), 0),
                                 grouped.argmax(axis=2)[:, :, None], axis=2)[:, :, 0]
        knn = self.blend * best + (1 - self.blend) * second
        ridge = sims @ self._alpha
        parent = (sims @ self._alpha_parent)[:, self._parent_idx]
        return {"knn": knn, "ridge": ridge, "parent": parent, "arg": arg}

    def combine(self, parts: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray((1 - self.ridge) * parts["knn"] + self.ridge * parts["ridge"]
                          + self.hierarchy * parts["parent"])

    def scores(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(label scores, nearest example index per label) for each text."""
        p = self.parts(texts)
        return self.combine(p), p["arg"]

    def confidences(self, scores: np.ndarray) -> np.ndarray:
        z = np.exp((scores - scores.max(axis=1, keepdims=True)) / self.temperature)
        return np.asarray(z / z.sum(axis=1, keepdims=True))

    def predict(self, texts: Sequence[str], k: int = 3) -> list[list[Suggestion]]:
        if not texts or not self.examples:
            return [[] for _ in texts]
        out: list[list[Suggestion]] = []
        for start in range(0, len(texts), 256):  # bounded memory for the (B, L, M) block
            chunk = texts[start:start + 256]
            sc, arg = self.scores(chunk)
            conf = self.confidences(sc)
            for r in range(len(chunk)):
                top = np.argsort(-sc[r], kind="stable")[:k]
                out.append([Suggestion(self.labels[i], float(conf[r, i]), float(sc[r, i]),
                                       self.examples[arg[r, i]].text) for i in top])
        return out
