"""Compliance: each forbidden rule is refused, on save and on activation, with its own error code."""

from decimal import Decimal

import pytest

from apps.commissions.errors import RuleSetNotCompliant
from apps.commissions.models import Rule, RuleSet
from apps.commissions.services import rules as rule_services
from tests.commissions.factories import make_plan, make_product
from tests.shop.factories import BrandFactory

SALES = Rule.Kind.SALES


def refused_codes(*rules: dict) -> list[str]:
    rule_set = rule_services.ruleset_create(name="草稿")
    with pytest.raises(RuleSetNotCompliant) as caught:
        for fields in rules:
            rule_services.rule_add(rule_set=rule_set, **{"name": "r", **fields})
    return caught.value.codes


@pytest.mark.django_db
def test_the_demo_plan_is_compliant():
    make_product()
    rule_set = make_plan(
        {"kind": SALES, "level": 0, "rate_percent": Decimal("10")},
        {"kind": SALES, "level": 1, "rate_percent": Decimal("3")},
    )
    assert rule_set.status == RuleSet.Status.ACTIVE


@pytest.mark.django_db
def test_a_third_individual_level_is_refused_with_the_default_two(settings):
    settings.COMMISSION_MAX_LEVELS = 2
    assert refused_codes({"kind": SALES, "level": 2, "rate_percent": Decimal("1")}) == ["too_many_levels"]


@pytest.mark.django_db
def test_the_level_limit_is_never_above_three_whatever_the_setting(settings):
    settings.COMMISSION_MAX_LEVELS = 5
    codes = refused_codes({"kind": SALES, "level": 3, "rate_percent": Decimal("1")})
    assert codes == ["max_levels_setting", "too_many_levels"]


@pytest.mark.django_db
def test_a_sign_up_reward_is_refused():
    assert refused_codes({"kind": Rule.Kind.SIGNUP, "amount_fen": 1000}) == ["recruiting_reward_forbidden"]


@pytest.mark.django_db
def test_a_periodic_target_on_recruits_is_refused():
    codes = refused_codes(
        {
            "kind": Rule.Kind.PERIODIC,
            "period": "month",
            "measure": "own",
            "metric": Rule.Metric.RECRUITS,
            "target": 5,
            "amount_fen": 10000,
        }
    )
    assert codes == ["recruiting_reward_forbidden"]


@pytest.mark.django_db
def test_team_pay_to_an_individual_is_refused():
    codes = refused_codes(
        {"kind": Rule.Kind.TEAM, "rate_percent": Decimal("1"), "beneficiary_role": "leader"}
    )
    assert codes == ["team_reward_individual"]


@pytest.mark.django_db
def test_a_team_sales_target_for_individuals_is_refused():
    codes = refused_codes(
        {
            "kind": Rule.Kind.PERIODIC,
            "period": "quarter",
            "measure": "team",
            "metric": "amount",
            "target": 100000,
            "amount_fen": 5000,
            "beneficiary_role": "koc",
        }
    )
    assert codes == ["team_reward_individual"]


@pytest.mark.django_db
def test_a_rate_above_a_brands_maximum_is_refused():
    brand = BrandFactory(max_commission_rate=Decimal("8.00"), name="小品牌")
    make_product(brand=brand)
    codes = refused_codes({"kind": SALES, "level": 0, "rate_percent": Decimal("10")})
    assert codes == ["brand_rate_exceeded"]


@pytest.mark.django_db
def test_a_brands_own_lower_rule_makes_a_general_rate_acceptable():
    brand = BrandFactory(max_commission_rate=Decimal("8.00"))
    make_product(brand=brand)
    # (rule_add checks the set after each rule: the brand's own rule goes in first)
    rule_set = make_plan(
        {"kind": SALES, "level": 0, "rate_percent": Decimal("8"), "scope": "brand", "scope_id": brand.pk},
        {"kind": SALES, "level": 0, "rate_percent": Decimal("10")},
    )
    assert rule_set.status == RuleSet.Status.ACTIVE


@pytest.mark.django_db
def test_the_tier_bonus_counts_against_the_brand_maximum():
    from tests.kocs.factories import LevelFactory

    LevelFactory(rank=1, commission_bonus_percent=Decimal("3"))
    make_product(max_rate="12.00")
    codes = refused_codes(
        {"kind": SALES, "level": 0, "rate_percent": Decimal("10")}, {"kind": Rule.Kind.TIER}
    )
    assert codes == ["brand_rate_exceeded"]


@pytest.mark.django_db
def test_a_set_that_could_breach_the_order_cap_is_refused():
    make_product(max_rate="50.00")
    codes = refused_codes(
        {"kind": SALES, "level": 0, "rate_percent": Decimal("20")},
        {"kind": SALES, "level": 1, "rate_percent": Decimal("6")},
        {
            "kind": Rule.Kind.TEAM,
            "rate_percent": Decimal("3"),
            "beneficiary_role": "",
        },  # agency and branch: 6
    )
    assert codes == ["cap_exceeded"]


@pytest.mark.django_db
def test_a_targeted_campaign_that_stacks_past_the_cap_is_refused():
    product = make_product(max_rate="50.00")
    codes = refused_codes(
        {"kind": SALES, "level": 0, "rate_percent": Decimal("25")},
        {"kind": Rule.Kind.TARGETED, "rate_percent": Decimal("6"), "product_ids": [product.pk]},
    )
    assert codes == ["cap_exceeded"]


@pytest.mark.django_db
def test_a_per_unit_amount_is_bounded_by_the_cheapest_price():
    product = make_product(price_fen=1000, max_rate="50.00")
    codes = refused_codes(
        {
            "kind": SALES,
            "level": 0,
            "basis": "per_unit",
            "amount_fen": 400,
            "scope": "product",
            "scope_id": product.pk,
        }
    )
    assert codes == ["cap_exceeded"]  # 400 fen on a 10-yuan item is 40%


@pytest.mark.django_db
def test_a_per_unit_amount_without_a_product_is_refused():
    codes = refused_codes({"kind": SALES, "level": 0, "basis": "per_unit", "amount_fen": 100})
    assert codes == ["per_unit_needs_product"]


@pytest.mark.django_db
def test_two_rules_for_the_same_level_and_scope_are_refused():
    codes = refused_codes(
        {"kind": SALES, "level": 0, "rate_percent": Decimal("5")},
        {"kind": SALES, "level": 0, "rate_percent": Decimal("6")},
    )
    assert codes == ["duplicate_rule"]


@pytest.mark.django_db
def test_activation_re_checks_rules_written_behind_the_services_back(settings):
    # given: a draft whose forbidden rule was written directly (e.g. by a data migration)
    rule_set = rule_services.ruleset_create(name="草稿")
    Rule.objects.create(rule_set=rule_set, name="拉新", kind=Rule.Kind.SIGNUP, amount_fen=100)

    # when / then
    with pytest.raises(RuleSetNotCompliant) as caught:
        rule_services.ruleset_activate(rule_set=rule_set)
    assert caught.value.codes == ["recruiting_reward_forbidden"]
    rule_set.refresh_from_db()
    assert rule_set.status == RuleSet.Status.DRAFT


@pytest.mark.django_db
def test_the_admin_shows_each_violation_and_saves_nothing(admin_client):
    make_product()
    data = {
        "name": "新方案",
        "notes": "",
        "effective_from_0": "",
        "effective_from_1": "",
        "effective_to_0": "",
        "effective_to_1": "",
        "rules-TOTAL_FORMS": "2",
        "rules-INITIAL_FORMS": "0",
        "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "1000",
    }
    rules = [
        {"name": "三级", "kind": "sales", "level": "2", "rate_percent": "1"},
        {"name": "拉新", "kind": "signup", "amount_fen": "100"},
    ]
    for i, rule in enumerate(rules):
        defaults = {"basis": "percent", "scope": "all", "product_ids": "[]", "koc_ids": "[]", "level": "0"}
        for key, value in {**defaults, **rule}.items():
            data[f"rules-{i}-{key}"] = value

    response = admin_client.post("/admin/commissions/ruleset/add/", data)

    assert response.status_code == 200
    body = response.content.decode()
    # Each violation as a message the operator can act on, not a raw code like "[too_many_levels]".
    assert "[too_many_levels]" not in body and "[recruiting_reward_forbidden]" not in body
    assert "第 2 级上级超出限制" in body
    assert "禁止为拉人头、注册或入会发放奖励" in body
    assert not RuleSet.objects.exists()


@pytest.mark.django_db
def test_an_active_set_cannot_be_edited_and_a_new_version_takes_over():
    from datetime import timedelta

    from django.utils import timezone

    first = make_plan({"kind": SALES, "level": 0, "rate_percent": Decimal("10")})
    with pytest.raises(Exception) as caught:
        rule_services.rule_add(rule_set=first, name="x", kind=SALES, level=1, rate_percent=Decimal("1"))
    assert caught.value.code == "rule_set_not_editable"

    second = rule_services.ruleset_copy(rule_set=first)
    start = timezone.now() + timedelta(days=1)
    rule_services.ruleset_activate(rule_set=second, effective_from=start)

    first.refresh_from_db()
    assert first.effective_to == start
    assert second.version == first.version + 1
    assert list(second.rules.values_list("rate_percent", flat=True)) == [Decimal("10.00")]
