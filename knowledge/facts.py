"""The shape of a fact: a value with where it comes from, the year it applies to, and how
sure we are. Every number the bot says comes from one of these."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

T = TypeVar("T")


class Confidence(StrEnum):
    CONFIRMED = "confirmed"  # an official or primary source says so ([C] in FACTS.md)
    SECONDARY = (
        "secondary"  # one secondary source only: a university page, a regional outlet ([C-2])
    )
    UNCONFIRMED = "unconfirmed"  # recalled, inferred, outdated or conflicting ([U], [CONFLICT])

    @property
    def needs_check(self) -> bool:
        return self is not Confidence.CONFIRMED


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Localized(Strict):
    kk: str
    ru: str
    en: str

    def get(self, lang: str) -> str:
        return str(getattr(self, lang, None) or self.en)

    @field_validator("kk", "ru", "en")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


class Provenance(Strict):
    # The internal note for staff: may cite FACTS.md sections, National Report lines, seeds.
    source: str = Field(min_length=3)
    as_of: int = Field(ge=2000, le=2100)
    confidence: Confidence
    note: str | None = None
    # What a reader is shown: ids in sources.yaml. None: found from `source` (`cited_as`).
    public: list[str] | None = None


class Fact(Provenance, Generic[T]):
    value: T


def provenance_of(fact: Provenance) -> dict[str, Any]:
    return {
        "source": fact.source,
        "as_of": fact.as_of,
        "confidence": fact.confidence.value,
    }
