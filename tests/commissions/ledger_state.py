"""Canonical views of the ledger, to compare two runs that used different order and refund ids."""

from __future__ import annotations

from collections import defaultdict

from apps.commissions.models import Commission, LedgerEntry


def refund_ordinal(order_id: int, refund_id: int | None) -> int | None:
    return None if refund_id is None else refund_id - order_id * 10


def commissions(order_id: int) -> list[tuple]:
    return sorted(
        (c.koc_id, c.kind, c.level, c.amount_fen, c.reversed_fen, c.status, c.available_at)
        for c in Commission.objects.filter(order_id=order_id)
    )


def entries(order_id: int) -> list[tuple]:
    return sorted(
        (e.koc_id, e.kind, e.from_bucket, e.to_bucket, e.amount_fen, refund_ordinal(order_id, e.refund_id))
        for e in LedgerEntry.objects.filter(order_id=order_id)
    )


def buckets(order_id: int) -> dict[tuple[int, str], int]:
    out: dict[tuple[int, str], int] = defaultdict(int)
    for e in LedgerEntry.objects.filter(order_id=order_id):
        out[(e.koc_id, e.to_bucket)] += e.amount_fen
        out[(e.koc_id, e.from_bucket)] -= e.amount_fen
    return {k: v for k, v in out.items() if v}


def per_refund(order_id: int) -> dict[tuple[int, int | None], int]:
    out: dict[tuple[int, int | None], int] = defaultdict(int)
    for e in LedgerEntry.objects.filter(order_id=order_id, kind=LedgerEntry.Kind.REVERSAL):
        out[(e.koc_id, refund_ordinal(order_id, e.refund_id))] += e.amount_fen
    return dict(out)


def money(order_id: int) -> tuple:
    """What the ledger says about an order's money, whatever path the entries took."""
    return commissions(order_id), buckets(order_id), per_refund(order_id)
