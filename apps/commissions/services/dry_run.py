"""Dry run: what a draft rule set would have paid on past orders, next to what the sets in force paid.

Replays every order paid in [start, end) through the pure engine twice: with the draft, and with the
set that was in force at the order's paid_at (normally the active one). The tree is read as it was on
each paid date, exactly as accrual reads it. Amounts are before refunds (what accrual computes).
Nothing is written: the engine is pure, and the whole replay runs in a transaction that is rolled
back, so not even a stray read-side write could survive.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction

from .. import sources
from ..models import OrderFact, Rule, RuleSet
from ..plans import PlanCache, plan_spec
from .accrual import TreeReader, compute_for, order_input


@dataclass
class Column:
    """The totals of one rule set over the replayed orders."""

    total_fen: int = 0
    cap_fen: int = 0
    orders_paying: int = 0
    orders_scaled: int = 0
    min_headroom_fen: int | None = None
    per_koc: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    per_rule: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    per_level: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def headroom_fen(self) -> int:
        return self.cap_fen - self.total_fen

    def add(self, outcome) -> None:
        self.cap_fen += outcome.cap_fen
        total = outcome.total_fen
        self.total_fen += total
        if total:
            self.orders_paying += 1
        if outcome.scaled_to_cap:
            self.orders_scaled += 1
        headroom = outcome.cap_fen - total
        if self.min_headroom_fen is None or headroom < self.min_headroom_fen:
            self.min_headroom_fen = headroom
        for part in outcome.parts:
            self.per_koc[part.koc_id] += part.amount_fen
            self.per_rule[part.rule_id] += part.amount_fen
            self.per_level[_level_label(part)] += part.amount_fen


def _level_label(part) -> str:
    if part.kind == "team":
        return "机构 (团队业绩)"
    if part.level == 0:
        return "L0 成交 KOC"
    return f"L{part.level} 上级"


@dataclass
class DryRunReport:
    rule_set: RuleSet
    start: datetime
    end: datetime
    orders: int = 0
    draft: Column = field(default_factory=Column)
    current: Column = field(default_factory=Column)
    koc_labels: dict[int, str] = field(default_factory=dict)
    rule_labels: dict[int, str] = field(default_factory=dict)

    def rows(self, attribute: str) -> list[tuple[str, int, int, int]]:
        """(label, in force, draft, difference) rows of per_koc / per_rule / per_level."""
        current = getattr(self.current, attribute)
        draft = getattr(self.draft, attribute)
        labels = {"per_koc": self.koc_labels, "per_rule": self.rule_labels}.get(attribute, {})
        keys = sorted(
            set(current) | set(draft), key=lambda k: (-(draft.get(k, 0) + current.get(k, 0)), str(k))
        )
        return [
            (labels.get(k, str(k)), current.get(k, 0), draft.get(k, 0), draft.get(k, 0) - current.get(k, 0))
            for k in keys
        ]


def dry_run(*, rule_set: RuleSet, start: datetime, end: datetime) -> DryRunReport:
    report = DryRunReport(rule_set=rule_set, start=start, end=end)
    draft = plan_spec(rule_set)
    plans = PlanCache()
    reader = TreeReader()
    with transaction.atomic():
        facts = (
            OrderFact.objects.filter(paid_at__gte=start, paid_at__lt=end, paid_at__isnull=False)
            .exclude(payload={})
            .order_by("paid_at", "order_id")
        )
        for fact in facts.iterator(chunk_size=500):
            order = order_input(fact, reader=reader)
            in_force = plans.in_force(fact.paid_at)
            report.current.add(compute_for(order, plans.spec(in_force) if in_force else None, reader=reader))
            report.draft.add(compute_for(order, draft, reader=reader))
            report.orders += 1
        transaction.set_rollback(True)
    kocs = set(report.current.per_koc) | set(report.draft.per_koc)
    report.koc_labels = {k: f"#{k} {v}" for k, v in sources.koc_labels(kocs).items()}
    rule_ids = set(report.current.per_rule) | set(report.draft.per_rule)
    report.rule_labels = {
        r.pk: f"v{r.rule_set.version} {r.name} ({r.get_kind_display()}) #{r.pk}"
        for r in Rule.objects.filter(pk__in=rule_ids).select_related("rule_set")
    }
    return report
