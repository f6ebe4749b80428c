"""The pure core of the engine: an order, a plan and the tree as of the paid date in, parts out.

No database, no settings, no clock: everything arrives as frozen dataclasses, so the same function
serves accrual, the dry run and the property tests, and the answer depends only on its input.

How an order is paid, in order:
1. Nothing for an order without attribution, a self-purchase, or a seller not approved.
2. The paid amount is split over the items by line amount (largest remainder: the bases sum to the
   paid amount exactly) - the base of every percent.
3. Per item, each beneficiary's contributions: at each individual level (0 = the seller,
   1.. = uplines as of the paid date, fewer than `max_levels` levels in all) the most specific
   sales rule (product > brand > deepest category > all: a brand decides what it pays, so its own
   rate beats a category's); for the seller, every targeted rule in
   its window plus the tier bonus of the seller's level; for organisation ancestors, team rules.
4. Brand cap: one beneficiary's percent on one item never exceeds the brand's max_commission_rate;
   if it would, that beneficiary's contributions on that item shrink in proportion.
5. Parts are summed per (beneficiary, rule) exactly (Decimal) and rounded half up once per part.
6. Order cap: floor(paid x cap%) is the ceiling. If the rounded parts exceed it they are re-cut
   from their exact values by largest remainder (ties to the earlier part in a fixed order: level,
   beneficiary, rule), so they sum to the ceiling exactly and none is negative.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from apps.core.money import allocate_fen, floor_fen, pro_rata, round_fen, yuan

HUNDRED = Decimal(100)
HARD_MAX_LEVELS = 3  # 禁止传销条例: three levels and more are criminal; never configurable above

KIND_SALES = "sales"
KIND_TEAM = "team"
KIND_TARGETED = "targeted"
KIND_TIER = "tier"
KIND_PERIODIC = "periodic"

KIND_LABELS = {
    "direct": "直推奖励",
    "upline": "上级奖励",
    "team": "团队业绩奖励",
    "targeted": "定向奖励",
    "tier": "等级加成",
    "periodic": "周期奖励",
}


@dataclass(frozen=True)
class Node:
    """A node of the team tree as the engine needs it."""

    koc_id: int
    role: str = "koc"
    is_organisation: bool = False
    approved: bool = True
    bonus_percent: Decimal = Decimal(0)


@dataclass(frozen=True)
class Item:
    item_id: int
    product_id: int
    brand_id: int
    category_path: tuple[int, ...]  # the item's category, then its ancestors, nearest first
    quantity: int
    line_fen: int


@dataclass(frozen=True)
class OrderInput:
    order_id: int
    order_no: str
    paid_fen: int
    total_fen: int
    paid_at: datetime
    items: tuple[Item, ...]
    seller: Node | None
    self_purchase: bool = False
    uplines: tuple[Node, ...] = ()  # individuals above the seller on the paid date, nearest first
    organisations: tuple[Node, ...] = ()  # organisation ancestors on the paid date, nearest first


@dataclass(frozen=True)
class RuleSpec:
    id: int
    kind: str
    name: str = ""
    level: int = 0
    basis: str = "percent"
    rate_percent: Decimal | None = None
    amount_fen: int | None = None
    scope: str = "all"
    scope_id: int | None = None
    product_ids: frozenset[int] = frozenset()
    koc_ids: frozenset[int] = frozenset()
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    beneficiary_role: str = ""

    def in_window(self, at: datetime) -> bool:
        return (self.valid_from is None or self.valid_from <= at) and (
            self.valid_to is None or at < self.valid_to
        )


@dataclass(frozen=True)
class PlanSpec:
    rule_set_id: int
    version: int
    name: str
    rules: tuple[RuleSpec, ...]


@dataclass(frozen=True)
class Part:
    """One commission of one order: what one beneficiary earns by one rule."""

    koc_id: int
    is_organisation: bool
    rule_id: int
    kind: str  # Commission.Kind value
    level: int | None
    base_fen: int
    rate_percent: Decimal | None  # effective percent (after a brand cap), None for per-unit rules
    unit_fen: int | None
    quantity: int
    amount_fen: int
    exact: Decimal = field(compare=False)
    explanation: str = field(compare=False, default="")


@dataclass(frozen=True)
class Outcome:
    parts: tuple[Part, ...]
    cap_fen: int
    exact_total: Decimal
    scaled_to_cap: bool

    @property
    def total_fen(self) -> int:
        return sum(p.amount_fen for p in self.parts)


def effective_max_levels(configured: int) -> int:
    return max(0, min(int(configured), HARD_MAX_LEVELS))


def cap_fen_of(paid_fen: int, cap_percent: Decimal) -> int:
    return floor_fen(Decimal(paid_fen) * Decimal(cap_percent) / HUNDRED)


# --- matching ---------------------------------------------------------------------------------------


def scope_specificity(rule: RuleSpec, item: Item) -> tuple[int, int] | None:
    """How specifically `rule` names `item` (higher wins), or None when it does not apply."""
    if rule.scope == "all":
        return (1, 0)
    if rule.scope == "category":
        if rule.scope_id in item.category_path:
            return (2, -item.category_path.index(rule.scope_id))
        return None
    if rule.scope == "brand":
        return (3, 0) if rule.scope_id == item.brand_id else None
    if rule.scope == "product":
        return (4, 0) if rule.scope_id == item.product_id else None
    return None


def best_rule(rules: Iterable[RuleSpec], item: Item) -> RuleSpec | None:
    best, best_key = None, None
    for rule in rules:
        spec = scope_specificity(rule, item)
        if spec is None:
            continue
        key = (spec, -rule.id)  # equally specific: the older rule (compliance refuses true duplicates)
        if best_key is None or key > best_key:
            best, best_key = rule, key
    return best


def _rule_exact(rule: RuleSpec, base_fen: int, quantity: int, percent: Decimal | None = None) -> Decimal:
    if rule.basis == "per_unit" and rule.kind in (KIND_SALES, KIND_TARGETED):
        return Decimal(quantity) * Decimal(rule.amount_fen or 0)
    rate = percent if percent is not None else (rule.rate_percent or Decimal(0))
    return Decimal(base_fen) * Decimal(rate) / HUNDRED


# --- the computation --------------------------------------------------------------------------------


@dataclass
class _Contribution:
    node: Node
    rule: RuleSpec
    kind: str
    level: int | None
    exact: Decimal
    percent: Decimal | None


def compute(
    order: OrderInput,
    plan: PlanSpec | None,
    *,
    brand_max: Mapping[int, Decimal],
    cap_percent: Decimal,
    max_levels: int,
) -> Outcome:
    """The commissions of `order` under `plan` (see the module docstring for the rules)."""
    cap = cap_fen_of(order.paid_fen, cap_percent)
    seller = order.seller
    if (
        plan is None
        or seller is None
        or not seller.approved
        or order.self_purchase
        or order.paid_fen <= 0
        or not order.items
        or sum(i.line_fen for i in order.items) <= 0
    ):
        return Outcome(parts=(), cap_fen=cap, exact_total=Decimal(0), scaled_to_cap=False)

    levels = effective_max_levels(max_levels)
    by_kind: dict[str, list[RuleSpec]] = defaultdict(list)
    for rule in plan.rules:
        by_kind[rule.kind].append(rule)
    sales_by_level: dict[int, list[RuleSpec]] = defaultdict(list)
    for rule in by_kind[KIND_SALES]:
        sales_by_level[rule.level].append(rule)

    # Level k's beneficiary: the seller at 0, then individual uplines; an organisation seller has none.
    individuals: list[Node | None] = [seller]
    if not seller.is_organisation:
        for upline in order.uplines[: max(0, levels - 1)]:
            if upline.is_organisation:
                break
            individuals.append(upline)

    bases = allocate_fen(order.paid_fen, [i.line_fen for i in order.items])
    # (koc_id, rule_id) -> [exact, base, quantity, node, rule, kind, level, brand-capped?]
    totals: dict[tuple[int, int], list] = {}

    for item, base in zip(order.items, bases, strict=True):
        contributions: list[_Contribution] = []
        for level in range(min(levels, len(individuals))):
            node = individuals[level]
            if node is None or not node.approved:
                continue
            rule = best_rule(sales_by_level.get(level, ()), item)
            if rule is not None:
                kind = "direct" if level == 0 else "upline"
                contributions.append(
                    _Contribution(
                        node, rule, kind, level, _rule_exact(rule, base, item.quantity), rule.rate_percent
                    )
                )
        if levels >= 1:
            for rule in by_kind[KIND_TARGETED]:
                if not rule.in_window(order.paid_at) or scope_specificity(rule, item) is None:
                    continue
                if rule.product_ids and item.product_id not in rule.product_ids:
                    continue
                if rule.koc_ids and seller.koc_id not in rule.koc_ids:
                    continue
                contributions.append(
                    _Contribution(
                        seller, rule, "targeted", 0, _rule_exact(rule, base, item.quantity), rule.rate_percent
                    )
                )
            bonus = Decimal(seller.bonus_percent or 0)
            if bonus > 0:
                tier_rule = best_rule((r for r in by_kind[KIND_TIER] if r.in_window(order.paid_at)), item)
                if tier_rule is not None:
                    contributions.append(
                        _Contribution(
                            seller, tier_rule, "tier", 0, _rule_exact(tier_rule, base, 0, bonus), bonus
                        )
                    )
        for rule in by_kind[KIND_TEAM]:
            if not rule.in_window(order.paid_at) or scope_specificity(rule, item) is None:
                continue
            for org in order.organisations:
                if not org.is_organisation or not org.approved:
                    continue
                if rule.beneficiary_role and org.role != rule.beneficiary_role:
                    continue
                contributions.append(
                    _Contribution(
                        org, rule, "team", None, _rule_exact(rule, base, item.quantity), rule.rate_percent
                    )
                )

        # The brand's cap, per beneficiary on this item.
        limit_percent = Decimal(brand_max.get(item.brand_id, cap_percent))
        per_node: dict[int, list[_Contribution]] = defaultdict(list)
        for c in contributions:
            per_node[c.node.koc_id].append(c)
        for node_contributions in per_node.values():
            limit = Decimal(base) * limit_percent / HUNDRED
            total = sum((c.exact for c in node_contributions), Decimal(0))
            capped = total > limit
            for c in node_contributions:
                exact = c.exact * limit / total if capped and total > 0 else c.exact
                key = (c.node.koc_id, c.rule.id)
                slot = totals.setdefault(key, [Decimal(0), 0, 0, c.node, c.rule, c.kind, c.level, False])
                slot[0] += exact
                slot[1] += base
                slot[2] += item.quantity
                slot[7] = slot[7] or capped

    def order_key(entry):
        _key, (_e, _b, _q, node, rule, _kind, level, _capped) = entry
        return (level if level is not None else 99, node.koc_id, rule.id)

    ordered = sorted(totals.items(), key=order_key)
    exacts = [slot[0] for _key, slot in ordered]
    amounts = [round_fen(x) for x in exacts]
    exact_total = sum(exacts, Decimal(0))
    scaled = sum(amounts) > cap
    if scaled:
        amounts = allocate_fen(cap, exacts)

    parts = []
    for (_key, slot), amount in zip(ordered, amounts, strict=True):
        exact, base, quantity, node, rule, kind, level, capped = slot
        if amount <= 0:
            continue
        per_unit = rule.basis == "per_unit" and rule.kind in (KIND_SALES, KIND_TARGETED)
        if per_unit:
            rate = None
        elif kind == "tier":
            rate = Decimal(seller.bonus_percent)
        else:
            rate = Decimal(rule.rate_percent or 0)
        if capped and rate is not None and base > 0:
            rate = (exact * HUNDRED / Decimal(base)).quantize(Decimal("0.0001"))
        part = Part(
            koc_id=node.koc_id,
            is_organisation=node.is_organisation,
            rule_id=rule.id,
            kind=kind,
            level=level,
            base_fen=base,
            rate_percent=rate,
            unit_fen=rule.amount_fen if per_unit else None,
            quantity=quantity,
            amount_fen=amount,
            exact=exact,
        )
        note = []
        if capped:
            note.append("受品牌佣金上限限制")
        if scaled:
            note.append(f"订单佣金合计不超过实付的 {_pct(cap_percent)}，按比例缩减")
        explanation = explain(order_no=order.order_no, part=part, plan=plan, rule=rule, notes=note)
        parts.append(Part(**{**part.__dict__, "explanation": explanation}))
    return Outcome(parts=tuple(parts), cap_fen=cap, exact_total=exact_total, scaled_to_cap=scaled)


def _pct(value: Decimal | None) -> str:
    if value is None:
        return "0%"
    text = format(Decimal(value).normalize(), "f")
    return f"{text}%"


def explain(*, order_no: str, part: Part, plan: PlanSpec, rule: RuleSpec, notes: list[str]) -> str:
    """The sentence a KOC reads.

    e.g. 订单 2026… 实付 ¥99.00 × 10% = ¥9.90（直推奖励，直推 #1，规则集「基础方案」v1）
    """
    label = KIND_LABELS.get(part.kind, part.kind)
    if part.level and part.kind == "upline":
        label = f"{label}·第 {part.level} 级上级"
    if part.unit_fen is not None:
        calculation = f"{part.quantity} 件 × ¥{yuan(part.unit_fen)}"
    else:
        calculation = f"实付 ¥{yuan(part.base_fen)} × {_pct(part.rate_percent)}"
    tail = f"（{label}，{rule.name or '规则'} #{rule.id}，规则集「{plan.name}」v{plan.version}）"
    extra = "；" + "；".join(notes) if notes else ""
    return f"订单 {order_no} {calculation} = ¥{yuan(part.amount_fen)}{tail}{extra}"


def reversal_fen(commission_fen: int, *, refunded_before: int, refunded_after: int, paid_fen: int) -> int:
    """What one refund takes back from a commission of `commission_fen`.

    pro_rata(commission, after, paid) - pro_rata(commission, before, paid): the shares telescope, so
    any sequence of refunds reverses exactly pro_rata(commission, refunded in total, paid) - all of
    it for a full refund - and a refund's share does not depend on when it arrived.
    """
    if paid_fen <= 0:
        return 0
    after = max(0, min(refunded_after, paid_fen))
    before = max(0, min(refunded_before, after))
    return pro_rata(commission_fen, after, paid_fen) - pro_rata(commission_fen, before, paid_fen)
