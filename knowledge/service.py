"""The knowledge base as a running bot uses it: data, router and renderer, replaced together
at run time. A reload that fails keeps serving what was loaded before."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from knowledge.answers import Answer, AnswerRenderer
from knowledge.base import KnowledgeBase, load_knowledge
from knowledge.router import Route, Router
from knowledge.text import Entities


@dataclass(frozen=True)
class _Loaded:
    kb: KnowledgeBase
    router: Router
    renderer: AnswerRenderer


class Knowledge:
    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self._loaded = self._load()

    def _load(self) -> _Loaded:
        kb = load_knowledge(self.directory)
        return _Loaded(kb, Router(kb), AnswerRenderer(kb))

    @property
    def kb(self) -> KnowledgeBase:
        return self._loaded.kb

    def reload(self) -> KnowledgeBase:
        """Load the data files again; raises KnowledgeError and keeps the old data if any
        file is invalid."""
        self._loaded = self._load()
        return self._loaded.kb

    def ask(
        self,
        text: str,
        today: date,
        *,
        default_lang: str,
        profile: dict[str, str | None] | None = None,
    ) -> tuple[Route, Answer]:
        loaded = self._loaded  # one consistent snapshot even if a reload happens meanwhile
        route = loaded.router.route(text, default_lang=default_lang)
        return route, loaded.renderer.answer(route, today, profile=profile)

    @property
    def router(self) -> Router:
        return self._loaded.router

    @property
    def renderer(self) -> AnswerRenderer:
        return self._loaded.renderer

    def topic_answer(
        self, topic: str, lang: str, today: date, profile: dict[str, str | None] | None = None
    ) -> Answer:
        """The general answer of a topic, for a "did you mean" button."""
        route = Route(topic, 1.0, lang, Entities())
        return self._loaded.renderer.answer(route, today, profile=profile)
