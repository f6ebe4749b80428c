"""Row locks of the engine, always in this order so that concurrent flows cannot deadlock:

1. the order fact (one order's events, one at a time), or a period run (closing one period);
2. accounts, by primary key: around everything that reads or moves `available` (withdrawals and
   their outcomes, reversals, releases). Accrual and freezing touch only `pending`/`frozen` money of
   one order, which its fact lock already serialises, so they take no account lock;
3. a withdrawal (its outcome: paid or failed);
4. commissions, by primary key (their status projection).

On SQLite select_for_update is a no-op; the database runs IMMEDIATE transactions there, so writers
are serialised anyway.
"""

from __future__ import annotations

from collections.abc import Iterable

from .models import Account, Commission, OrderFact, Withdrawal


def order_fact_lock(*, order_id: int) -> OrderFact | None:
    return OrderFact.objects.select_for_update(of=("self",)).filter(order_id=order_id).first()


def accounts_lock(*, account_ids: Iterable[int]) -> dict[int, Account]:
    ids = sorted(set(account_ids))
    if not ids:
        return {}
    return {
        a.pk: a for a in Account.objects.select_for_update(of=("self",)).filter(pk__in=ids).order_by("pk")
    }


def commissions_lock(*, ids: Iterable[int]) -> list[Commission]:
    return list(
        Commission.objects.select_for_update(of=("self",)).filter(pk__in=sorted(set(ids))).order_by("pk")
    )


def withdrawal_lock(*, withdrawal_id: int) -> Withdrawal:
    return Withdrawal.objects.select_for_update(of=("self",)).get(pk=withdrawal_id)
