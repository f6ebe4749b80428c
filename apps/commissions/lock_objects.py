"""Row locks of the engine, always in this order so that concurrent flows cannot deadlock:

1. the order fact (one order's events, one at a time), then a period run (closing one period, or
   applying a late event of an order to its closed period);
2. accounts, by primary key: around everything that reads or moves `available` (withdrawals and
   their outcomes, reversals, releases). Accrual and freezing touch only `pending`/`frozen` money of
   one order, which its fact lock already serialises, so they take no account lock;
3. a withdrawal (its outcome: paid or failed);
4. commissions, by primary key (their status projection).

Every lock is FOR NO KEY UPDATE (`no_key=True`), never FOR UPDATE: the ledger's foreign keys are
checked at COMMIT (Django makes them DEFERRABLE INITIALLY DEFERRED on PostgreSQL), and each check
takes FOR KEY SHARE on the referenced account, commission or withdrawal. FOR UPDATE conflicts with
that share lock, so a transaction committing its inserts would wait, at COMMIT and in no particular
order, for rows that another transaction had locked in pk order while it waited for ours: a deadlock
(6 threads of out-of-order events over 40 orders hit 4 to 13 of them). FOR NO KEY UPDATE does not
conflict with FOR KEY SHARE, and no flow changes a key, so foreign-key checks never wait on these
locks and the order above is the only order in which anything waits (tests/commissions/
test_lock_order.py proves it on PostgreSQL).

On SQLite select_for_update is a no-op; the database runs IMMEDIATE transactions there, so writers
are serialised anyway.
"""

from __future__ import annotations

from collections.abc import Iterable

from .models import Account, Commission, OrderFact, Withdrawal


def order_fact_lock(*, order_id: int) -> OrderFact | None:
    return OrderFact.objects.select_for_update(of=("self",), no_key=True).filter(order_id=order_id).first()


def accounts_lock(*, account_ids: Iterable[int]) -> dict[int, Account]:
    ids = sorted(set(account_ids))
    if not ids:
        return {}
    return {
        a.pk: a
        for a in Account.objects.select_for_update(of=("self",), no_key=True)
        .filter(pk__in=ids)
        .order_by("pk")
    }


def commissions_lock(*, ids: Iterable[int]) -> list[Commission]:
    return list(
        Commission.objects.select_for_update(of=("self",), no_key=True)
        .filter(pk__in=sorted(set(ids)))
        .order_by("pk")
    )


def withdrawal_lock(*, withdrawal_id: int) -> Withdrawal:
    return Withdrawal.objects.select_for_update(of=("self",), no_key=True).get(pk=withdrawal_id)
