"""The resident identity number (居民身份证号码) of GB 11643-1999: shape, birth date and check digit.

18 characters: a 6-digit region code, the birth date YYYYMMDD, a 3-digit sequence, and a check
character computed over the first 17 digits (ISO 7064 MOD 11-2): the weighted sum with weights
2^(17-i) mod 11 (7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2), mod 11, indexes "10X98765432".
"""

from __future__ import annotations

import re
from datetime import date

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK = "10X98765432"
SHAPE = re.compile(r"^[1-9]\d{16}[\dX]$")


def check_character(first17: str) -> str:
    return CHECK[sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11]


def normalise(value: str) -> str:
    return (value or "").strip().upper()


def is_valid(value: str, *, today: date | None = None) -> bool:
    number = normalise(value)
    if not SHAPE.match(number):
        return False
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    if born.year < 1900 or born > (today or date.today()):
        return False
    return check_character(number[:17]) == number[17]


def with_check(first17: str) -> str:
    """A complete number from its first 17 digits (demo data and tests)."""
    return first17 + check_character(first17)
