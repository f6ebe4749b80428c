"""The red line (DOMAIN.md, 禁止传销条例 art. 7): checks run when a rule set is saved or activated.

Each violation has its own code and a message an operator can act on:

- `too_many_levels`: individual commission on more than COMMISSION_MAX_LEVELS levels, counting the
  selling KOC as the first (level 0) - "二级分销" is the seller and the seller's parent. The setting
  itself is never honoured above 3 (`max_levels_setting` if someone configures more).
- `recruiting_reward_forbidden`: money for recruiting or sign-ups (a sign-up reward, a target on
  new members).
- `team_reward_individual`: team-performance pay (on subtree sales) to an individual.
- `brand_rate_exceeded`: what one person could earn on an item above the brand's max_commission_rate.
- `cap_exceeded`: what all commissions on one order could add up to above COMMISSION_CAP_PERCENT.
- shape errors that would make the above unprovable: `per_unit_needs_product` (a fixed amount per
  unit cannot be bounded as a percent without the product's price), `duplicate_rule`,
  `unknown_scope`, `unknown_koc`.

The worst cases are computed over every combination the engine could produce (see engine.py for the
matching: product > brand > category > all at each level; targeted rules and the tier bonus stack
on the seller's; team rules pay each organisation ancestor, at most one agency and one branch).
The engine still clamps every order at run time, so a later change of a brand's rate or a level's
bonus can never make an order pay more than its caps - it only makes this check stricter.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from . import sources
from .engine import HARD_MAX_LEVELS, effective_max_levels
from .models import Rule

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
    return f"「{rule.name or rule.get_kind_display()}」"


def check(rules: list[Rule]) -> list[Violation]:
    """Every violation of the rule set made of `rules` (saved or not). Empty means compliant."""
    violations: list[Violation] = []
    configured = int(settings.COMMISSION_MAX_LEVELS)
    max_levels = effective_max_levels(configured)
    if configured > HARD_MAX_LEVELS:
        violations.append(
            Violation(
                "max_levels_setting",
                f"COMMISSION_MAX_LEVELS={configured} 超过法定上限 {HARD_MAX_LEVELS}，"
                f"按 {HARD_MAX_LEVELS} 级执行",
            )
        )

    for rule in rules:
        label = _label(rule)
        if rule.kind == Rule.Kind.SIGNUP:
            violations.append(
                Violation(
                    "recruiting_reward_forbidden", f"{label}：禁止为拉人头、注册或入会发放奖励", rule.name
                )
            )
        if rule.kind == Rule.Kind.PERIODIC and rule.metric == Rule.Metric.RECRUITS:
            violations.append(
                Violation(
                    "recruiting_reward_forbidden",
                    f"{label}：周期奖励不能以发展下级人数为目标，只能考核真实成交",
                    rule.name,
                )
            )
        if rule.kind == Rule.Kind.SALES and rule.level >= max_levels:
            violations.append(
                Violation(
                    "too_many_levels",
                    f"{label}：第 {rule.level} 级上级超出限制，"
                    f"个人佣金最多 {max_levels} 级（含成交 KOC 本人）",
                    rule.name,
                )
            )
        if rule.kind == Rule.Kind.TEAM and rule.beneficiary_role in INDIVIDUAL_ROLES:
            violations.append(
                Violation(
                    "team_reward_individual",
                    f"{label}：团队业绩奖励只能发给机构（分公司、机构），不能发给个人",
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
                    f"{label}：以团队业绩为目标的周期奖励只能发给机构（请选择受益角色）",
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
                    f"{label}：按件固定金额的规则必须指定商品，才能核对佣金上限",
                    rule.name,
                )
            )

    violations += _duplicates(rules)
    violations += _references(rules)
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
        key = (rule.kind, rule.level if rule.kind == Rule.Kind.SALES else 0, rule.scope, rule.scope_id)
        if key in seen:
            out.append(
                Violation(
                    "duplicate_rule",
                    f"{_label(rule)} 与 {_label(seen[key])} 的类型、层级和范围相同，只能保留一条",
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
    names = {"brand": "品牌", "category": "类目", "product": "商品"}
    for rule in rules:
        if (
            rule.scope != Rule.Scope.ALL
            and rule.scope_id is not None
            and rule.scope_id not in found[rule.scope]
        ):
            out.append(
                Violation(
                    "unknown_scope", f"{_label(rule)}：{names[rule.scope]} {rule.scope_id} 不存在", rule.name
                )
            )
        missing = sorted(set(rule.product_ids or ()) - found["product"])
        if missing:
            out.append(Violation("unknown_scope", f"{_label(rule)}：商品 {missing} 不存在", rule.name))
        missing = sorted(set(rule.koc_ids or ()) - found["koc"])
        if missing:
            out.append(Violation("unknown_koc", f"{_label(rule)}：KOC {missing} 不存在", rule.name))
    return out


# --- worst cases ------------------------------------------------------------------------------------


class _Catalogue:
    """The slice of the catalogue the rules name, read once."""

    def __init__(self, rules: list[Rule]):
        products = set()
        for rule in rules:
            if rule.scope == Rule.Scope.PRODUCT and rule.scope_id is not None:
                products.add(rule.scope_id)
            products.update(rule.product_ids or ())
        self.product_brand = sources.product_brands(products) if products else {}
        self.product_price = sources.product_min_prices(products) if products else {}
        self.brand_rate = sources.brand_max_rates()
        self.category_brands: dict[int, set[int]] = {}
        for rule in rules:
            if rule.scope == Rule.Scope.CATEGORY and rule.scope_id not in self.category_brands:
                self.category_brands[rule.scope_id] = sources.brands_in_category(rule.scope_id)
        self.max_bonus = sources.max_level_bonus_percent()

    def unit_percent(self, rule: Rule) -> Decimal:
        """A per-unit amount as a percent of the cheapest price of the products it can apply to."""
        products = set(rule.product_ids or ())
        if rule.scope == Rule.Scope.PRODUCT:
            products.add(rule.scope_id)
        prices = [self.product_price.get(p, 0) for p in products]
        if not prices or min(prices) <= 0:
            return Decimal("Infinity")
        return Decimal(rule.amount_fen or 0) * HUNDRED / Decimal(min(prices))

    def percent(self, rule: Rule) -> Decimal:
        if rule.kind in (Rule.Kind.SALES, Rule.Kind.TARGETED) and rule.basis == Rule.Basis.PER_UNIT:
            return self.unit_percent(rule)
        if rule.kind == Rule.Kind.TIER:
            return self.max_bonus
        return Decimal(rule.rate_percent or 0)

    def applies_to_brand(self, rule: Rule, brand_id: int) -> bool:
        """Could `rule`'s scope (and product list) cover some item of `brand_id`?"""
        if rule.product_ids and not any(self.product_brand.get(p) == brand_id for p in rule.product_ids):
            return False
        if rule.scope == Rule.Scope.ALL:
            return True
        if rule.scope == Rule.Scope.BRAND:
            return rule.scope_id == brand_id
        if rule.scope == Rule.Scope.PRODUCT:
            return self.product_brand.get(rule.scope_id) == brand_id
        return brand_id in self.category_brands.get(rule.scope_id, set())

    def level_candidates(self, rules: list[Rule], brand_id: int | None) -> list[Rule]:
        """The sales rules of one level that could win on some item (of `brand_id`, or of any brand)."""
        if brand_id is None:
            return rules
        applicable = [r for r in rules if self.applies_to_brand(r, brand_id)]
        if any(r.scope == Rule.Scope.BRAND for r in applicable):
            # The brand's own rule beats category and all-product rules on every item of the brand.
            return [r for r in applicable if r.scope in (Rule.Scope.BRAND, Rule.Scope.PRODUCT)]
        return applicable


def _worst(
    cat: _Catalogue, rules: list[Rule], max_levels: int, brand_id: int | None
) -> tuple[Decimal, Decimal]:
    """(the most one person can get, the most everyone together can get) on one item, in percent."""
    kinds: dict[str, list[Rule]] = defaultdict(list)
    for rule in rules:
        if brand_id is None or rule.kind == Rule.Kind.PERIODIC or cat.applies_to_brand(rule, brand_id):
            kinds[rule.kind].append(rule)
    per_level: dict[int, list[Rule]] = defaultdict(list)
    for rule in kinds[Rule.Kind.SALES]:
        if rule.level < max_levels:
            per_level[rule.level].append(rule)
    level_max = {
        level: max((cat.percent(r) for r in cat.level_candidates(rs, brand_id)), default=Decimal(0))
        for level, rs in per_level.items()
    }
    seller = level_max.get(0, Decimal(0)) if max_levels >= 1 else Decimal(0)
    if max_levels >= 1:
        seller += sum((cat.percent(r) for r in kinds[Rule.Kind.TARGETED]), Decimal(0))
        if kinds[Rule.Kind.TIER]:
            seller += cat.max_bonus
    uplines = [level_max.get(level, Decimal(0)) for level in range(1, max_levels)]
    organisations = {}
    for role in ORGANISATION_ROLES:
        organisations[role] = (
            sum(
                (
                    Decimal(r.rate_percent or 0)
                    for r in kinds[Rule.Kind.TEAM]
                    if r.beneficiary_role in ("", role)
                ),
                Decimal(0),
            )
            * MAX_ORGANISATIONS_PER_ROLE
        )
    one_person = max([seller, *uplines, *organisations.values()])
    everyone = seller + sum(uplines, Decimal(0)) + sum(organisations.values(), Decimal(0))
    return one_person, everyone


def _caps(rules: list[Rule], max_levels: int) -> list[Violation]:
    order_rules = [r for r in rules if r.kind not in (Rule.Kind.PERIODIC, Rule.Kind.SIGNUP)]
    if not order_rules:
        return []
    cat = _Catalogue(order_rules)
    out = []
    cap = Decimal(settings.COMMISSION_CAP_PERCENT)
    _one, everyone = _worst(cat, order_rules, max_levels, None)
    if everyone > cap:
        out.append(
            Violation(
                "cap_exceeded",
                f"最坏情况下一笔订单的佣金合计可达实付的 {_pct(everyone)}，超过上限 {_pct(cap)}",
            )
        )
    for brand_id, rate in sorted(cat.brand_rate.items()):
        one, _everyone = _worst(cat, order_rules, max_levels, brand_id)
        if one > rate:
            names = sources.brand_names([brand_id])
            out.append(
                Violation(
                    "brand_rate_exceeded",
                    f"品牌「{names.get(brand_id, brand_id)}」的佣金上限为 {_pct(rate)}，"
                    f"本规则集下单人单件最高可得 {_pct(one)}",
                )
            )
    return out
