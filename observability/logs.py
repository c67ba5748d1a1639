"""Logging: human-readable lines, or one JSON object a line for a log collector
(LOG_FORMAT=json). Every record made while an update is handled carries that update's id.

What is logged is chosen so that an info-level log holds no message text and no personal
data: update ids, handler names, counts and error types. Handlers never log what people wrote.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

# Fields a record may carry (`extra=`) that become keys of the JSON object.
STRUCTURED_FIELDS = ("update_id", "update_type", "handler", "duration_ms", "outcome")

current_update_id: ContextVar[int | None] = ContextVar("current_update_id", default=None)


class UpdateIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.update_id = current_update_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in STRUCTURED_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self, *, one_line: bool = False) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(update)s: %(message)s")
        self.one_line = one_line

    def format(self, record: logging.LogRecord) -> str:
        update_id = getattr(record, "update_id", None)
        record.update = f" [update {update_id}]" if update_id is not None else ""
        if self.one_line:
            # For the console chat: a failure is one line on stderr, never a traceback.
            record.exc_info = None
            record.exc_text = None
        return super().format(record)


def configure_logging(level: str, fmt: str = "text", *, one_line: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(UpdateIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter(one_line=one_line))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # aiogram logs every update at INFO ("Update id=… is handled"); ours says more (handler,
    # outcome) in a structured form, so theirs is left to warnings.
    logging.getLogger("aiogram.event").setLevel(max(logging.WARNING, logging.getLevelName(level)))
