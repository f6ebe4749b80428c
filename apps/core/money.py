"""Money is integer fen; rates are Decimal. This module holds the only rounding rule of the project."""

from __future__ import annotations

import re
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal


def round_fen(amount: Decimal | int) -> int:
    """Round a Decimal amount of fen half up to a whole fen (0.5 fen -> 1 fen)."""
    if isinstance(amount, float):
        raise TypeError("money is never a float")
    return int(Decimal(amount).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def percent_of(amount_fen: int, percent: Decimal) -> int:
    """`percent` % of `amount_fen`, rounded once, half up."""
    return round_fen(Decimal(amount_fen) * Decimal(percent) / Decimal(100))


def pro_rata(total_fen: int, part_fen: int, whole_fen: int) -> int:
    """The share of `total_fen` that `part_fen` out of `whole_fen` stands for, rounded half up."""
    if whole_fen <= 0:
        return 0
    return round_fen(Decimal(total_fen) * Decimal(part_fen) / Decimal(whole_fen))


def yuan(amount_fen: int) -> str:
    """9900 -> '99.00' for people (never for arithmetic)."""
    sign = "-" if amount_fen < 0 else ""
    whole, cents = divmod(abs(int(amount_fen)), 100)
    return f"{sign}{whole}.{cents:02d}"


def yuan_grouped(amount_fen: int) -> str:
    """123456789 -> '1,234,567.89': yuan with thousands separators, for figures people scan."""
    sign = "-" if amount_fen < 0 else ""
    whole, cents = divmod(abs(int(amount_fen)), 100)
    return f"{sign}{whole:,}.{cents:02d}"


def floor_fen(amount: Decimal | int) -> int:
    """Round a Decimal amount of fen down to a whole fen: for ceilings that must never be exceeded
    (the commission cap of an order is floor(paid × cap%), so the parts can never pass the percent)."""
    if isinstance(amount, float):
        raise TypeError("money is never a float")
    return int(Decimal(amount).quantize(Decimal(1), rounding=ROUND_FLOOR))


def allocate_fen(total_fen: int, weights: list[Decimal | int]) -> list[int]:
    """Split `total_fen` over `weights` exactly (largest remainder): the parts sum to `total_fen`.

    Each part is first floored; the fen left over go one each to the largest fractional remainders,
    ties to the earlier weight, so the answer is deterministic. Zero weights get zero; all-zero
    weights get nothing (an empty split, every part 0, unless total is 0 anyway).
    """
    if total_fen < 0:
        raise ValueError("total_fen must not be negative")
    weights = [Decimal(w) for w in weights]
    if any(w < 0 for w in weights):
        raise ValueError("weights must not be negative")
    whole = sum(weights, Decimal(0))
    if whole <= 0:
        return [0 for _ in weights]
    exact = [Decimal(total_fen) * w / whole for w in weights]
    parts = [floor_fen(x) for x in exact]
    left = total_fen - sum(parts)
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in order[:left]:
        parts[i] += 1
    return parts


_AMOUNT = re.compile(r"-?[0-9]+(\.[0-9]*)?|-?\.[0-9]+")


class YuanParseError(ValueError):
    """Text that is not an amount of yuan with at most two decimals; `code` says which way."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def parse_yuan(text: str) -> int:
    """'1,234.56' / '¥12.3' / '12' (yuan, as people type it) -> fen (123456 / 1230 / 1200).

    Thousands separators, a currency sign, '元' and spaces are accepted; more than two decimals is an
    error (never rounded: a typed 12.345 is a mistake, not 12.35), as is anything that is not a number.
    """
    cleaned = str(text).strip().replace(",", "").replace("，", "").replace(" ", "")
    cleaned = cleaned.removeprefix("¥").removeprefix("￥").removesuffix("元")
    if not _AMOUNT.fullmatch(cleaned):  # digits and one point: no exponents, no "NaN"
        raise YuanParseError("invalid")
    try:
        amount = Decimal(cleaned)
    except ArithmeticError:
        raise YuanParseError("invalid") from None
    if not amount.is_finite():
        raise YuanParseError("invalid")
    fen = amount * 100
    if fen != fen.to_integral_value():
        raise YuanParseError("too_precise")
    return int(fen)
