"""The ledger's one writer: every money movement is `move()`, keyed so no action can write twice."""

from __future__ import annotations

from collections.abc import Iterable

from ..models import Account, Bucket, Commission, LedgerEntry, Withdrawal


def accounts_for_kocs(*, koc_ids: Iterable[int], organisations: Iterable[int] = ()) -> dict[int, Account]:
    """koc_id -> Account, creating the missing ones with INSERT ... ON CONFLICT DO NOTHING (no
    savepoint, safe under concurrency). Two statements at most; not locked."""
    ids = sorted(set(koc_ids))
    if not ids:
        return {}
    found = {a.koc_id: a for a in Account.objects.filter(koc_id__in=ids)}
    missing = [k for k in ids if k not in found]
    if missing:
        orgs = set(organisations)
        Account.objects.bulk_create(
            [Account(koc_id=k, is_organisation=k in orgs) for k in missing], ignore_conflicts=True
        )
        found.update({a.koc_id: a for a in Account.objects.filter(koc_id__in=missing)})
    return found


def move(
    *,
    key: str,
    account: Account,
    kind: str,
    from_bucket: str,
    to_bucket: str,
    amount_fen: int,
    commission: Commission | None = None,
    withdrawal: Withdrawal | None = None,
    order_id: int | None = None,
    refund_id: int | None = None,
    explanation: str = "",
) -> LedgerEntry | None:
    """Append one movement; None when `amount_fen` is 0 or the action (`key`) is already written.

    Callers hold the account lock, so "already written" is read reliably; the unique key is the
    database's last word if a caller ever forgets.
    """
    if amount_fen == 0:
        return None
    if amount_fen < 0:
        raise ValueError("a movement is positive; swap the buckets")
    if LedgerEntry.objects.filter(key=key).exists():
        return None
    return LedgerEntry.objects.create(
        key=key,
        account=account,
        koc_id=account.koc_id,
        kind=kind,
        from_bucket=from_bucket,
        to_bucket=to_bucket,
        amount_fen=amount_fen,
        commission=commission,
        withdrawal=withdrawal,
        order_id=order_id if order_id is not None else (commission.order_id if commission else None),
        refund_id=refund_id,
        explanation=explanation,
    )


def bucket_of(commission: Commission) -> str:
    """Where a commission's remaining money sits; allocated (withdrawn) money is taken from
    `available`, which may go negative (a clawback later earnings repay)."""
    if commission.status == Commission.Status.PENDING:
        return Bucket.PENDING
    if commission.status == Commission.Status.FROZEN:
        return Bucket.FROZEN
    return Bucket.AVAILABLE


def after_available_status(commission: Commission) -> str:
    """The status of a commission that reached `available`, from its counters.

    reversed when nothing is left; available while some of it is not taken by a withdrawal;
    otherwise withdrawing until every withdrawal that took it has paid out, then paid.
    """
    net = commission.amount_fen - commission.reversed_fen
    if net <= 0:
        return Commission.Status.REVERSED
    if net > commission.allocated_fen:
        return Commission.Status.AVAILABLE
    if commission.paid_out_fen >= commission.allocated_fen:
        return Commission.Status.PAID
    return Commission.Status.WITHDRAWING
