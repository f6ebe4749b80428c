"""Personal data (phones, ID numbers, street addresses) masked wherever it is not the point.

Admin lists and logs show `138****0000` and `3301**********123X`; the detail page and the exports an
operator ships or files taxes from keep the full value (that is their purpose, and both are behind
the admin's permissions). The log filter masks whatever a message or its arguments carry, so an
exception that quotes a row or a request body does not write a phone or an ID number to the logs.
"""

from __future__ import annotations

import logging
import re

# A mainland mobile number or an 18-character resident ID number, not inside a longer run of digits
# (order numbers, transaction ids and amounts are longer or shorter and stay readable).
_PHONE = re.compile(r"(?<![0-9])(1[3-9][0-9])([0-9]{4})([0-9]{4})(?![0-9])")
# ID numbers (GB 11643): 6-digit area, a birth date 19xx/20xx, 3-digit sequence, a check character.
# The date keeps order numbers and transaction ids of 18 digits readable.
_ID_NUMBER = re.compile(
    r"(?<![0-9A-Za-z])([1-9][0-9]{3})([0-9]{2}(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01]))"
    r"([0-9]{3}[0-9Xx])(?![0-9A-Za-z])"
)


def mask_phone(phone: str) -> str:
    if not phone or len(phone) < 7:
        return phone or ""
    return f"{phone[:3]}****{phone[-4:]}"


def mask_id_number(number: str) -> str:
    if not number or len(number) < 8:
        return "*" * len(number or "")
    return f"{number[:4]}{'*' * (len(number) - 8)}{number[-4:]}"


def mask_address_detail(detail: str) -> str:
    """Keep the first characters (the road) and hide the house number onwards."""
    if not detail:
        return ""
    keep = max(1, len(detail) // 3)
    return detail[:keep] + "*" * (len(detail) - keep)


def mask_text(text: str) -> str:
    text = _ID_NUMBER.sub(lambda m: f"{m.group(1)}{'*' * 10}{m.group(3)}", text)
    return _PHONE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)


class MaskPersonalData(logging.Filter):
    """Renders the record's message once, masked, so no handler or formatter sees the raw value."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to logging's own error report
            return True
        masked = mask_text(message)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_text(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        return True
