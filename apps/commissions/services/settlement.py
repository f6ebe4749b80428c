"""settle_commissions: free what is due, close ended reward periods. Safe to run twice or at once.

Release works in batches; each batch is one transaction that locks its accounts (by pk) and then its
commissions, re-reads their status under the lock and writes one keyed `release` entry per
commission. A worker killed mid-batch leaves the batch rolled back, so a rerun credits it exactly
once; two runners working at once serialise on the account locks and the second finds nothing left.

Periodic rewards: for every periodic rule of an activated rule set, each period (a calendar month or
quarter in Asia/Shanghai) that has ended while the set was in force (judged at the period's last
instant) is closed once: a `PeriodRun` row per (rule, period) records it, and each reward's key
`p:<rule>:k:<koc>:<start>` makes it once per KOC even if two runners close the same period. Sales
counted: orders completed in the period, net of refunds known at closing, attributed to the KOC
(own) or under the organisation on the paid date (team). The reward is credited frozen until
period end + COMMISSION_FREEZE_DAYS, then released like any commission.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from apps.core.money import yuan

from ..lock_objects import accounts_lock, commissions_lock
from ..models import Bucket, Commission, LedgerEntry, OrderFact, PeriodRun, Rule, RuleSet
from ..plans import IN_FORCE_STATUSES
from .ledger import accounts_for_kocs, after_available_status, move

logger = logging.getLogger(__name__)

BATCH_SIZE = 500


@dataclass
class SettlementReport:
    released: int = 0
    released_fen: int = 0
    periods_closed: int = 0
    rewards: int = 0
    rewards_fen: int = 0


def settle_commissions(*, now: datetime | None = None, batch_size: int = BATCH_SIZE) -> SettlementReport:
    now = now or timezone.now()
    report = SettlementReport()
    periods_close(now=now, report=report)
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


# --- periods ----------------------------------------------------------------------------------------


def _local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def period_bounds(period: str, at: date) -> tuple[date, date]:
    """[start, end) of the month or quarter holding `at`."""
    if period == Rule.Period.QUARTER:
        first_month = (at.month - 1) // 3 * 3 + 1
        start = date(at.year, first_month, 1)
        months = 3
    else:
        start = date(at.year, at.month, 1)
        months = 1
    month = start.month - 1 + months
    end = date(start.year + month // 12, month % 12 + 1, 1)
    return start, end


def _ended_periods(rule: Rule, rule_set: RuleSet, now: datetime):
    """Periods of `rule` that ended by `now` and whose last instant fell in the set's window."""
    local_from = timezone.localtime(rule_set.effective_from).date()
    start, end = period_bounds(rule.period, local_from)
    while _local_midnight(end) <= now:
        last_instant = _local_midnight(end) - timedelta(microseconds=1)
        in_force = rule_set.effective_from <= last_instant and (
            rule_set.effective_to is None or last_instant < rule_set.effective_to
        )
        if in_force:
            yield start, end
        start, end = period_bounds(rule.period, end)


def periods_close(*, now: datetime, report: SettlementReport | None = None) -> int:
    closed = 0
    rules = Rule.objects.filter(
        kind=Rule.Kind.PERIODIC,
        rule_set__status__in=IN_FORCE_STATUSES,
        rule_set__effective_from__isnull=False,
    ).select_related("rule_set")
    done = set(PeriodRun.objects.filter(closed_at__isnull=False).values_list("rule_id", "period_start"))
    for rule in rules:
        for start, end in _ended_periods(rule, rule.rule_set, now):
            if (rule.pk, start) in done:
                continue
            if period_close(rule=rule, start=start, end=end, now=now, report=report):
                closed += 1
    return closed


def _period_totals(rule: Rule, start: date, end: date) -> dict[int, int]:
    """koc_id -> the measured value (net fen or units) for the period."""
    facts = OrderFact.objects.filter(
        completed_at__gte=_local_midnight(start),
        completed_at__lt=_local_midnight(end),
        accrued_at__isnull=False,
    ).exclude(attributed_koc_id__isnull=True)
    if rule.metric == Rule.Metric.UNITS:
        # Units of a fully refunded order do not count; a partial refund keeps its units
        # (refunds are amounts, not items).
        value = Sum("units")
        facts = facts.filter(refunded_fen__lt=F("paid_fen"))
    else:
        value = Sum(F("paid_fen") - F("refunded_fen"))
    if rule.measure == Rule.Measure.TEAM:
        rows = (
            facts.values("org_links__org_koc_id").annotate(v=value).values_list("org_links__org_koc_id", "v")
        )
    else:
        rows = facts.values("attributed_koc_id").annotate(v=value).values_list("attributed_koc_id", "v")
    return {koc_id: int(v or 0) for koc_id, v in rows if koc_id is not None}


def _eligible(rule: Rule, koc_ids: list[int]) -> dict[int, bool]:
    """KOC id -> is an organisation, for the KOCs the rule may pay (approved, of the right role)."""
    from .. import sources

    nodes = sources.nodes(koc_ids)
    out = {}
    for koc_id, node in nodes.items():
        if not node.approved:
            continue
        if rule.beneficiary_role and node.role != rule.beneficiary_role:
            continue
        if rule.measure == Rule.Measure.TEAM and not node.is_organisation:
            continue  # team pay to an individual is forbidden; compliance already refuses such rules
        out[koc_id] = node.is_organisation
    return out


@transaction.atomic
def period_close(
    *, rule: Rule, start: date, end: date, now: datetime, report: SettlementReport | None = None
) -> bool:
    """Close one period of one periodic rule: reward every KOC that met the target. Once."""
    try:
        with transaction.atomic():
            run, _ = PeriodRun.objects.get_or_create(
                rule=rule, period_start=start, defaults={"period_end": end}
            )
    except IntegrityError:
        run = PeriodRun.objects.get(rule=rule, period_start=start)
    run = PeriodRun.objects.select_for_update(no_key=True).get(pk=run.pk)
    if run.closed_at is not None:
        return False
    totals = _period_totals(rule, start, end)
    met = {k: v for k, v in totals.items() if v >= (rule.target or 0) and v > 0}
    eligible = _eligible(rule, list(met))
    accounts = accounts_for_kocs(
        koc_ids=list(eligible), organisations=[k for k, org in eligible.items() if org]
    )
    locked = accounts_lock(account_ids=[a.pk for a in accounts.values()])
    available_at = _local_midnight(end) + timedelta(days=settings.COMMISSION_FREEZE_DAYS)
    rule_set = rule.rule_set
    label = "月度" if rule.period == Rule.Period.MONTH else "季度"
    measure = "团队" if rule.measure == Rule.Measure.TEAM else "个人"
    rewarded = 0
    for koc_id in sorted(eligible):
        value = met[koc_id]
        shown = f"¥{yuan(value)}" if rule.metric == Rule.Metric.AMOUNT else f"{value} 件"
        target = f"¥{yuan(rule.target or 0)}" if rule.metric == Rule.Metric.AMOUNT else f"{rule.target} 件"
        explanation = (
            f"{start:%Y-%m-%d} 至 {end - timedelta(days=1):%Y-%m-%d} {label}{measure}成交 {shown}，"
            f"达到目标 {target}，奖励 ¥{yuan(rule.amount_fen or 0)}"
            f"（周期奖励，{rule.name} #{rule.pk}，规则集「{rule_set.name}」v{rule_set.version}）"
        )
        key = f"p:{rule.pk}:k:{koc_id}:{start:%Y%m%d}"
        if Commission.objects.filter(key=key).exists():
            continue
        account = locked[accounts[koc_id].pk]
        commission = Commission.objects.create(
            key=key,
            account=account,
            koc_id=koc_id,
            kind=Commission.Kind.PERIODIC,
            level=None,
            rule=rule,
            rule_set=rule_set,
            rule_set_version=rule_set.version,
            base_fen=value if rule.metric == Rule.Metric.AMOUNT else 0,
            quantity=value if rule.metric == Rule.Metric.UNITS else 0,
            amount_fen=rule.amount_fen,
            explanation=explanation,
            period_start=start,
            period_end=end,
            status=Commission.Status.FROZEN,
            available_at=available_at,
        )
        move(
            key=f"c:{commission.pk}:accrue",
            account=account,
            kind=LedgerEntry.Kind.ACCRUAL,
            from_bucket=Bucket.EARNED,
            to_bucket=Bucket.FROZEN,
            amount_fen=commission.amount_fen,
            commission=commission,
            explanation=explanation,
        )
        rewarded += 1
        if report is not None:
            report.rewards += 1
            report.rewards_fen += commission.amount_fen
    run.closed_at = now
    run.period_end = end
    run.rewarded = rewarded
    run.save(update_fields=["closed_at", "period_end", "rewarded"])
    if report is not None:
        report.periods_closed += 1
    return True
