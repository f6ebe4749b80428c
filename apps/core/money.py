"""Money is integer fen; rates are Decimal. This module holds the only rounding rule of the project."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


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
