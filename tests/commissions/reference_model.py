"""A deliberately naive model of the commission rules, written from the domain's words alone.

It shares no code with the engine (no import from apps.commissions or apps.core.money): its own
rounding, its own matching, plain loops. The property tests feed the same random trees, rule sets,
orders and refunds to it and to the real engine (through the database, events in any order) and
expect the same money to the fen.

The rules, as the project states them:
- the paid amount is split over the lines by line amount, largest remainder (ties to the earlier line);
- a rule applies to a line when the payment time is in its window [valid_from, valid_to), the
  beneficiary is in its KOC list (if any), the product in its product list (if any) and the line in
  its scope; the narrowest wins among one level's sales rules: product list or product scope, then
  brand, then the deepest category, then all; then a KOC list, then a window; then the older rule;
- level 0 is the seller, 1.. the individuals above, fewer than max_levels levels; the seller also
  gets every applicable targeted rule and its level's bonus through the narrowest applicable tier
  rule; organisations above get every applicable team rule of their role;
- one beneficiary on one line never more than the brand's maximum: exact shares shrink in
  proportion; the whole fen on the line is the exact total rounded half up but never above
  floor(base x maximum), split over that beneficiary's rules by largest remainder;
- the order never pays more than floor(paid x cap): pieces are re-cut by largest remainder, never
  above what each was;
- after refunds a commission keeps floor(sum of pieces x units kept / units x (paid - refunded) /
  (paid - refunded by lines)), and all of them together never above floor(order cap x (paid -
  refunded) / paid);
- a periodic own-amount target counts completed lines sold to others, paid while its set was in
  force, net of refunds (the same shares), floored; met -> the reward.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from fractions import Fraction


def half_up(x: Decimal) -> int:
    return int(x.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def floor(x: Decimal) -> int:
    return int(x.quantize(Decimal(1), rounding=ROUND_FLOOR))


def largest_remainder(total: int, weights: list[Decimal]) -> list[int]:
    whole = sum(weights, Decimal(0))
    if whole <= 0:
        return [0] * len(weights)
    shares = [Decimal(total) * w / whole for w in weights]
    parts = [floor(s) for s in shares]
    left = total - sum(parts)
    ranked = sorted(range(len(weights)), key=lambda i: (-(shares[i] - parts[i]), i))
    for i in ranked[:left]:
        parts[i] += 1
    return parts


def bounded_split(total: int, weights: list[Decimal], bounds: list[int]) -> list[int]:
    parts = [min(p, b) for p, b in zip(largest_remainder(total, weights), bounds, strict=True)]
    whole = sum(weights, Decimal(0))
    shares = [Decimal(total) * w / whole if whole > 0 else Decimal(0) for w in weights]
    while sum(parts) < total:
        room = [i for i in range(len(parts)) if parts[i] < bounds[i]]
        if not room:
            break
        pick = sorted(room, key=lambda i: (-(shares[i] - parts[i]), i))[0]
        parts[pick] += 1
    return parts


@dataclass
class RefRule:
    id: int
    kind: str
    level: int = 0
    basis: str = "percent"
    rate: Decimal | None = None
    amount: int | None = None
    scope: str = "all"
    scope_id: int | None = None
    products: tuple[int, ...] = ()
    kocs: tuple[int, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    role: str = ""


@dataclass
class RefLine:
    item_id: int
    product: int
    brand: int
    categories: tuple[int, ...]  # the line's category, then its parents
    quantity: int
    line_fen: int


@dataclass
class RefPerson:
    id: int
    organisation: bool = False
    role: str = "koc"
    bonus: Decimal = Decimal(0)


@dataclass
class RefOrder:
    paid: int
    paid_at: datetime
    lines: list[RefLine]
    seller: RefPerson
    uplines: list[RefPerson]  # nearest first, individuals and organisations as they stand
    self_purchase: bool = False


@dataclass
class RefCommission:
    koc: int
    rule: int
    kind: str
    level: int | None
    pieces: dict[int, int] = field(default_factory=dict)
    exact: dict[int, Decimal] = field(default_factory=dict)

    @property
    def amount(self) -> int:
        return sum(self.pieces.values())


def narrowness(rule: RefRule, line: RefLine):
    """None when the rule's scope or product list misses the line, else how narrowly it names it."""
    if rule.scope == "all":
        scope = (1, 0)
    elif rule.scope == "category":
        if rule.scope_id not in line.categories:
            return None
        scope = (2, -line.categories.index(rule.scope_id))
    elif rule.scope == "brand":
        if rule.scope_id != line.brand:
            return None
        scope = (3, 0)
    else:
        if rule.scope_id != line.product:
            return None
        scope = (4, 0)
    if rule.products:
        if line.product not in rule.products:
            return None
        scope = (4, 0)
    return scope


def applies(rule: RefRule, line: RefLine, at: datetime, who: int):
    if rule.start is not None and at < rule.start:
        return None
    if rule.end is not None and at >= rule.end:
        return None
    if rule.kocs and who not in rule.kocs:
        return None
    scope = narrowness(rule, line)
    if scope is None:
        return None
    return (*scope, bool(rule.kocs), rule.start is not None or rule.end is not None)


def narrowest(rules: list[RefRule], line: RefLine, at: datetime, who: int) -> RefRule | None:
    best, best_key = None, None
    for rule in rules:
        how = applies(rule, line, at, who)
        if how is None:
            continue
        key = (how, -rule.id)
        if best_key is None or key > best_key:
            best, best_key = rule, key
    return best


def exact_of(rule: RefRule, base: int, quantity: int, percent: Decimal | None = None) -> Decimal:
    if rule.basis == "per_unit" and rule.kind in ("sales", "targeted"):
        return Decimal(quantity) * Decimal(rule.amount or 0)
    rate = percent if percent is not None else (rule.rate or Decimal(0))
    return Decimal(base) * rate / 100


def commissions(
    order: RefOrder, rules: list[RefRule], *, brand_max: dict[int, Decimal], cap: Decimal, max_levels: int
) -> tuple[list[RefCommission], int]:
    """The order's commissions (with their per-line pieces) and its cap in fen."""
    cap_fen = floor(Decimal(order.paid) * cap / 100)
    if order.self_purchase or order.paid <= 0 or sum(line.line_fen for line in order.lines) <= 0:
        return [], cap_fen
    levels = min(max_levels, 3)
    people = [order.seller]
    if not order.seller.organisation:
        for person in order.uplines[: max(0, levels - 1)]:
            if person.organisation:
                break
            people.append(person)
    organisations = [p for p in order.uplines if p.organisation]
    bases = largest_remainder(order.paid, [Decimal(line.line_fen) for line in order.lines])
    found: dict[tuple[int, int], RefCommission] = {}
    for line, base in zip(order.lines, bases, strict=True):
        earned = []  # (person, rule, kind, level, exact)
        for level in range(min(levels, len(people))):
            person = people[level]
            rule = narrowest(
                [r for r in rules if r.kind == "sales" and r.level == level], line, order.paid_at, person.id
            )
            if rule is not None:
                earned.append(
                    (
                        person,
                        rule,
                        "direct" if level == 0 else "upline",
                        level,
                        exact_of(rule, base, line.quantity),
                    )
                )
        if levels >= 1:
            for rule in rules:
                if (
                    rule.kind == "targeted"
                    and applies(rule, line, order.paid_at, order.seller.id) is not None
                ):
                    earned.append((order.seller, rule, "targeted", 0, exact_of(rule, base, line.quantity)))
            if order.seller.bonus > 0:
                tier = narrowest([r for r in rules if r.kind == "tier"], line, order.paid_at, order.seller.id)
                if tier is not None:
                    earned.append(
                        (order.seller, tier, "tier", 0, exact_of(tier, base, 0, order.seller.bonus))
                    )
        for rule in rules:
            if rule.kind != "team":
                continue
            for org in organisations:
                if rule.role and org.role != rule.role:
                    continue
                if applies(rule, line, order.paid_at, org.id) is not None:
                    earned.append((org, rule, "team", None, exact_of(rule, base, line.quantity)))
        limit = Decimal(base) * brand_max[line.brand] / 100
        by_person: dict[int, list] = {}
        for entry in earned:
            by_person.setdefault(entry[0].id, []).append(entry)
        for entries in by_person.values():
            total = sum((e[4] for e in entries), Decimal(0))
            shrink = total > limit
            exacts = [e[4] * limit / total if shrink and total > 0 else e[4] for e in entries]
            whole = min(half_up(sum(exacts, Decimal(0))), floor(limit))
            split = largest_remainder(whole, exacts) if whole > 0 else [0] * len(exacts)
            for (person, rule, kind, level, _exact), exact, fen in zip(entries, exacts, split, strict=True):
                c = found.setdefault((person.id, rule.id), RefCommission(person.id, rule.id, kind, level))
                c.pieces[line.item_id] = c.pieces.get(line.item_id, 0) + fen
                c.exact[line.item_id] = c.exact.get(line.item_id, Decimal(0)) + exact
    ordered = sorted(found.values(), key=lambda c: (c.level if c.level is not None else 99, c.koc, c.rule))
    slots = [(c, item) for c in ordered for item in c.pieces]
    pieces = [c.pieces[item] for c, item in slots]
    if sum(pieces) > cap_fen:
        new = bounded_split(cap_fen, [c.exact[item] for c, item in slots], pieces)
        for (c, item), fen in zip(slots, new, strict=True):
            c.pieces[item] = fen
    return [c for c in ordered if c.amount > 0], cap_fen


@dataclass
class RefRefunds:
    refunded: int = 0
    by_lines: int = 0
    units: dict[int, int] = field(default_factory=dict)


def kept(found: list[RefCommission], order: RefOrder, refunds: RefRefunds, cap_fen: int) -> list[int]:
    """What each commission keeps once `refunds` are all in."""
    paid = order.paid
    quantities = {line.item_id: line.quantity for line in order.lines}
    out = []
    for c in found:
        if paid <= 0 or refunds.refunded >= paid or paid - refunds.by_lines <= 0:
            out.append(0)
            continue
        numerator, denominator = 0, 1
        for item, fen in c.pieces.items():
            q = quantities[item]
            u = min(refunds.units.get(item, 0), q)
            # fen x (q - u) / q x (paid - refunded) / (paid - by lines), as one exact fraction
            n = fen * (q - u) * (paid - refunds.refunded)
            d = q * (paid - refunds.by_lines)
            numerator, denominator = numerator * d + n * denominator, denominator * d
        out.append(min(numerator // denominator, c.amount))
    if paid > 0:
        ceiling = cap_fen * max(0, paid - refunds.refunded) // paid
        if sum(out) > ceiling:
            out = bounded_split(ceiling, [Decimal(k) for k in out], out)
    return out


def net_sales(order: RefOrder, refunds: RefRefunds, rule: RefRule, who: int) -> Fraction:
    """What an order adds to a periodic amount target of `who` (exact fen)."""
    if order.self_purchase or order.paid <= 0:
        return Fraction(0)
    bases = largest_remainder(order.paid, [Decimal(line.line_fen) for line in order.lines])
    paid = order.paid
    if paid - refunds.by_lines <= 0:
        return Fraction(0)
    rest = Fraction(paid - refunds.refunded, paid - refunds.by_lines)
    total = Fraction(0)
    for line, base in zip(order.lines, bases, strict=True):
        if applies(rule, line, order.paid_at, who) is None:
            continue
        u = min(refunds.units.get(line.item_id, 0), line.quantity)
        total += base * Fraction(line.quantity - u, line.quantity) * rest
    return total
