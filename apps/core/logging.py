"""A logging filter that masks resident ID numbers in every log line (defence in depth).

No code logs an ID number on purpose; this filter catches the accidental one (an exception message,
a repr, a third-party library) before it reaches a handler: 18-character numbers shaped like a
resident ID number become `3301**********1234`, as everywhere else.
"""

from __future__ import annotations

import logging
import re

ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])([1-9]\d{3})\d{10}(\d{3}[\dXx])(?![0-9A-Za-z])")


def redact(text: str) -> str:
    return ID_NUMBER.sub(lambda m: f"{m.group(1)}{'*' * 10}{m.group(2)}", text)


class RedactIdNumbers(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
