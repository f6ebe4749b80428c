"""The pure core of the engine: an order, a plan and the tree as of the paid date in, parts out.

No database, no settings, no clock: everything arrives as frozen dataclasses, so the same function
serves accrual, the dry run and the property tests, and the answer depends only on its input.

How an order is paid, in order:
1. Nothing for an order without attribution, a self-purchase, or a seller not approved.
2. The paid amount is split over the items by line amount (largest remainder: the bases sum to the
   paid amount exactly) - the base of every percent.
3. Per item, each beneficiary's contributions. Which rules apply to an order line is decided by
   one function, `rule_applies`, for every kind alike: the rule's window (`valid_from` <= paid_at <
   `valid_to`), its scope, its product list and its KOC list (the KOCs it may pay) all restrict it.
   At each individual level (0 = the seller, 1.. = uplines as of the paid date, fewer than
   `max_levels` levels in all) the most specific applicable sales rule pays (product > brand >
   deepest category > all: a brand decides what it pays, so its own rate beats a category's); for
   the seller, every applicable targeted rule plus the tier bonus of the seller's level (through the
   most specific applicable tier rule); for organisation ancestors, every applicable team rule.
4. Brand cap: one beneficiary's percent on one item never exceeds the brand's max_commission_rate;
   if it would, that beneficiary's contributions on that item shrink in proportion.
5. Rounding, per (beneficiary, item): the exact total is rounded half up, but never above
   floor(base x brand max) - so rounding can never lift anyone over the brand's rate (0.5 fen on a
   5-fen item under 10% pays 0, not 1 fen = 20%). That whole-fen amount is split over the
   beneficiary's rules on the item by largest remainder. A commission (beneficiary x rule) is the
   sum of its per-item pieces, kept in `Part.lines` so refunds of single lines can take back
   exactly what those lines earned.
6. Order cap: floor(paid x cap%) is the ceiling. If the pieces exceed it they are re-cut from their
   exact values by largest remainder, never above what each piece was before (ties to the earlier
   piece in a fixed order: level, beneficiary, rule, item), so they sum to the ceiling exactly.

Refunds take back what the refunded part of the order earned (`kept_fen`): a commission keeps
floor(sum of its pieces x their line's units kept / units x the share of the order's remaining
amount that amount-only refunds left). Flooring what is kept (so rounding the reversal up) means the kept
commission never exceeds the brand's rate or the order's cap on what was finally paid.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

from apps.core.money import allocate_fen, floor_fen, round_fen, yuan

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
    lines: tuple[tuple[int, int], ...] = ()  # (item_id, fen): the per-item pieces, summing to amount_fen


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
    """How specifically `rule`'s scope names `item` (higher wins), or None when it does not."""
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


def rule_matches_item(rule: RuleSpec, item: Item) -> tuple[int, int] | None:
    """The line side of `rule_applies`: scope and product list (compliance probes lines with it).

    A product list names products, so a rule with one is as specific as a product-scoped rule.
    """
    if rule.product_ids:
        if item.product_id not in rule.product_ids or scope_specificity(rule, item) is None:
            return None
        return (4, 0)
    return scope_specificity(rule, item)


def rule_applies(
    rule: RuleSpec, *, item: Item, at: datetime, beneficiary_id: int
) -> tuple[int, int, bool, bool] | None:
    """Does `rule` apply to the order line `item`, paid at `at`, for `beneficiary_id`? Its
    specificity if so (higher wins among rules of one level), else None.

    The one decision of applicability, for every kind (the specificity ranks scope, then a KOC
    list, then a window: the narrowest applicable rule of a level pays): the window
    (`valid_from` <= at < `valid_to`),
    the KOC list (the KOCs the rule may pay: the beneficiary of a sales rule's level, the seller of
    a targeted or tier rule, the organisation of a team rule, the rewarded KOC of a periodic rule),
    the product list and the scope. Fields that mean nothing for a kind are refused when the rule is
    saved (Rule.clean), so nothing is silently ignored here.
    """
    if not rule.in_window(at):
        return None
    if rule.koc_ids and beneficiary_id not in rule.koc_ids:
        return None
    line = rule_matches_item(rule, item)
    if line is None:
        return None
    # Equally specific on the line: a rule for named KOCs, then a rule for a window, is the narrower.
    return (*line, bool(rule.koc_ids), rule.valid_from is not None or rule.valid_to is not None)


def best_rule(rules: Iterable[RuleSpec], item: Item, *, at: datetime, beneficiary_id: int) -> RuleSpec | None:
    best, best_key = None, None
    for rule in rules:
        spec = rule_applies(rule, item=item, at=at, beneficiary_id=beneficiary_id)
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


def allocate_bounded(total_fen: int, weights: list[Decimal], bounds: list[int]) -> list[int]:
    """Split `total_fen` by largest remainder over `weights`, no part above its bound.

    The caller guarantees sum(bounds) >= total_fen. Parts first get their largest-remainder share
    (clamped to the bound); fen still missing go one at a time to the parts with room, largest
    remaining exact share first, ties to the earlier part.
    """
    parts = [min(p, b) for p, b in zip(allocate_fen(total_fen, weights), bounds, strict=True)]
    whole = sum(weights, Decimal(0))
    exact = [Decimal(total_fen) * w / whole if whole > 0 else Decimal(0) for w in weights]
    while sum(parts) < total_fen:
        room = [i for i in range(len(parts)) if parts[i] < bounds[i]]
        if not room:
            break
        best = min(room, key=lambda i: (-(exact[i] - parts[i]), i))
        parts[best] += 1
    return parts


# --- the computation --------------------------------------------------------------------------------


@dataclass
class _Contribution:
    node: Node
    rule: RuleSpec
    kind: str
    level: int | None
    exact: Decimal
    percent: Decimal | None


@dataclass
class _Slot:
    """One commission being built: a beneficiary x a rule, over the items it applies to."""

    node: Node
    rule: RuleSpec
    kind: str
    level: int | None
    exact: Decimal = Decimal(0)
    base: int = 0
    quantity: int = 0
    capped: bool = False
    pieces: dict[int, int] = field(default_factory=dict)  # item_id -> fen
    piece_exact: dict[int, Decimal] = field(default_factory=dict)


def _contributions(
    order: OrderInput,
    item: Item,
    base: int,
    *,
    individuals: list[Node],
    levels: int,
    sales_by_level: Mapping[int, list[RuleSpec]],
    by_kind: Mapping[str, list[RuleSpec]],
) -> list[_Contribution]:
    """Every (beneficiary, rule) that earns on one item, with its exact amount before any cap."""
    seller = order.seller
    at = order.paid_at
    out: list[_Contribution] = []
    for level in range(min(levels, len(individuals))):
        node = individuals[level]
        if not node.approved:
            continue
        rule = best_rule(sales_by_level.get(level, ()), item, at=at, beneficiary_id=node.koc_id)
        if rule is not None:
            kind = "direct" if level == 0 else "upline"
            out.append(
                _Contribution(
                    node, rule, kind, level, _rule_exact(rule, base, item.quantity), rule.rate_percent
                )
            )
    if levels >= 1:
        for rule in by_kind.get(KIND_TARGETED, ()):
            if rule_applies(rule, item=item, at=at, beneficiary_id=seller.koc_id) is None:
                continue
            out.append(
                _Contribution(
                    seller, rule, "targeted", 0, _rule_exact(rule, base, item.quantity), rule.rate_percent
                )
            )
        bonus = Decimal(seller.bonus_percent or 0)
        if bonus > 0:
            tier_rule = best_rule(by_kind.get(KIND_TIER, ()), item, at=at, beneficiary_id=seller.koc_id)
            if tier_rule is not None:
                out.append(
                    _Contribution(seller, tier_rule, "tier", 0, _rule_exact(tier_rule, base, 0, bonus), bonus)
                )
    for rule in by_kind.get(KIND_TEAM, ()):
        for org in order.organisations:
            if not org.is_organisation or not org.approved:
                continue
            if rule.beneficiary_role and org.role != rule.beneficiary_role:
                continue
            if rule_applies(rule, item=item, at=at, beneficiary_id=org.koc_id) is None:
                continue
            out.append(
                _Contribution(
                    org, rule, "team", None, _rule_exact(rule, base, item.quantity), rule.rate_percent
                )
            )
    return out


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
    individuals: list[Node] = [seller]
    if not seller.is_organisation:
        for upline in order.uplines[: max(0, levels - 1)]:
            if upline.is_organisation:
                break
            individuals.append(upline)

    bases = allocate_fen(order.paid_fen, [i.line_fen for i in order.items])
    slots: dict[tuple[int, int], _Slot] = {}

    for item, base in zip(order.items, bases, strict=True):
        contributions = _contributions(
            order,
            item,
            base,
            individuals=individuals,
            levels=levels,
            sales_by_level=sales_by_level,
            by_kind=by_kind,
        )
        # The brand's cap, per beneficiary on this item: exact shares shrink in proportion, and the
        # whole fen paid on the item is never above floor(base x brand max).
        limit_percent = Decimal(brand_max.get(item.brand_id, cap_percent))
        limit = Decimal(base) * limit_percent / HUNDRED
        per_node: dict[int, list[_Contribution]] = defaultdict(list)
        for c in contributions:
            per_node[c.node.koc_id].append(c)
        for node_contributions in per_node.values():
            total = sum((c.exact for c in node_contributions), Decimal(0))
            capped = total > limit
            exacts = [
                c.exact * limit / total if capped and total > 0 else c.exact for c in node_contributions
            ]
            whole_fen = min(round_fen(sum(exacts, Decimal(0))), floor_fen(limit))
            pieces = allocate_fen(whole_fen, exacts) if whole_fen > 0 else [0] * len(exacts)
            for c, exact, piece in zip(node_contributions, exacts, pieces, strict=True):
                slot = slots.setdefault((c.node.koc_id, c.rule.id), _Slot(c.node, c.rule, c.kind, c.level))
                slot.exact += exact
                slot.base += base
                slot.quantity += item.quantity
                slot.capped = slot.capped or capped
                slot.pieces[item.item_id] = slot.pieces.get(item.item_id, 0) + piece
                slot.piece_exact[item.item_id] = slot.piece_exact.get(item.item_id, Decimal(0)) + exact

    ordered = sorted(
        slots.values(), key=lambda s: (s.level if s.level is not None else 99, s.node.koc_id, s.rule.id)
    )
    exact_total = sum((s.exact for s in ordered), Decimal(0))
    keys = [(index, item_id) for index, s in enumerate(ordered) for item_id in s.pieces]
    pieces = [ordered[i].pieces[item_id] for i, item_id in keys]
    scaled = sum(pieces) > cap
    if scaled:
        weights = [ordered[i].piece_exact[item_id] for i, item_id in keys]
        pieces = allocate_bounded(cap, weights, pieces)
        for (i, item_id), piece in zip(keys, pieces, strict=True):
            ordered[i].pieces[item_id] = piece

    parts = []
    for slot in ordered:
        amount = sum(slot.pieces.values())
        if amount <= 0:
            continue
        rule, base = slot.rule, slot.base
        per_unit = rule.basis == "per_unit" and rule.kind in (KIND_SALES, KIND_TARGETED)
        if per_unit:
            rate = None
        elif slot.kind == "tier":
            rate = Decimal(seller.bonus_percent)
        else:
            rate = Decimal(rule.rate_percent or 0)
        if slot.capped and rate is not None and base > 0:
            rate = (slot.exact * HUNDRED / Decimal(base)).quantize(Decimal("0.0001"))
        part = Part(
            koc_id=slot.node.koc_id,
            is_organisation=slot.node.is_organisation,
            rule_id=rule.id,
            kind=slot.kind,
            level=slot.level,
            base_fen=base,
            rate_percent=rate,
            unit_fen=rule.amount_fen if per_unit else None,
            quantity=slot.quantity,
            amount_fen=amount,
            exact=slot.exact,
            lines=tuple(sorted((i, f) for i, f in slot.pieces.items() if f > 0)),
        )
        note = []
        if slot.capped:
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


@dataclass(frozen=True)
class RefundState:
    """How much of an order has been refunded: `refunded_fen` in all, `lines_fen` of it by refunds
    that named returned lines, and `units` returned per item id ((item_id, units) pairs)."""

    refunded_fen: int = 0
    lines_fen: int = 0
    units: tuple[tuple[int, int], ...] = ()

    def units_of(self, item_id: int) -> int:
        return sum(u for i, u in self.units if i == item_id)


def kept_fen(
    *, lines: Iterable[tuple[int, int]], quantities: Mapping[int, int], state: RefundState, paid_fen: int
) -> int:
    """What a commission made of per-item `lines` (item_id, fen) keeps once `state` is refunded.

    Each piece keeps the share of its line still kept (units not returned / units) times the share
    of the rest of the order that amount-only refunds left ((paid - refunded) / (paid - refunded by
    lines)); the commission keeps the floor of their exact sum: what is taken back rounds up, so what
    is kept can never exceed the brand's rate or the order's cap on the money finally paid. Nothing
    refunded keeps everything; all of it refunded keeps nothing.
    """
    if paid_fen <= 0:
        return 0
    after_lines = paid_fen - state.lines_fen
    if after_lines <= 0 or state.refunded_fen >= paid_fen:
        return 0
    # Exact rational arithmetic: a Decimal quotient such as 525/2245 is rounded, and 2245 x it
    # floors to 524 where the true share is exactly 525.
    rest = Fraction(paid_fen - state.refunded_fen, after_lines)
    exact = Fraction(0)
    for item_id, fen in lines:
        quantity = quantities.get(item_id, 0)
        returned = min(state.units_of(item_id), quantity)
        line = Fraction(quantity - returned, quantity) if quantity > 0 else Fraction(1)
        exact += fen * line * rest
    return min(math.floor(exact), sum(fen for _i, fen in lines))


def kept_all(
    commissions: list[tuple[tuple[int, int], ...]],
    *,
    quantities: Mapping[int, int],
    state: RefundState,
    paid_fen: int,
    cap_fen: int,
) -> list[int]:
    """`kept_fen` of each of an order's commissions, and together never above the order's cap on
    what is left paid (floor(cap x (paid - refunded) / paid)): if the floors still add up above it,
    the kept amounts are re-cut by largest remainder, none above its own."""
    kept = [kept_fen(lines=c, quantities=quantities, state=state, paid_fen=paid_fen) for c in commissions]
    if paid_fen <= 0:
        return kept
    ceiling = cap_fen * max(0, paid_fen - state.refunded_fen) // paid_fen
    if sum(kept) > ceiling:
        kept = allocate_bounded(ceiling, [Decimal(k) for k in kept], kept)
    return kept
