"""Reads of the engine. Balances are always sums of ledger entries, never stored numbers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import QuerySet, Sum

from .models import Account, Bucket, Commission, LedgerEntry, Withdrawal

WALLET_BUCKETS = (
    Bucket.PENDING,
    Bucket.FROZEN,
    Bucket.AVAILABLE,
    Bucket.WITHDRAWING,
    Bucket.PAID,
    Bucket.TAX,
)


def balances(*, account_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """account id -> bucket -> fen (in minus out), for every bucket. Two grouped queries."""
    ids = list(set(account_ids))
    out: dict[int, dict[str, int]] = {i: defaultdict(int) for i in ids}
    if not ids:
        return out
    for account_id, bucket, total in (
        LedgerEntry.objects.filter(account_id__in=ids)
        .values("account_id", "to_bucket")
        .annotate(t=Sum("amount_fen"))
        .values_list("account_id", "to_bucket", "t")
        .order_by()
    ):
        out[account_id][bucket] += int(total)
    for account_id, bucket, total in (
        LedgerEntry.objects.filter(account_id__in=ids)
        .values("account_id", "from_bucket")
        .annotate(t=Sum("amount_fen"))
        .values_list("account_id", "from_bucket", "t")
        .order_by()
    ):
        out[account_id][bucket] -= int(total)
    return out


def account_balances(*, account: Account | None) -> dict[str, int]:
    if account is None:
        return defaultdict(int)
    return balances(account_ids=[account.pk])[account.pk]


def account_for_koc(*, koc_id: int) -> Account | None:
    return Account.objects.filter(koc_id=koc_id).first()


def wallet(*, koc_id: int) -> dict[str, int]:
    """The five numbers of GET koc/wallet. `paid_fen` is gross: what was paid out plus tax withheld."""
    b = account_balances(account=account_for_koc(koc_id=koc_id))
    return {
        "pending_fen": b[Bucket.PENDING],
        "frozen_fen": b[Bucket.FROZEN],
        "available_fen": b[Bucket.AVAILABLE],
        "withdrawing_fen": b[Bucket.WITHDRAWING],
        "paid_fen": b[Bucket.PAID] + b[Bucket.TAX],
    }


def commission_list(*, koc_id: int, status: str | None = None) -> QuerySet[Commission]:
    qs = Commission.objects.filter(koc_id=koc_id).order_by("-id")
    if status:
        qs = qs.filter(status=status)
    return qs


def withdrawal_list(*, koc_id: int) -> QuerySet[Withdrawal]:
    return Withdrawal.objects.filter(koc_id=koc_id).order_by("-id")


def ledger_totals() -> dict[str, int]:
    """Every bucket over every account (for checks: the sum over all buckets is always 0)."""
    totals: dict[str, int] = defaultdict(int)
    for bucket, total in (
        LedgerEntry.objects.values("to_bucket")
        .annotate(t=Sum("amount_fen"))
        .values_list("to_bucket", "t")
        .order_by()
    ):
        totals[bucket] += int(total)
    for bucket, total in (
        LedgerEntry.objects.values("from_bucket")
        .annotate(t=Sum("amount_fen"))
        .values_list("from_bucket", "t")
        .order_by()
    ):
        totals[bucket] -= int(total)
    return totals
