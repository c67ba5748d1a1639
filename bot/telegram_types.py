"""Import aiogram with its Telegram types built on first use instead of all at import.

aiogram ends `aiogram/types/__init__.py` by calling `model_rebuild()` on every one of its
~450 types, and pydantic builds each type's validator with copies of every type nested in
it. That is ~100 MB of a web worker's ~210 MB, for the dozen types a worker ever sees. The
types are declared `defer_build=True`, so pydantic can build each one when it is first
validated; all the rebuild adds is the namespace that resolves the types' forward references
(`"Message"` inside `Update`). `load_aiogram()` takes that namespace from the rebuild call,
skips the build, and puts the names in the types' modules, where pydantic looks at first use.

`tests/test_production.py` builds every aiogram type and method this way, so an update of a
kind the tests never send still parses. Set TALAPKER_EAGER_TELEGRAM_TYPES=1 to import aiogram
as it comes (for comparison, or should a new aiogram break this).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import pydantic

EAGER = "TALAPKER_EAGER_TELEGRAM_TYPES"
_TYPES_PACKAGE = "aiogram.types."


def load_aiogram() -> bool:
    """Import aiogram with deferred type builds; False if aiogram was already imported (or
    EAGER is set), in which case nothing changes."""
    if os.environ.get(EAGER) or "aiogram" in sys.modules:
        return False
    namespace: dict[str, Any] = {}
    rebuild = pydantic.BaseModel.__dict__["model_rebuild"]

    def remember_namespace(
        cls: type[pydantic.BaseModel], *args: Any, _types_namespace: Any = None, **kwargs: Any
    ) -> bool | None:
        called_by_aiogram = cls.__module__.startswith(_TYPES_PACKAGE) and not (args or kwargs)
        if _types_namespace and called_by_aiogram:
            namespace.update(_types_namespace)
            return None
        return rebuild.__func__(cls, *args, _types_namespace=_types_namespace, **kwargs)

    pydantic.BaseModel.model_rebuild = classmethod(remember_namespace)  # type: ignore[assignment,method-assign]
    try:
        import aiogram  # noqa: F401  (imports aiogram.types and aiogram.methods)
    finally:
        pydantic.BaseModel.model_rebuild = rebuild  # type: ignore[method-assign]
    for name, module in list(sys.modules.items()):
        if name.startswith((_TYPES_PACKAGE, "aiogram.methods.")) and module is not None:
            for key, value in namespace.items():
                module.__dict__.setdefault(key, value)
    return True


def build_hot_types() -> None:
    """Build, before the first update, the types every worker uses, so that no user's
    update pays for it."""
    from aiogram import methods
    from aiogram.types import Update

    for model in (
        Update,
        methods.SendMessage,
        methods.AnswerCallbackQuery,
        methods.EditMessageText,
        methods.EditMessageReplyMarkup,
    ):
        model.model_rebuild()
