"""Regions of Kazakhstan (17 oblasts and 3 cities of republican significance)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel

from knowledge.facts import Localized, Strict

DATA_FILE = Path(__file__).parent / "data" / "regions.yaml"


class Region(Strict):
    code: str
    kind: Literal["oblast", "city"]
    short: Localized
    name: Localized


class RegionFile(BaseModel):
    source: str
    as_of: int
    confidence: Literal["confirmed", "secondary", "unconfirmed"]
    regions: list[Region]


@cache
def all_regions() -> tuple[Region, ...]:
    raw = yaml.safe_load(DATA_FILE.read_text(encoding="utf-8"))
    return tuple(RegionFile.model_validate(raw).regions)


def region_by_code(code: str | None) -> Region | None:
    return next((r for r in all_regions() if r.code == code), None)
