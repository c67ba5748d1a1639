"""The knowledge base as a running bot uses it: data, router, example index and renderer,
replaced together at run time. A reload that fails keeps serving what was loaded before.

A question goes to the keyword rules first (deterministic, explainable, under a millisecond);
only when they are unsure does it go to the example index (knowledge/semantic.py), whose
embedding call runs on one background thread so the event loop never waits for it."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from knowledge.answers import Answer, AnswerRenderer
from knowledge.base import DEFAULT_DATA_DIR, KnowledgeBase, KnowledgeError, load_knowledge
from knowledge.router import Route, Router
from knowledge.schema import TOPICS
from knowledge.semantic import (
    EXAMPLES_FILE,
    VECTORS_FILE,
    Embedder,
    Example,
    SemanticIndex,
    SemanticMatch,
    keyword_examples,
    read_examples,
    shared_embedder,
    vector_store,
    worth_embedding,
)
from knowledge.text import Entities

# One thread: the model handle takes one embedding at a time anyway, and a second thread would
# only compete with the event loop for the same two cores.
# Keyword routes at least this confident are answered without the examples; below it, down to
# the router's LOW_CONFIDENCE, the examples are asked and win when they are sure.
RULES_TRUSTED = 0.7
_SEMANTIC_EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="semantic")


@dataclass(frozen=True)
class _Loaded:
    kb: KnowledgeBase
    router: Router
    renderer: AnswerRenderer
    semantic: SemanticIndex


def examples_path(kb: KnowledgeBase) -> Path:
    """An installation's own example set (KNOWLEDGE_DIR) if it has one, else the shipped one."""
    own = kb.source_dir / EXAMPLES_FILE
    return own if own.exists() else DEFAULT_DATA_DIR / EXAMPLES_FILE


class Knowledge:
    def __init__(
        self,
        directory: Path | None = None,
        *,
        embedder: Embedder | None = None,
        taught: Iterable[Example] = (),
    ) -> None:
        self.directory = directory
        # Loaded here, at start: a model that cannot load stops the process (SemanticModelError)
        # rather than leaving a bot that silently answers by keywords only.
        self.embedder = embedder or shared_embedder()
        self._taught = list(taught)
        self._loaded = self._load()

    def _load(self) -> _Loaded:
        kb = load_knowledge(self.directory)
        return _Loaded(kb, Router(kb), AnswerRenderer(kb), self._index(kb))

    def _index(self, kb: KnowledgeBase) -> SemanticIndex:
        path = examples_path(kb)
        try:
            examples = read_examples(path, TOPICS)
        except (OSError, ValueError, KeyError) as exc:
            raise KnowledgeError(f"{path}: {exc}") from exc
        examples += keyword_examples(kb.router.topics) + self._taught
        return SemanticIndex(examples, self.embedder, vector_store(path.parent / VECTORS_FILE))

    @property
    def kb(self) -> KnowledgeBase:
        return self._loaded.kb

    def reload(self) -> KnowledgeBase:
        """Load the data files again; raises KnowledgeError and keeps the old data if any
        file is invalid."""
        self._loaded = self._load()
        return self._loaded.kb

    # ------------------------------------------------------------------ taught examples
    @property
    def taught(self) -> list[Example]:
        return list(self._taught)

    def set_taught(self, examples: Iterable[Example]) -> None:
        """Replace the staff-taught examples; the index is rebuilt (a fraction of a second:
        the shipped examples' vectors are cached)."""
        loaded = self._loaded
        self._taught = [dataclasses.replace(e, source="taught") for e in examples]
        self._loaded = dataclasses.replace(loaded, semantic=self._index(loaded.kb))

    async def set_taught_async(self, examples: Iterable[Example]) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(_SEMANTIC_EXECUTOR, self.set_taught, list(examples))

    # ------------------------------------------------------------------ questions
    def route(self, text: str, *, default_lang: str) -> Route:
        loaded = self._loaded
        rule = loaded.router.route(text, default_lang=default_lang)
        if not _needs_examples(rule, loaded, text):
            return rule
        return _decide(rule, loaded.semantic, loaded.semantic.match(text))

    async def route_async(self, text: str, *, default_lang: str) -> Route:
        loaded = self._loaded
        rule = loaded.router.route(text, default_lang=default_lang)
        if not _needs_examples(rule, loaded, text):
            return rule
        match = loaded.semantic.cached_match(text)
        if match is None:
            loop = asyncio.get_running_loop()
            match = await loop.run_in_executor(_SEMANTIC_EXECUTOR, loaded.semantic.match, text)
        return _decide(rule, loaded.semantic, match)

    def ask(
        self,
        text: str,
        today: date,
        *,
        default_lang: str,
        profile: dict[str, str | None] | None = None,
    ) -> tuple[Route, Answer]:
        route = self.route(text, default_lang=default_lang)
        return route, self.renderer.answer(route, today, profile=profile)

    async def ask_async(
        self,
        text: str,
        today: date,
        *,
        default_lang: str,
        profile: dict[str, str | None] | None = None,
    ) -> tuple[Route, Answer]:
        """`ask` for the event loop: the embedding runs on the semantic thread."""
        route = await self.route_async(text, default_lang=default_lang)
        return route, self.renderer.answer(route, today, profile=profile)

    @property
    def router(self) -> Router:
        return self._loaded.router

    @property
    def renderer(self) -> AnswerRenderer:
        return self._loaded.renderer

    @property
    def semantic(self) -> SemanticIndex:
        return self._loaded.semantic

    def topic_answer(
        self, topic: str, lang: str, today: date, profile: dict[str, str | None] | None = None
    ) -> Answer:
        """The general answer of a topic, for a "did you mean" button."""
        route = Route(topic, 1.0, lang, Entities())
        return self._loaded.renderer.answer(route, today, profile=profile)


def _needs_examples(rule: Route, loaded: _Loaded, text: str) -> bool:
    if loaded.semantic.taught_topic(text) is not None:
        return True  # staff taught this very question: their answer beats the keywords
    if rule.topic != "out_of_scope" and rule.confidence >= RULES_TRUSTED:
        return False
    return worth_embedding(text)


def _decide(rule: Route, index: SemanticIndex, match: SemanticMatch) -> Route:
    def routed(topic: str, confidence: float, layer: str) -> Route:
        return dataclasses.replace(
            rule,
            topic=topic,
            confidence=confidence,
            scores=match.scores,
            layer=layer,
            similarity=match.similarity,
        )

    taught = index.taught_topic(rule.text)
    if taught is not None:
        if taught == "out_of_scope":
            return routed(taught, 0.0, "none")
        return dataclasses.replace(routed(taught, 1.0, "semantic"), similarity=1.0)
    if match.accepted:
        if match.topic == "out_of_scope":
            return routed(match.topic, 0.0, "none")
        return routed(match.topic, match.confidence, "semantic")
    if rule.is_confident and rule.topic != "out_of_scope":
        # The examples are not sure either way: the keywords' answer stands.
        return dataclasses.replace(rule, similarity=match.similarity)
    off_topic_words = rule.topic == "out_of_scope" and rule.confidence > 0
    if match.off_topic or off_topic_words:
        return routed("out_of_scope", 0.0, "none")
    return routed(match.topic, match.confidence, "none")
