"""Periodic rewards (周期性奖励): a period's target met pays once; falling below it takes it back.

For every periodic rule of an activated rule set, each period (a calendar month or quarter in
Asia/Shanghai) that ended while the set was in force (judged at the period's last instant) is closed
once by settle_commissions: a `PeriodRun` row per (rule, period) records it.

What counts towards a target (`period_values`), line by line through `engine.rule_applies` (the
rule's window, scope, product and KOC lists, like every other kind):
- completed orders (completed in the period), accrued, attributed to the KOC (own) or under the
  organisation on the paid date (team);
- sold to others: a KOC's own purchases (attribution `self_purchase`) count for nothing;
- paid while the rule's set was in force (so sales from before the set existed never count);
- net of refunds: the amount each line still keeps after line and amount refunds (engine.kept_fen's
  shares), and the units not returned (nothing of a fully refunded order).

A period stays right after it closed. A completion or refund that arrives later marks its order
`periods_stale`; `periods_resync` (settle_commissions, and a task after the event's commit)
recomputes the periods it belongs to for the KOCs it counts for: a target now met is rewarded, and
a reward whose period fell below target is taken back whole, with a ledger entry that says why.
Rewards are keyed `p:<rule>:k:<koc>:<start>` (then `:2`, `:3` if a period is met again after a
reversal), so each is written once however many runners race.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from fractions import Fraction

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.money import yuan

from ..engine import Item, RefundState
from ..engine import rule_applies as engine_rule_applies
from ..lock_objects import accounts_lock, commissions_lock
from ..models import (
    Bucket,
    Commission,
    LedgerEntry,
    OrderFact,
    OrderOrgLink,
    PeriodRun,
    RefundFact,
    Rule,
    RuleSet,
)
from ..plans import IN_FORCE_STATUSES, rule_spec
from .ledger import accounts_for_kocs, bucket_of, move

logger = logging.getLogger(__name__)


def local_midnight(day: date) -> datetime:
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


def ended_periods(rule: Rule, rule_set: RuleSet, now: datetime):
    """Periods of `rule` that ended by `now` and whose last instant fell in the set's window."""
    local_from = timezone.localtime(rule_set.effective_from).date()
    start, end = period_bounds(rule.period, local_from)
    while local_midnight(end) <= now:
        last_instant = local_midnight(end) - timedelta(microseconds=1)
        in_force = rule_set.effective_from <= last_instant and (
            rule_set.effective_to is None or last_instant < rule_set.effective_to
        )
        if in_force:
            yield start, end
        start, end = period_bounds(rule.period, end)


# --- what counts --------------------------------------------------------------------------------------


def _state(refunds: list[RefundFact]) -> RefundState:
    """The order's final refund state from its refund facts (each carries the cumulative figures)."""
    if not refunds:
        return RefundState()
    units: dict[int, int] = {}
    lines_fen = 0
    for refund in refunds:
        for item_id, quantity in refund.units_after:
            units[item_id] = max(units.get(item_id, 0), quantity)
        for item_id, quantity in refund.items:
            units[item_id] = max(units.get(item_id, 0), quantity)
        lines_fen = max(lines_fen, refund.lines_fen_after)
    refunded = max(r.refunded_fen for r in refunds)
    return RefundState(
        refunded_fen=refunded, lines_fen=min(lines_fen, refunded), units=tuple(sorted(units.items()))
    )


def _line_values(fact: OrderFact, state: RefundState, *, reader=None) -> list[tuple[Item, Fraction, int]]:
    """Each line of a fact with its net amount (exact fen still kept) and its units not returned.

    `reader` (an accrual.TreeReader) caches category paths across the facts of one period."""
    from apps.core.money import allocate_fen

    from .accrual import TreeReader, fact_items

    items = fact_items(fact, reader=reader or TreeReader())
    bases = allocate_fen(max(fact.paid_fen, 0), [item.line_fen for item in items])
    paid = fact.paid_fen
    after_lines = paid - state.lines_fen
    # Exact fractions: a sale exactly at its target must not floor to a fen below it.
    rest = Fraction(paid - state.refunded_fen, after_lines) if after_lines > 0 and paid > 0 else Fraction(0)
    out = []
    for item, base in zip(items, bases, strict=True):
        returned = min(state.units_of(item.item_id), item.quantity)
        line_share = Fraction(item.quantity - returned, item.quantity) if item.quantity else Fraction(0)
        amount = base * line_share * rest
        units = item.quantity - returned if rest > 0 else 0
        out.append((item, amount, units))
    return out


def period_values(
    rule: Rule,
    start: date,
    end: date,
    *,
    koc_ids: Iterable[int] | None = None,
    in_force: tuple[datetime, datetime | None] | None = None,
) -> dict[int, int]:
    """koc_id -> the measured value (net fen, floored, or units) of the period, for `koc_ids` (all
    KOCs when None). See the module docstring for what counts. `in_force` replaces the rule set's
    window (the dry run asks what a draft would have counted had it been in force then)."""
    window_from, window_to = in_force or (rule.rule_set.effective_from, rule.rule_set.effective_to)
    if window_from is None:
        return {}
    spec = rule_spec(rule)
    facts = (
        OrderFact.objects.filter(
            completed_at__gte=local_midnight(start),
            completed_at__lt=local_midnight(end),
            accrued_at__isnull=False,
            paid_at__gte=window_from,
        )
        .exclude(attributed_koc_id__isnull=True)
        .exclude(payload={})
    )
    if window_to is not None:
        facts = facts.filter(paid_at__lt=window_to)
    wanted = set(koc_ids) if koc_ids is not None else None
    team = rule.measure == Rule.Measure.TEAM
    if wanted is not None:
        if team:
            facts = facts.filter(org_links__org_koc_id__in=wanted).distinct()
        else:
            facts = facts.filter(attributed_koc_id__in=wanted)
    facts = list(facts.order_by("order_id"))
    refunds: dict[int, list[RefundFact]] = defaultdict(list)
    refunded_ids = [f.order_id for f in facts if f.refunded_fen > 0]
    for refund in RefundFact.objects.filter(order_id__in=refunded_ids):
        refunds[refund.order_id].append(refund)
    orgs: dict[int, list[int]] = defaultdict(list)
    if team:
        for link in OrderOrgLink.objects.filter(order__in=facts).values_list("order_id", "org_koc_id"):
            orgs[link[0]].append(link[1])

    exact: dict[int, Fraction] = defaultdict(Fraction)
    units: dict[int, int] = defaultdict(int)
    from .accrual import TreeReader

    reader = TreeReader()  # one read of each category path for the whole period, not one per order
    for fact in facts:
        if (fact.payload.get("attribution") or {}).get("self_purchase"):
            continue  # a KOC's own purchase is nobody's sale
        beneficiaries = orgs.get(fact.pk, []) if team else [fact.attributed_koc_id]
        beneficiaries = [b for b in beneficiaries if wanted is None or b in wanted]
        if not beneficiaries:
            continue
        lines = _line_values(fact, _state(refunds.get(fact.order_id, [])), reader=reader)
        for koc_id in beneficiaries:
            for item, amount, line_units in lines:
                if engine_rule_applies(spec, item=item, at=fact.paid_at, beneficiary_id=koc_id) is None:
                    continue
                exact[koc_id] += amount
                units[koc_id] += line_units
    if rule.metric == Rule.Metric.UNITS:
        return {k: v for k, v in units.items()}
    return {k: math.floor(v) for k, v in exact.items()}


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


# --- closing and keeping periods right ----------------------------------------------------------------


@dataclass
class PeriodOutcome:
    rewarded: int = 0
    rewarded_fen: int = 0
    reversed: int = 0
    reversed_fen: int = 0


def _shown(rule: Rule, value: int) -> str:
    return f"¥{yuan(value)}" if rule.metric == Rule.Metric.AMOUNT else f"{value} 件"


def _period_label(rule: Rule, start: date, end: date) -> str:
    label = "月度" if rule.period == Rule.Period.MONTH else "季度"
    measure = "团队" if rule.measure == Rule.Measure.TEAM else "个人"
    return f"{start:%Y-%m-%d} 至 {end - timedelta(days=1):%Y-%m-%d} {label}{measure}"


def _key(rule: Rule, koc_id: int, start: date) -> str:
    return f"p:{rule.pk}:k:{koc_id}:{start:%Y%m%d}"


def _sync(
    *, rule: Rule, start: date, end: date, values: dict[int, int], koc_ids: Iterable[int], now: datetime
) -> PeriodOutcome:
    """Make the rewards of (rule, period) for `koc_ids` match `values`: met and unrewarded -> a
    reward; rewarded and no longer met -> the reward taken back whole. Caller holds the period run."""
    outcome = PeriodOutcome()
    koc_ids = sorted(set(koc_ids))
    target = rule.target or 0
    met = {k for k in koc_ids if values.get(k, 0) >= target and values.get(k, 0) > 0}
    live: dict[int, Commission] = {}
    generations: dict[int, int] = defaultdict(int)
    existing = Commission.objects.filter(
        kind=Commission.Kind.PERIODIC, rule=rule, period_start=start, koc_id__in=koc_ids
    )
    for commission in existing.order_by("pk"):
        generations[commission.koc_id] += 1
        if commission.reversed_fen < commission.amount_fen:
            live[commission.koc_id] = commission
    eligible = _eligible(rule, sorted(met - set(live)))
    to_reverse = [live[k] for k in sorted(set(live) - met)]
    accounts = accounts_for_kocs(
        koc_ids=[*eligible, *(c.koc_id for c in to_reverse)],
        organisations=[k for k, org in eligible.items() if org],
    )
    locked = accounts_lock(account_ids=[a.pk for a in accounts.values()])
    rule_set = rule.rule_set
    available_at = local_midnight(end) + timedelta(days=settings.COMMISSION_FREEZE_DAYS)
    period = _period_label(rule, start, end)
    for koc_id in sorted(eligible):
        value = values[koc_id]
        explanation = (
            f"{period}成交 {_shown(rule, value)}，达到目标 {_shown(rule, target)}，"
            f"奖励 ¥{yuan(rule.amount_fen or 0)}"
            f"（周期奖励，{rule.name} #{rule.pk}，规则集「{rule_set.name}」v{rule_set.version}）"
        )
        key = _key(rule, koc_id, start)
        if generations[koc_id]:
            key = f"{key}:{generations[koc_id] + 1}"
        account = locked[accounts[koc_id].pk]
        try:
            with transaction.atomic():
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
        except IntegrityError:
            continue  # another runner wrote this very reward
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
        outcome.rewarded += 1
        outcome.rewarded_fen += commission.amount_fen
    for commission in commissions_lock(ids=[c.pk for c in to_reverse]):
        left = commission.amount_fen - commission.reversed_fen
        if left <= 0:
            continue
        value = values.get(commission.koc_id, 0)
        entry = move(
            key=f"c:{commission.pk}:reverse:period",
            account=locked[commission.account_id],
            kind=LedgerEntry.Kind.REVERSAL,
            from_bucket=bucket_of(commission),
            to_bucket=Bucket.REVERSED,
            amount_fen=left,
            commission=commission,
            explanation=(
                f"{period}成交扣除退款后为 {_shown(rule, value)}，低于目标 {_shown(rule, target)}，"
                f"周期奖励 ¥{yuan(left)} 全部冲回"
            ),
        )
        if entry is None:
            continue
        commission.reversed_fen += left
        commission.status = Commission.Status.REVERSED
        commission.save(update_fields=["reversed_fen", "status"])
        outcome.reversed += 1
        outcome.reversed_fen += left
    return outcome


def _run_lock(rule: Rule, start: date, end: date) -> PeriodRun:
    try:
        with transaction.atomic():
            run, _ = PeriodRun.objects.get_or_create(
                rule=rule, period_start=start, defaults={"period_end": end}
            )
    except IntegrityError:
        run = PeriodRun.objects.get(rule=rule, period_start=start)
    return PeriodRun.objects.select_for_update(no_key=True).get(pk=run.pk)


@transaction.atomic
def period_close(*, rule: Rule, start: date, end: date, now: datetime) -> PeriodOutcome | None:
    """Close one period of one periodic rule: reward every KOC that met the target. Once (None when
    it was already closed)."""
    run = _run_lock(rule, start, end)
    if run.closed_at is not None:
        return None
    values = period_values(rule, start, end)
    outcome = _sync(rule=rule, start=start, end=end, values=values, koc_ids=list(values), now=now)
    run.closed_at = now
    run.period_end = end
    run.rewarded = outcome.rewarded
    run.save(update_fields=["closed_at", "period_end", "rewarded"])
    return outcome


def _periodic_rules():
    return Rule.objects.filter(
        kind=Rule.Kind.PERIODIC,
        rule_set__status__in=IN_FORCE_STATUSES,
        rule_set__effective_from__isnull=False,
    ).select_related("rule_set")


def periods_close(*, now: datetime) -> tuple[int, PeriodOutcome]:
    """Close every ended period not closed yet; (periods closed, their rewards)."""
    closed, total = 0, PeriodOutcome()
    done = set(PeriodRun.objects.filter(closed_at__isnull=False).values_list("rule_id", "period_start"))
    for rule in _periodic_rules():
        for start, end in ended_periods(rule, rule.rule_set, now):
            if (rule.pk, start) in done:
                continue
            outcome = period_close(rule=rule, start=start, end=end, now=now)
            if outcome is not None:
                closed += 1
                total.rewarded += outcome.rewarded
                total.rewarded_fen += outcome.rewarded_fen
    return closed, total


def periods_resync(*, now: datetime | None = None, batch_size: int = 200) -> PeriodOutcome:
    """Apply late completions and refunds to the closed periods they belong to (see the module
    docstring). Each stale order is handled in its own transaction; safe to run twice or at once."""
    now = now or timezone.now()
    total = PeriodOutcome()
    rules = list(_periodic_rules())
    stale = list(OrderFact.objects.filter(periods_stale=True).values_list("order_id", flat=True)[:batch_size])
    closed: dict[tuple[int, date], bool] = {}  # (rule, period start) -> closed, read once per pass
    for order_id in stale:
        with transaction.atomic():
            fact = (
                OrderFact.objects.select_for_update(of=("self",), no_key=True)
                .filter(order_id=order_id)
                .first()
            )
            if fact is None or not fact.periods_stale:
                continue
            for rule in rules:
                _resync_fact(rule=rule, fact=fact, now=now, total=total, closed=closed)
            OrderFact.objects.filter(pk=fact.pk).update(periods_stale=False)
    return total


def _resync_fact(
    *, rule: Rule, fact: OrderFact, now: datetime, total: PeriodOutcome, closed: dict[tuple[int, date], bool]
) -> None:
    if fact.completed_at is None:
        return
    start, end = period_bounds(rule.period, timezone.localtime(fact.completed_at).date())
    if (rule.pk, start) not in closed:
        closed[rule.pk, start] = PeriodRun.objects.filter(
            rule=rule, period_start=start, closed_at__isnull=False
        ).exists()
    if not closed[rule.pk, start]:
        return  # still open (or never in force): its closing counts the order then
    if rule.measure == Rule.Measure.TEAM:
        koc_ids = list(OrderOrgLink.objects.filter(order=fact).values_list("org_koc_id", flat=True))
    else:
        koc_ids = [fact.attributed_koc_id] if fact.attributed_koc_id else []
    if not koc_ids:
        return
    _run_lock(rule, start, end)
    values = period_values(rule, start, end, koc_ids=koc_ids)
    outcome = _sync(rule=rule, start=start, end=end, values=values, koc_ids=koc_ids, now=now)
    total.rewarded += outcome.rewarded
    total.rewarded_fen += outcome.rewarded_fen
    total.reversed += outcome.reversed
    total.reversed_fen += outcome.reversed_fen


def periods_preview(*, rule_set: RuleSet, start: datetime, end: datetime) -> list[tuple[Rule, int, int]]:
    """What `rule_set`'s periodic rules would have rewarded for the periods wholly inside [start,
    end), had the set been in force over it: (rule, koc_id, fen) per reward. Writes nothing."""
    out = []
    first_day, last_day = timezone.localtime(start).date(), timezone.localtime(end).date()
    for rule in rule_set.rules.filter(kind=Rule.Kind.PERIODIC).order_by("pk"):
        period_start, period_end = period_bounds(rule.period, first_day)
        if period_start < first_day:
            period_start, period_end = period_bounds(rule.period, period_end)
        while period_end <= last_day:
            values = period_values(rule, period_start, period_end, in_force=(start, end))
            target = rule.target or 0
            met = sorted(k for k, v in values.items() if v >= target and v > 0)
            for koc_id in sorted(_eligible(rule, met)):
                out.append((rule, koc_id, rule.amount_fen or 0))
            period_start, period_end = period_bounds(rule.period, period_end)
    return out
