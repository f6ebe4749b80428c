"""Dry run: what a draft rule set would have paid on past orders, next to what was actually paid.

For the orders paid in [start, end):

- **in force** is what the engine accrued for them: the commissions in the ledger (before refunds),
  read with two grouped queries. That is what was paid, by definition - no replay of the sets in
  force can disagree with it, and it costs nothing per order.
- **draft** replays each attributed order through the pure engine with the draft, the tree as it
  was on the paid date and the seller's tier as of that date (its level history). The tree, the
  nodes, the levels and the catalogue are read for all orders at once (a fixed number of queries,
  see sources.TreeOverPeriod); orders without attribution pay nothing under any plan and are
  only counted (their cap).

Amounts are before refunds (what accrual computes). Periodic rewards are in both columns for the
periods wholly inside [start, end): what was rewarded (net of rewards taken back), and what the
draft's periodic rules would have rewarded had the draft been in force over the whole range
(periods.periods_preview, net of refunds like a real closing). Nothing is written: the engine is
pure, and the whole run is in a transaction that is rolled back, so not even a stray read-side
write could survive.

`commission_dry_run --benchmark` times it against the order-by-order replay it replaced.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from .. import sources
from ..engine import cap_fen_of
from ..models import Commission, OrderFact, Rule, RuleSet
from ..plans import plan_spec
from .accrual import TreeReader, compute_for, order_input
from .periods import periods_preview


@dataclass
class Column:
    """The totals of one side (what was paid, or the draft) over the orders of the period."""

    total_fen: int = 0
    cap_fen: int = 0
    orders_paying: int = 0
    orders_at_cap: int = 0
    min_headroom_fen: int | None = None
    per_koc: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    per_rule: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    per_level: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def headroom_fen(self) -> int:
        return self.cap_fen - self.total_fen

    def add_order(self, *, cap_fen: int, total_fen: int) -> None:
        """One order's total against its cap. An order "at the cap" pays all its cap allows (the
        engine scaled it down, or it landed there exactly): the same test on both sides."""
        self.cap_fen += cap_fen
        self.total_fen += total_fen
        if total_fen:
            self.orders_paying += 1
            if total_fen >= cap_fen:
                self.orders_at_cap += 1
        headroom = cap_fen - total_fen
        if self.min_headroom_fen is None or headroom < self.min_headroom_fen:
            self.min_headroom_fen = headroom

    def add_part(self, *, koc_id: int, rule_id: int, kind: str, level: int | None, amount_fen: int) -> None:
        self.per_koc[koc_id] += amount_fen
        self.per_rule[rule_id] += amount_fen
        self.per_level[_level_label(kind, level)] += amount_fen


def _level_label(kind: str, level: int | None) -> str:
    if kind == Commission.Kind.TEAM:
        return "机构 (团队业绩)"
    if kind == Commission.Kind.PERIODIC:
        return "周期奖励"
    if not level:
        return "L0 成交 KOC"
    return f"L{level} 上级"


@dataclass(frozen=True)
class KocDifference:
    koc_id: int
    current_fen: int
    draft_fen: int

    @property
    def difference_fen(self) -> int:
        return self.draft_fen - self.current_fen


@dataclass
class DryRunReport:
    rule_set: RuleSet
    start: datetime
    end: datetime
    orders: int = 0
    orders_attributed: int = 0
    draft: Column = field(default_factory=Column)
    current: Column = field(default_factory=Column)
    rule_labels: dict[int, str] = field(default_factory=dict)

    def rows(self, attribute: str) -> list[tuple[str, int, int, int]]:
        """(label, in force, draft, difference) rows of per_rule / per_level, largest first."""
        current = getattr(self.current, attribute)
        draft = getattr(self.draft, attribute)
        labels = self.rule_labels if attribute == "per_rule" else {}
        keys = sorted(
            set(current) | set(draft), key=lambda k: (-(draft.get(k, 0) + current.get(k, 0)), str(k))
        )
        return [
            (labels.get(k, str(k)), current.get(k, 0), draft.get(k, 0), draft.get(k, 0) - current.get(k, 0))
            for k in keys
        ]

    @property
    def kocs_paid(self) -> int:
        """KOCs paid something by either side."""
        return len(
            {k for k, v in self.current.per_koc.items() if v}
            | {k for k, v in self.draft.per_koc.items() if v}
        )

    def koc_differences(self) -> list[KocDifference]:
        """Only the KOCs whose totals differ, the largest change first (then by id, for stable pages)."""
        current, draft = self.current.per_koc, self.draft.per_koc
        rows = [
            KocDifference(koc_id=k, current_fen=current.get(k, 0), draft_fen=draft.get(k, 0))
            for k in set(current) | set(draft)
            if current.get(k, 0) != draft.get(k, 0)
        ]
        rows.sort(key=lambda r: (-abs(r.difference_fen), r.koc_id))
        return rows


def koc_labels(koc_ids) -> dict[int, str]:
    """Labels of the KOCs of one page of differences (one query)."""
    return {k: f"#{k} {v}" for k, v in sources.koc_labels(koc_ids).items()}


def dry_run(*, rule_set: RuleSet, start: datetime, end: datetime) -> DryRunReport:
    report = DryRunReport(rule_set=rule_set, start=start, end=end)
    cap_percent = settings.COMMISSION_CAP_PERCENT
    with transaction.atomic():
        facts = OrderFact.objects.filter(paid_at__gte=start, paid_at__lt=end).exclude(payload={})
        caps = {
            order_id: cap_fen_of(paid_fen, cap_percent)
            for order_id, paid_fen in facts.values_list("order_id", "paid_fen").order_by()
        }
        report.orders = len(caps)
        _paid(report.current, facts, caps)
        _draft(report, rule_set, facts.exclude(attributed_koc_id=None), caps)
        _periodic(report, rule_set)
        transaction.set_rollback(True)
    rule_ids = set(report.current.per_rule) | set(report.draft.per_rule)
    report.rule_labels = {
        r.pk: f"v{r.rule_set.version} {r.name} ({r.get_kind_display()}) #{r.pk}"
        for r in Rule.objects.filter(pk__in=rule_ids).select_related("rule_set")
    }
    return report


def _paid(column: Column, facts, caps: dict[int, int]) -> None:
    """What the engine accrued for the orders of `facts`: two grouped queries."""
    commissions = Commission.objects.filter(order_id__in=facts.values("order_id")).order_by()
    per_order = dict(
        commissions.values("order_id").annotate(t=Sum("amount_fen")).values_list("order_id", "t")
    )
    for order_id, cap in caps.items():
        column.add_order(cap_fen=cap, total_fen=int(per_order.get(order_id) or 0))
    for koc_id, rule_id, kind, level, amount in (
        commissions.values("koc_id", "rule_id", "kind", "level")
        .annotate(t=Sum("amount_fen"))
        .values_list("koc_id", "rule_id", "kind", "level", "t")
    ):
        column.add_part(koc_id=koc_id, rule_id=rule_id, kind=kind, level=level, amount_fen=int(amount))


@dataclass(slots=True)
class _Fact:
    """The columns of an OrderFact that order_input() reads: plain values, because building
    thousands of model instances (and parsing their six timestamps) would cost more than the
    replay itself."""

    order_id: int
    order_no: str
    attributed_koc_id: int | None
    paid_fen: int
    total_fen: int
    paid_at: datetime
    payload: dict


def _draft(report: DryRunReport, rule_set: RuleSet, attributed, caps: dict[int, int]) -> None:
    """Replay the attributed orders with the draft; every other order pays nothing under any plan."""
    column = report.draft
    plan = plan_spec(rule_set)
    facts = [_Fact(*row) for row in attributed.values_list(*_Fact.__slots__).order_by("paid_at", "order_id")]
    report.orders_attributed = len(facts)
    replayed = {fact.order_id for fact in facts}
    for order_id, cap in caps.items():
        if order_id not in replayed:
            column.add_order(cap_fen=cap, total_fen=0)
    if not facts:
        return

    # Everything the orders need, read once: the tree over the period, the catalogue's categories
    # and brand maxima (the reader caches them, so order_input and compute_for query nothing more).
    tree = sources.TreeOverPeriod(
        seller_ids={fact.attributed_koc_id for fact in facts},
        start=report.start,
        end=report.end,
        tiers=any(rule.kind == Rule.Kind.TIER for rule in plan.rules),
    )
    items = [item for fact in facts for item in fact.payload.get("items") or []]
    reader = TreeReader()
    reader.category_paths({_int(i.get("category_id")) for i in items if i.get("category_id")})
    reader.brand_max({_int(i.get("brand_id")) for i in items})

    for fact in facts:
        outcome = compute_for(order_input(fact, reader=reader, tree=tree), plan, reader=reader)
        column.add_order(cap_fen=caps[fact.order_id], total_fen=outcome.total_fen)
        for part in outcome.parts:
            column.add_part(
                koc_id=part.koc_id,
                rule_id=part.rule_id,
                kind=part.kind,
                level=part.level,
                amount_fen=part.amount_fen,
            )


def _periodic(report: DryRunReport, rule_set: RuleSet) -> None:
    """Periodic rewards of the periods wholly inside the range, rewarded and as the draft would."""
    first_day = timezone.localtime(report.start).date()
    last_day = timezone.localtime(report.end).date()
    rewarded = (
        Commission.objects.filter(
            kind=Commission.Kind.PERIODIC, period_start__gte=first_day, period_end__lte=last_day
        )
        .values("koc_id", "rule_id")
        .annotate(t=Sum(F("amount_fen") - F("reversed_fen")))
        .values_list("koc_id", "rule_id", "t")
        .order_by()
    )
    for koc_id, rule_id, amount in rewarded:
        if amount:
            report.current.add_part(
                koc_id=koc_id,
                rule_id=rule_id,
                kind=Commission.Kind.PERIODIC,
                level=None,
                amount_fen=int(amount),
            )
    for rule, koc_id, amount in periods_preview(rule_set=rule_set, start=report.start, end=report.end):
        report.draft.add_part(
            koc_id=koc_id, rule_id=rule.pk, kind=Commission.Kind.PERIODIC, level=None, amount_fen=amount
        )


def _int(value, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
