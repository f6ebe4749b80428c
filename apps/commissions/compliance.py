"""The red line (docs/domain.md, 禁止传销条例 art. 7): checks run when a rule set is saved or activated.

Each violation has its own code and a message an operator can act on:

- `too_many_levels`: individual commission on more than COMMISSION_MAX_LEVELS levels, counting the
  selling KOC as the first (level 0) - "二级分销" is the seller and the seller's parent. The setting
  itself is never honoured above 3 (`max_levels_setting` if someone configures more).
- `recruiting_reward_forbidden`: money for recruiting or sign-ups (a sign-up reward, a target on
  new members).
- `team_reward_individual`: team-performance pay (on subtree sales) to an individual.
- `brand_rate_exceeded`: what one person could earn on an item above the brand's max_commission_rate.
- `cap_exceeded`: what all commissions on one order could add up to above COMMISSION_CAP_PERCENT.
- `periodic_reward_exceeded`: a periodic reward above what its target's sales could earn (an
  amount target: the cap percentage of the target; a units target: COMMISSION_PERIODIC_MAX_FEN_PER_UNIT
  per unit).
- shape errors that would make the above unprovable: `per_unit_needs_product` (a fixed amount per
  unit cannot be bounded as a percent without the product's price), `duplicate_rule`,
  `unknown_scope`, `unknown_koc`.

The worst cases are computed with the engine's own matching (`engine.rule_applies` and `best_rule`:
window, scope, product and KOC lists), on probe lines standing for every product of the catalogue,
at every instant a rule's window opens or closes, for every KOC a rule names and for anyone else:
product > brand > category > all at each level; targeted rules and the tier bonus stack on the
seller's; team rules pay each organisation ancestor, at most one agency and one branch. So the guard
approves exactly the rules the engine pays, never a narrower reading of them.
The engine still clamps every order at run time, so a later change of a brand's rate or a level's
bonus can never make an order pay more than its caps - it only makes this check stricter.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings
from django.utils.translation import gettext, gettext_lazy

from apps.core.money import floor_fen, yuan

from . import sources
from .engine import HARD_MAX_LEVELS, Item, RuleSpec, best_rule, effective_max_levels, rule_applies
from .models import Rule
from .plans import rule_spec

HUNDRED = Decimal(100)
INDIVIDUAL_ROLES = {Rule.Role.LEADER, Rule.Role.KOC}
ORGANISATION_ROLES = {Rule.Role.AGENCY, Rule.Role.BRANCH}
# branch -> agency -> leader -> KOC: an order has at most one organisation of each role above it.
MAX_ORGANISATIONS_PER_ROLE = 1


@dataclass(frozen=True)
class Violation:
    code: str
    message: str
    rule_name: str = ""


def _pct(value: Decimal) -> str:
    return f"{Decimal(value).quantize(Decimal('0.01')).normalize():f}%"


def _label(rule: Rule) -> str:
    return gettext("“%(rule)s”") % {"rule": rule.name or rule.get_kind_display()}


def check(rules: list[Rule]) -> list[Violation]:
    """Every violation of the rule set made of `rules` (saved or not). Empty means compliant."""
    violations: list[Violation] = []
    configured = int(settings.COMMISSION_MAX_LEVELS)
    max_levels = effective_max_levels(configured)
    if configured > HARD_MAX_LEVELS:
        violations.append(
            Violation(
                "max_levels_setting",
                gettext(
                    "COMMISSION_MAX_LEVELS=%(configured)s is over the legal limit of %(limit)s: "
                    "%(limit)s levels apply."
                )
                % {"configured": configured, "limit": HARD_MAX_LEVELS},
            )
        )

    for rule in rules:
        label = _label(rule)
        if rule.kind == Rule.Kind.SIGNUP:
            violations.append(
                Violation(
                    "recruiting_reward_forbidden",
                    gettext("%(rule)s: rewards for recruiting, signing up or joining are forbidden.")
                    % {"rule": label},
                    rule.name,
                )
            )
        if rule.kind == Rule.Kind.PERIODIC and rule.metric == Rule.Metric.RECRUITS:
            violations.append(
                Violation(
                    "recruiting_reward_forbidden",
                    gettext(
                        "%(rule)s: a periodic reward cannot target the number of recruits, only real sales."
                    )
                    % {"rule": label},
                    rule.name,
                )
            )
        if rule.kind == Rule.Kind.SALES and rule.level >= max_levels:
            violations.append(
                Violation(
                    "too_many_levels",
                    gettext(
                        "%(rule)s: upline level %(level)s is over the limit; individual commissions "
                        "reach at most %(max)s levels (the selling KOC included)."
                    )
                    % {"rule": label, "level": rule.level, "max": max_levels},
                    rule.name,
                )
            )
        if rule.kind == Rule.Kind.TEAM and rule.beneficiary_role in INDIVIDUAL_ROLES:
            violations.append(
                Violation(
                    "team_reward_individual",
                    gettext(
                        "%(rule)s: a team sales reward can only go to organisations (branches, agencies), "
                        "never to individuals."
                    )
                    % {"rule": label},
                    rule.name,
                )
            )
        if (
            rule.kind == Rule.Kind.PERIODIC
            and rule.measure == Rule.Measure.TEAM
            and rule.beneficiary_role not in ORGANISATION_ROLES
        ):
            violations.append(
                Violation(
                    "team_reward_individual",
                    gettext(
                        "%(rule)s: a periodic reward with a team sales target can only go to "
                        "organisations (choose the beneficiary role)."
                    )
                    % {"rule": label},
                    rule.name,
                )
            )
        if (
            rule.kind in (Rule.Kind.SALES, Rule.Kind.TARGETED)
            and rule.basis == Rule.Basis.PER_UNIT
            and rule.scope != Rule.Scope.PRODUCT
            and not rule.product_ids
        ):
            violations.append(
                Violation(
                    "per_unit_needs_product",
                    gettext(
                        "%(rule)s: a fixed amount per unit needs its products named, "
                        "so the commission cap can be checked."
                    )
                    % {"rule": label},
                    rule.name,
                )
            )

    violations += _duplicates(rules)
    violations += _references(rules)
    violations += _periodic_bounds(rules)
    if any(v.code in ("unknown_scope", "per_unit_needs_product") for v in violations):
        return violations  # the worst cases below need real products and brands
    violations += _caps(rules, max_levels)
    return violations


def _duplicates(rules: list[Rule]) -> list[Violation]:
    seen: dict[tuple, Rule] = {}
    out = []
    for rule in rules:
        if rule.kind not in (Rule.Kind.SALES, Rule.Kind.TIER):
            continue
        key = (
            rule.kind,
            rule.level if rule.kind == Rule.Kind.SALES else 0,
            rule.scope,
            rule.scope_id,
            tuple(sorted(rule.product_ids or ())),
            tuple(sorted(rule.koc_ids or ())),
            rule.valid_from,
            rule.valid_to,
        )
        if key in seen:
            out.append(
                Violation(
                    "duplicate_rule",
                    gettext(
                        "%(rule)s and %(other)s have the same kind, level and scope: keep only one of them."
                    )
                    % {"rule": _label(rule), "other": _label(seen[key])},
                    rule.name,
                )
            )
        else:
            seen[key] = rule
    return out


def _references(rules: list[Rule]) -> list[Violation]:
    wanted: dict[str, set[int]] = defaultdict(set)
    for rule in rules:
        if rule.scope != Rule.Scope.ALL and rule.scope_id is not None:
            wanted[rule.scope].add(rule.scope_id)
        wanted["product"].update(rule.product_ids or ())
        wanted["koc"].update(rule.koc_ids or ())
    found = {
        "brand": set(sources.brand_max_rates(wanted["brand"])) if wanted["brand"] else set(),
        "category": sources.category_exists(wanted["category"]) if wanted["category"] else set(),
        "product": set(sources.product_brands(wanted["product"])) if wanted["product"] else set(),
        "koc": sources.koc_exists(wanted["koc"]) if wanted["koc"] else set(),
    }
    out = []
    unknown = {
        "brand": gettext_lazy("%(rule)s: brand %(id)s does not exist."),
        "category": gettext_lazy("%(rule)s: category %(id)s does not exist."),
        "product": gettext_lazy("%(rule)s: product %(id)s does not exist."),
    }
    for rule in rules:
        if (
            rule.scope != Rule.Scope.ALL
            and rule.scope_id is not None
            and rule.scope_id not in found[rule.scope]
        ):
            out.append(
                Violation(
                    "unknown_scope",
                    str(unknown[rule.scope]) % {"rule": _label(rule), "id": rule.scope_id},
                    rule.name,
                )
            )
        missing = sorted(set(rule.product_ids or ()) - found["product"])
        if missing:
            message = str(unknown["product"]) % {"rule": _label(rule), "id": missing}
            out.append(Violation("unknown_scope", message, rule.name))
        missing = sorted(set(rule.koc_ids or ()) - found["koc"])
        if missing:
            message = gettext("%(rule)s: KOC %(id)s does not exist.") % {"rule": _label(rule), "id": missing}
            out.append(Violation("unknown_koc", message, rule.name))
    return out


# --- worst cases ------------------------------------------------------------------------------------

FAR_PAST = datetime(1970, 1, 1, tzinfo=UTC)
ANYONE = 0  # a beneficiary named by no KOC list


class _Catalogue:
    """The slice of the catalogue the rules can reach, as probe order lines, read once.

    Probe lines: one per product a rule names (its own brand and category), and one per (brand,
    category) pair of the catalogue standing for every product no rule names (product id 0). Every
    real order line is matched, by `engine.rule_matches_item`, exactly like one of them.
    """

    def __init__(self, rules: list[Rule]):
        products = set()
        for rule in rules:
            if rule.scope == Rule.Scope.PRODUCT and rule.scope_id is not None:
                products.add(rule.scope_id)
            products.update(rule.product_ids or ())
        self.product_price = sources.product_min_prices(products) if products else {}
        self.brand_rate = sources.brand_max_rates()
        self.max_bonus = sources.max_level_bonus_percent()
        named = sources.product_lines(products) if products else {}
        pairs = sources.brand_category_pairs()
        paths = sources.category_paths({c for _b, c in pairs} | {c for _b, c in named.values()})
        self.probes: dict[int, list[Item]] = defaultdict(list)
        for brand_id, category_id in pairs:
            self.probes[brand_id].append(Item(0, 0, brand_id, paths.get(category_id, (category_id,)), 1, 1))
        for product_id, (brand_id, category_id) in sorted(named.items()):
            self.probes[brand_id].append(
                Item(0, product_id, brand_id, paths.get(category_id, (category_id,)), 1, 1)
            )

    def unit_percent(self, rule: RuleSpec) -> Decimal:
        """A per-unit amount as a percent of the cheapest price of the products it can apply to."""
        products = set(rule.product_ids)
        if rule.scope == Rule.Scope.PRODUCT:
            products.add(rule.scope_id)
        prices = [self.product_price.get(p, 0) for p in products]
        if not prices or min(prices) <= 0:
            return Decimal("Infinity")
        return Decimal(rule.amount_fen or 0) * HUNDRED / Decimal(min(prices))

    def percent(self, rule: RuleSpec) -> Decimal:
        if rule.kind in (Rule.Kind.SALES, Rule.Kind.TARGETED) and rule.basis == Rule.Basis.PER_UNIT:
            return self.unit_percent(rule)
        if rule.kind == Rule.Kind.TIER:
            return self.max_bonus
        return Decimal(rule.rate_percent or 0)


def _instants(specs: list[RuleSpec]) -> list[datetime]:
    """Every instant at which the set of rules in their window can change (windows are [from, to))."""
    points = {FAR_PAST}
    for spec in specs:
        points.update(t for t in (spec.valid_from, spec.valid_to) if t is not None)
    return sorted(points)


def _worst_on(
    cat: _Catalogue, specs: list[RuleSpec], max_levels: int, item: Item, at: datetime, people: list[int]
) -> tuple[Decimal, Decimal]:
    """(the most one person, the most everyone together) can get on `item` paid at `at`, in percent,
    whoever the beneficiaries are (each level's beneficiary chosen independently: an upper bound)."""

    def sales_at(level: int, who: int) -> Decimal:
        rule = best_rule(
            (s for s in specs if s.kind == Rule.Kind.SALES and s.level == level),
            item,
            at=at,
            beneficiary_id=who,
        )
        return cat.percent(rule) if rule is not None else Decimal(0)

    def seller_total(who: int) -> Decimal:
        total = sales_at(0, who)
        total += sum(
            (
                cat.percent(s)
                for s in specs
                if s.kind == Rule.Kind.TARGETED and rule_applies(s, item=item, at=at, beneficiary_id=who)
            ),
            Decimal(0),
        )
        tiers = [s for s in specs if s.kind == Rule.Kind.TIER]
        if best_rule(tiers, item, at=at, beneficiary_id=who) is not None:
            total += cat.max_bonus
        return total

    seller = max(seller_total(who) for who in people) if max_levels >= 1 else Decimal(0)
    uplines = [max(sales_at(level, who) for who in people) for level in range(1, max_levels)]
    organisations = []
    for role in ORGANISATION_ROLES:
        organisations.append(
            max(
                sum(
                    (
                        Decimal(s.rate_percent or 0)
                        for s in specs
                        if s.kind == Rule.Kind.TEAM
                        and s.beneficiary_role in ("", role)
                        and rule_applies(s, item=item, at=at, beneficiary_id=who)
                    ),
                    Decimal(0),
                )
                * MAX_ORGANISATIONS_PER_ROLE
                for who in people
            )
        )
    one_person = max([seller, *uplines, *organisations])
    everyone = seller + sum(uplines, Decimal(0)) + sum(organisations, Decimal(0))
    return one_person, everyone


def _caps(rules: list[Rule], max_levels: int) -> list[Violation]:
    order_rules = [r for r in rules if r.kind not in (Rule.Kind.PERIODIC, Rule.Kind.SIGNUP)]
    if not order_rules:
        return []
    cat = _Catalogue(order_rules)
    specs = [rule_spec(r) for r in order_rules]
    people = sorted({ANYONE} | {k for s in specs for k in s.koc_ids})
    instants = _instants(specs)
    cap = Decimal(settings.COMMISSION_CAP_PERCENT)
    everyone_worst = Decimal(0)
    out = []
    for brand_id, rate in sorted(cat.brand_rate.items()):
        one_worst = Decimal(0)
        for item in cat.probes.get(brand_id, ()):
            for at in instants:
                one, everyone = _worst_on(cat, specs, max_levels, item, at, people)
                one_worst = max(one_worst, one)
                everyone_worst = max(everyone_worst, everyone)
        if one_worst > rate:
            names = sources.brand_names([brand_id])
            out.append(
                Violation(
                    "brand_rate_exceeded",
                    gettext(
                        "The commission cap of brand “%(brand)s” is %(rate)s; under this rule set one "
                        "person can get up to %(worst)s of one unit."
                    )
                    % {"brand": names.get(brand_id, brand_id), "rate": _pct(rate), "worst": _pct(one_worst)},
                )
            )
    if everyone_worst > cap:
        out.insert(
            0,
            Violation(
                "cap_exceeded",
                gettext(
                    "In the worst case one order's commissions reach %(worst)s of the amount paid, "
                    "over the cap of %(cap)s."
                )
                % {"worst": _pct(everyone_worst), "cap": _pct(cap)},
            ),
        )
    return out


def _periodic_bounds(rules: list[Rule]) -> list[Violation]:
    """A periodic reward is bounded by the sales that earn it, like any commission.

    Amount targets: the reward is at most COMMISSION_CAP_PERCENT of the target (a "1 yuan target,
    1000 yuan reward" is a payment for nothing). Units targets: at most
    COMMISSION_PERIODIC_MAX_FEN_PER_UNIT per unit of the target.
    """
    out = []
    cap = Decimal(settings.COMMISSION_CAP_PERCENT)
    per_unit = int(settings.COMMISSION_PERIODIC_MAX_FEN_PER_UNIT)
    for rule in rules:
        if rule.kind != Rule.Kind.PERIODIC or not rule.target or not rule.amount_fen:
            continue
        if rule.metric == Rule.Metric.AMOUNT:
            bound = floor_fen(Decimal(rule.target) * cap / HUNDRED)
            basis = gettext("%(cap)s of the target amount ¥%(target)s") % {
                "cap": _pct(cap),
                "target": yuan(rule.target),
            }
        elif rule.metric == Rule.Metric.UNITS:
            bound = rule.target * per_unit
            basis = gettext("a target of %(target)s units × ¥%(per_unit)s per unit") % {
                "target": rule.target,
                "per_unit": yuan(per_unit),
            }
        else:
            continue
        if rule.amount_fen > bound:
            out.append(
                Violation(
                    "periodic_reward_exceeded",
                    gettext("%(rule)s: the reward ¥%(amount)s is over the cap ¥%(bound)s (%(basis)s).")
                    % {
                        "rule": _label(rule),
                        "amount": yuan(rule.amount_fen),
                        "bound": yuan(bound),
                        "basis": basis,
                    },
                    rule.name,
                )
            )
    return out
