"""settle_commissions: free what is due, close ended reward periods. Safe to run twice or at once.

Release works in batches; each batch is one transaction that locks its accounts (by pk) and then its
commissions, re-reads their status under the lock and writes one keyed `release` entry per
commission. A worker killed mid-batch leaves the batch rolled back, so a rerun credits it exactly
once; two runners working at once serialise on the account locks and the second finds nothing left.

Periodic rewards (periods.py): each ended period is closed once, and late completions and refunds
are applied to the closed periods they belong to. A reward is credited frozen until period end +
COMMISSION_FREEZE_DAYS, then released here like any commission.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from apps.core.money import yuan

from ..lock_objects import accounts_lock, commissions_lock
from ..models import Bucket, Commission, LedgerEntry
from .ledger import after_available_status
from .periods import period_bounds, periods_close, periods_resync

__all__ = ["SettlementReport", "period_bounds", "release_batch", "settle_commissions"]

logger = logging.getLogger(__name__)

BATCH_SIZE = 500


@dataclass
class SettlementReport:
    released: int = 0
    released_fen: int = 0
    periods_closed: int = 0
    rewards: int = 0
    rewards_fen: int = 0
    rewards_reversed: int = 0
    rewards_reversed_fen: int = 0


def settle_commissions(*, now: datetime | None = None, batch_size: int = BATCH_SIZE) -> SettlementReport:
    now = now or timezone.now()
    report = SettlementReport()
    closed, rewards = periods_close(now=now)
    late = periods_resync(now=now)
    report.periods_closed = closed
    report.rewards = rewards.rewarded + late.rewarded
    report.rewards_fen = rewards.rewarded_fen + late.rewarded_fen
    report.rewards_reversed = late.reversed
    report.rewards_reversed_fen = late.reversed_fen
    while True:
        released = release_batch(now=now, batch_size=batch_size, report=report)
        if released < batch_size:
            break
    return report


def _release_one(commission: Commission) -> LedgerEntry | None:
    """The entry moving what is left of one frozen commission to `available` (None if nothing is
    left), and the commission's new status set in memory."""
    left = commission.amount_fen - commission.reversed_fen
    if left <= 0:
        commission.status = Commission.Status.REVERSED
        return None
    commission.status = after_available_status(commission)
    return LedgerEntry(
        key=f"c:{commission.pk}:release",
        account_id=commission.account_id,
        koc_id=commission.koc_id,
        kind=LedgerEntry.Kind.RELEASE,
        from_bucket=Bucket.FROZEN,
        to_bucket=Bucket.AVAILABLE,
        amount_fen=left,
        commission=commission,
        order_id=commission.order_id,
        explanation=f"{commission.order_no or '周期奖励'} 售后期结束，¥{yuan(left)} 可提现",
    )


def _set_statuses(by_status: dict[str, list[int]]) -> None:
    for status, ids in by_status.items():
        Commission.objects.filter(pk__in=ids).update(status=status)


def release_batch(
    *, now: datetime, batch_size: int = BATCH_SIZE, report: SettlementReport | None = None
) -> int:
    """Release one batch of due commissions in one transaction; how many were due in it.

    Six statements per batch whatever its size: candidates, account locks, commission locks, the
    entries (one INSERT), the status updates (one UPDATE per resulting status).
    """
    candidates = list(
        Commission.objects.filter(status=Commission.Status.FROZEN, available_at__lte=now)
        .order_by("available_at", "pk")
        .values_list("pk", "account_id")[:batch_size]
    )
    if not candidates:
        return 0
    with transaction.atomic():
        accounts_lock(account_ids=[a for _c, a in candidates])
        entries: list[LedgerEntry] = []
        by_status: dict[str, list[int]] = {}
        for commission in commissions_lock(ids=[c for c, _a in candidates]):
            if commission.status != Commission.Status.FROZEN or commission.available_at > now:
                continue  # another runner got there first
            entry = _release_one(commission)
            if entry is not None:
                entries.append(entry)
            by_status.setdefault(commission.status, []).append(commission.pk)
        LedgerEntry.objects.bulk_create(entries)
        _set_statuses(by_status)
        if report is not None:
            report.released += len(entries)
            report.released_fen += sum(e.amount_fen for e in entries)
    return len(candidates)
