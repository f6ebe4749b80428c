"""Rules pay exactly what they say: every field of every kind restricts, activation never reaches into
the past, retiring works in every state, and rounding never lifts anyone over a cap.

Each test named after a reproduction of the outside review failed on the code before this change.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.commissions.errors import RuleSetActivationInPast, RuleSetNotCompliant
from apps.commissions.models import Commission, Rule, RuleSet
from apps.commissions.services import rules as rule_services
from tests.commissions.factories import at, make_plan, make_product, make_team, order_payload, paid, refunded

pytestmark = pytest.mark.django_db

SALES = Rule.Kind.SALES


def amounts(order) -> dict[tuple[int, str], int]:
    return {(c.koc_id, c.kind): c.amount_fen for c in Commission.objects.filter(order_id=order["order_id"])}


# --- point 1: one function decides which rules apply ---------------------------------------------------


def test_a_product_and_week_limited_sales_rule_does_not_pay_on_another_product_or_after_its_week():
    # given: a base 10% for everything, and a 20% launch-week rule limited to product X
    team = make_team()
    tea = make_product(max_rate="30.00")
    other = make_product(max_rate="30.00")
    make_plan(
        {"kind": SALES, "level": 0, "rate_percent": Decimal("10"), "name": "基础"},
        {
            "kind": SALES,
            "level": 0,
            "rate_percent": Decimal("20"),
            "product_ids": [tea.pk],
            "valid_from": at(0),
            "valid_to": at(7),
            "name": "新品周",
        },
    )
    mia = team["mia"].pk

    # when: X in its week, Y in the week, X after the week
    x_in_week = order_payload(koc=team["mia"], lines=[(tea, 1, 10000)], paid_at=at(1))
    y_in_week = order_payload(koc=team["mia"], lines=[(other, 1, 10000)], paid_at=at(1))
    x_after = order_payload(koc=team["mia"], lines=[(tea, 1, 10000)], paid_at=at(8))
    for order in (x_in_week, y_in_week, x_after):
        paid(order)

    # then: 20% only on X inside the week; 10% otherwise (before: 20% on Y too)
    assert amounts(x_in_week) == {(mia, "direct"): 2000}
    assert amounts(y_in_week) == {(mia, "direct"): 1000}
    assert amounts(x_after) == {(mia, "direct"): 1000}


def test_a_sales_rule_for_named_kocs_pays_only_them():
    team = make_team()
    product = make_product()
    make_plan(
        {"kind": SALES, "level": 0, "rate_percent": Decimal("10")},
        {"kind": SALES, "level": 0, "rate_percent": Decimal("15"), "koc_ids": [team["ava"].pk]},
    )
    by_ava = order_payload(koc=team["ava"], lines=[(product, 1, 10000)])
    by_mia = order_payload(koc=team["mia"], lines=[(product, 1, 10000)])
    paid(by_ava)
    paid(by_mia)

    assert amounts(by_ava)[(team["ava"].pk, "direct")] == 1500
    assert amounts(by_mia)[(team["mia"].pk, "direct")] == 1000


def test_team_and_tier_rules_honour_their_window_and_product_list():
    from apps.kocs.models import Koc
    from tests.kocs.factories import LevelFactory

    team = make_team()
    tea = make_product()
    other = make_product()
    level = LevelFactory(rank=1, commission_bonus_percent=Decimal("2"))
    Koc.objects.filter(pk=team["mia"].pk).update(level=level)
    make_plan(
        {"kind": Rule.Kind.TIER, "product_ids": [tea.pk]},
        {"kind": Rule.Kind.TEAM, "rate_percent": Decimal("1"), "valid_from": at(0), "valid_to": at(5)},
    )
    in_window = order_payload(koc=team["mia"], lines=[(tea, 1, 10000), (other, 1, 10000)], paid_at=at(1))
    after = order_payload(koc=team["mia"], lines=[(tea, 1, 10000)], paid_at=at(6))
    paid(in_window)
    paid(after)

    # the tier bonus on the tea line only; team pay to both organisations inside the window only
    assert amounts(in_window) == {
        (team["mia"].pk, "tier"): 200,
        (team["agency"].pk, "team"): 200,
        (team["branch"].pk, "team"): 200,
    }
    assert amounts(after) == {(team["mia"].pk, "tier"): 200}


@pytest.mark.parametrize(
    ("fields", "refused"),
    [
        ({"kind": SALES, "rate_percent": Decimal("5"), "beneficiary_role": "agency"}, "beneficiary_role"),
        ({"kind": SALES, "rate_percent": Decimal("5"), "target": 100}, "target"),
        ({"kind": SALES, "rate_percent": Decimal("5"), "amount_fen": 100}, "amount_fen"),
        ({"kind": Rule.Kind.TIER, "rate_percent": Decimal("5")}, "rate_percent"),
        ({"kind": Rule.Kind.TIER, "level": 1}, "level"),
        ({"kind": Rule.Kind.TEAM, "rate_percent": Decimal("1"), "level": 1}, "level"),
        ({"kind": Rule.Kind.TEAM, "rate_percent": Decimal("1"), "basis": "per_unit"}, "basis"),
        ({"kind": Rule.Kind.TARGETED, "rate_percent": Decimal("1"), "level": 1}, "level"),
        (
            {
                "kind": Rule.Kind.PERIODIC,
                "period": "month",
                "measure": "own",
                "metric": "amount",
                "target": 100000,
                "amount_fen": 1000,
                "rate_percent": Decimal("5"),
            },
            "rate_percent",
        ),
    ],
)
def test_a_field_that_means_nothing_for_its_kind_is_refused_at_save(fields, refused):
    rule_set = rule_services.ruleset_create(name="草稿")

    with pytest.raises(ValidationError) as caught:
        rule_services.rule_add(rule_set=rule_set, name="r", **fields)

    assert refused in caught.value.message_dict
    assert rule_set.rules.count() == 0


def test_compliance_counts_a_product_list_exactly_as_the_engine_pays_it():
    # given: brand A allows 10%, brand B 30%; a 20% rule limited to B's product
    a_product = make_product(max_rate="10.00")
    b_product = make_product(max_rate="30.00")
    draft = rule_services.ruleset_create(name="草稿")

    # when/then: limited to B's product it is compliant (A's lines never get it) ...
    rule_services.rule_add(
        rule_set=draft, name="B 新品", kind=SALES, rate_percent=Decimal("20"), product_ids=[b_product.pk]
    )
    # ... and the same rate for every product breaches A's maximum
    other = rule_services.ruleset_create(name="草稿二")
    with pytest.raises(RuleSetNotCompliant) as caught:
        rule_services.rule_add(rule_set=other, name="全部", kind=SALES, rate_percent=Decimal("20"))
    assert caught.value.codes == ["brand_rate_exceeded"]
    assert str(a_product.brand.name) in caught.value.message


def test_two_targeted_campaigns_in_disjoint_windows_do_not_stack_in_the_worst_case(settings):
    settings.COMMISSION_CAP_PERCENT = Decimal("30")
    make_product(max_rate="30.00")
    draft = rule_services.ruleset_create(name="草稿")
    rule_services.rule_add(rule_set=draft, name="基础", kind=SALES, rate_percent=Decimal("15"))
    week_one = {"valid_from": at(0), "valid_to": at(7)}
    week_two = {"valid_from": at(7), "valid_to": at(14)}
    rule_services.rule_add(
        rule_set=draft, name="一", kind=Rule.Kind.TARGETED, rate_percent=Decimal("15"), **week_one
    )
    # a second campaign in the following week: never in force together with the first
    rule_services.rule_add(
        rule_set=draft, name="二", kind=Rule.Kind.TARGETED, rate_percent=Decimal("15"), **week_two
    )
    # the same campaign overlapping the first would make 45%
    with pytest.raises(RuleSetNotCompliant) as caught:
        rule_services.rule_add(
            rule_set=draft,
            name="三",
            kind=Rule.Kind.TARGETED,
            rate_percent=Decimal("15"),
            valid_from=at(3),
            valid_to=at(10),
        )
    assert set(caught.value.codes) == {"cap_exceeded", "brand_rate_exceeded"}


# --- point 3: activation never in the past; retiring in every state --------------------------------


def test_a_rule_set_cannot_be_activated_with_a_start_in_the_past():
    draft = rule_services.ruleset_create(name="草稿")
    rule_services.rule_add(rule_set=draft, name="直推", kind=SALES, rate_percent=Decimal("10"))

    with pytest.raises(RuleSetActivationInPast) as caught:
        rule_services.ruleset_activate(rule_set=draft, effective_from=timezone.now() - timedelta(hours=1))

    assert caught.value.code == "activation_in_past"
    draft.refresh_from_db()
    assert draft.status == RuleSet.Status.DRAFT


def test_activation_allows_a_minute_of_clock_skew():
    draft = rule_services.ruleset_create(name="草稿")
    rule_services.rule_add(rule_set=draft, name="直推", kind=SALES, rate_percent=Decimal("10"))
    start = timezone.now() - timedelta(seconds=30)

    active = rule_services.ruleset_activate(rule_set=draft, effective_from=start)

    assert (active.status, active.effective_from) == (RuleSet.Status.ACTIVE, start)


def test_two_orders_paid_at_the_same_moment_are_paid_by_the_same_set():
    # given: v1 in force; v2 can only start now or later, so it cannot re-price v1's past moments
    team = make_team()
    product = make_product()
    v1 = make_plan({"kind": SALES, "level": 0, "rate_percent": Decimal("10")})
    moment = timezone.now() - timedelta(minutes=5)
    first = order_payload(koc=team["mia"], lines=[(product, 1, 10000)], paid_at=moment)
    paid(first)
    v2 = rule_services.ruleset_create(name="v2")
    rule_services.rule_add(rule_set=v2, name="直推", kind=SALES, rate_percent=Decimal("5"))

    # when: someone tries to start v2 before `moment`, and the second order's event comes later
    with pytest.raises(RuleSetActivationInPast):
        rule_services.ruleset_activate(rule_set=v2, effective_from=moment - timedelta(minutes=1))
    second = order_payload(koc=team["mia"], lines=[(product, 1, 10000)], paid_at=moment)
    paid(second)

    # then: both orders of that moment were paid by v1
    assert set(Commission.objects.values_list("rule_set_id", flat=True)) == {v1.pk}
    assert amounts(first) == amounts(second) == {(team["mia"].pk, "direct"): 1000}


def test_retiring_a_set_whose_start_is_in_the_future_works_and_the_previous_set_takes_over_again():
    v1 = make_plan({"kind": SALES, "level": 0, "rate_percent": Decimal("10")})
    v2 = rule_services.ruleset_copy(rule_set=v1, name="v2")
    start = timezone.now() + timedelta(days=3)
    rule_services.ruleset_activate(rule_set=v2, effective_from=start)
    v1.refresh_from_db()
    assert v1.effective_to == start

    # when (before: 500, the window check refused effective_to == effective_from)
    retired = rule_services.ruleset_retire(rule_set=v2)

    # then: v2 never pays; v1 is open-ended again, so no gap opens at `start`
    assert (retired.status, retired.effective_from, retired.effective_to) == (
        RuleSet.Status.RETIRED,
        None,
        None,
    )
    assert "生效前已停用" in retired.notes
    v1.refresh_from_db()
    assert (v1.status, v1.effective_to) == (RuleSet.Status.ACTIVE, None)
    from apps.commissions.plans import rule_set_in_force

    assert rule_set_in_force(start + timedelta(days=1)) == v1


@pytest.mark.parametrize("state", ["draft", "in_force", "retired"])
def test_retiring_works_in_every_state(state):
    rule_set = rule_services.ruleset_create(name="r")
    rule_services.rule_add(rule_set=rule_set, name="直推", kind=SALES, rate_percent=Decimal("10"))
    if state != "draft":
        rule_services.ruleset_activate(rule_set=rule_set)
    if state == "retired":
        rule_services.ruleset_retire(rule_set=rule_set)

    retired = rule_services.ruleset_retire(rule_set=rule_set)

    assert retired.status == RuleSet.Status.RETIRED
    if state == "draft":
        assert retired.effective_from is None
    else:
        assert retired.effective_to is not None and retired.effective_to > retired.effective_from


# --- rounding never lifts anyone over a cap ---------------------------------------------------------


def test_a_5_fen_item_under_a_10_percent_brand_maximum_pays_nothing_not_1_fen():
    team = make_team()
    product = make_product(price_fen=5, max_rate="10.00")
    make_plan({"kind": SALES, "level": 0, "rate_percent": Decimal("10")})
    order = order_payload(koc=team["mia"], lines=[(product, 1, 5)])

    paid(order)

    # 10% of 5 fen is 0.5 fen: half up would pay 1 fen = 20%, above the brand's 10%
    assert amounts(order) == {}


def test_rounding_per_item_stays_within_the_brand_maximum_on_each_line():
    team = make_team()
    cheap = make_product(price_fen=15, max_rate="10.00")
    make_plan({"kind": SALES, "level": 0, "rate_percent": Decimal("10")})
    order = order_payload(koc=team["mia"], lines=[(cheap, 1, 15), (cheap, 1, 15), (cheap, 1, 15)])

    paid(order)

    # each line: 1.5 fen exact, floor(1.5) = 1 fen at most under 10%; three lines pay 3 fen
    commission = Commission.objects.get(order_id=order["order_id"])
    assert commission.amount_fen == 3
    assert [fen for _item, fen in commission.lines] == [1, 1, 1]


def test_after_a_partial_refund_the_kept_commission_never_exceeds_the_cap_of_the_net_paid(settings):
    settings.COMMISSION_CAP_PERCENT = Decimal("30")
    team = make_team()
    product = make_product(price_fen=1000, max_rate="30.00")
    make_plan({"kind": SALES, "level": 0, "rate_percent": Decimal("30")})
    order = order_payload(koc=team["mia"], lines=[(product, 1, 1000)])
    paid(order)
    assert amounts(order) == {(team["mia"].pk, "direct"): 300}

    refunded(order, refund_id=order["order_id"] * 10 + 1, amount_fen=1, refunded_fen=1)

    # 30% of the 999 fen still paid is 299.7: 299 kept (before: 300 - round(0.3) = 300 kept)
    commission = Commission.objects.get(order_id=order["order_id"])
    assert commission.amount_fen - commission.reversed_fen == 299
