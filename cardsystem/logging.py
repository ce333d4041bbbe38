"""Log records for production: the request id on each, JSON lines on demand, CPR numbers masked.

Money actions are logged with ids and amounts, never with personal numbers; `MaskCprFilter` is the
safety net for a message that would carry one anyway (a payee's CPR inside an error, say).
"""

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from cardsystem.request_id import request_id_get

# A CPR number written DDMMYY-XXXX, DDMMYYXXXX or DDMMYY XXXX, not part of a longer number.
CPR_PATTERN = re.compile(r"(?<!\d)(\d{6})[- ]?\d{4}(?!\d)")
CPR_MASK = r"\1-****"

# Attributes every LogRecord has; anything else was passed in `extra=` and goes into the JSON.
_STANDARD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id"}


def cpr_mask(text: str) -> str:
    """The text with every CPR-shaped number shown as DDMMYY-**** (as the screens show it)."""
    return CPR_PATTERN.sub(CPR_MASK, text)


class RequestIdFilter(logging.Filter):
    """Adds `request_id` (or "-" outside a request) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_get() or "-"
        return True


class MaskCprFilter(logging.Filter):
    """Masks CPR-shaped numbers in the message, its arguments, `extra=` strings and the exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = cpr_mask(message)
        if masked != message:
            record.msg = masked
            record.args = None
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRIBUTES and isinstance(value, str):
                setattr(record, key, cpr_mask(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = cpr_mask(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id_get(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                body[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            body["exception"] = record.exc_text
        return json.dumps(body, default=str, ensure_ascii=False)
