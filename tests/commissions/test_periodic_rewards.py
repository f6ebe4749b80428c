"""Periodic rewards count only real sales to others, made under the rule, net of every refund, also
refunds and completions that arrive after the period closed. Compliance bounds the reward.

Each test named after a reproduction of the outside review failed on the code before this change.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from apps.commissions import selectors
from apps.commissions.errors import RuleSetNotCompliant
from apps.commissions.models import Commission, LedgerEntry, Rule
from apps.commissions.services import accrual
from apps.commissions.services import rules as rule_services
from apps.commissions.services.settlement import settle_commissions
from tests.commissions.factories import (
    completed,
    completed_payload,
    make_plan,
    make_product,
    make_team,
    order_payload,
    paid,
    refunded,
)

pytestmark = pytest.mark.django_db

MONTHLY = {
    "kind": Rule.Kind.PERIODIC,
    "name": "月度冲刺",
    "period": "month",
    "measure": "own",
    "metric": "amount",
    "target": 20000,
    "amount_fen": 5000,
}


def local(*args):
    from datetime import datetime

    return timezone.make_aware(datetime(*args))


@pytest.fixture
def world(settings):
    settings.COMMISSION_FREEZE_DAYS = 0
    team = make_team()
    product = make_product()
    make_plan(
        {"kind": Rule.Kind.SALES, "level": 0, "rate_percent": Decimal("10")},
        MONTHLY,
        effective_from=local(2030, 1, 1),
    )
    return team, product


def sale(team, product, price, when, *, koc="mia", self_purchase=False, complete=True):
    order = order_payload(
        koc=team[koc], lines=[(product, 1, price)], paid_at=when, self_purchase=self_purchase
    )
    paid(order)
    if complete:
        completed(order, completed_at=when)
    return order


def rewards(team, koc="mia"):
    return [
        (c.amount_fen, c.reversed_fen, c.status)
        for c in Commission.objects.filter(kind="periodic", koc_id=team[koc].pk).order_by("pk")
    ]


def test_a_reward_is_taken_back_when_a_refund_after_the_period_closed_takes_sales_below_target(world):
    team, product = world
    sale(team, product, 15000, local(2030, 3, 5))
    late = sale(team, product, 6000, local(2030, 3, 20))
    settle_commissions(now=local(2030, 4, 1, 1))
    assert rewards(team) == [(5000, 0, "available")]

    # when: 2000 fen of the March order is refunded in April: March is now 19000 < 20000
    refunded(
        late,
        refund_id=late["order_id"] * 10 + 1,
        amount_fen=2000,
        refunded_fen=2000,
        refunded_at=local(2030, 4, 5),
    )
    report = settle_commissions(now=local(2030, 4, 5, 1))

    # then: the whole reward is taken back, with an entry that explains it
    assert rewards(team) == [(5000, 5000, "reversed")]
    assert (report.rewards_reversed, report.rewards_reversed_fen) == (1, 5000)
    entry = LedgerEntry.objects.get(kind="reversal", commission__kind="periodic")
    assert entry.amount_fen == 5000
    assert entry.explanation == (
        "2030-03-01 至 2030-03-31 月度个人成交扣除退款后为 ¥190.00，"
        "低于目标 ¥200.00，周期奖励 ¥50.00 全部冲回"
    )
    wallet = selectors.wallet(koc_id=team["mia"].pk)
    # 10% of 15000 + 10% of 6000 kept 400 after the refund (600 - 200): 1500 + 400, the reward gone
    assert wallet["available_fen"] == 1900


def test_a_koc_s_own_purchases_do_not_count_towards_her_own_sales_target(world):
    team, product = world
    sale(team, product, 15000, local(2030, 3, 5))
    sale(team, product, 10000, local(2030, 3, 6), self_purchase=True)  # bought through her own link

    settle_commissions(now=local(2030, 4, 1, 1))

    assert rewards(team) == []


def test_sales_paid_before_the_rule_set_existed_do_not_count():
    # given: a plan with only a sales rule, then in mid-March a new version with the monthly target
    team = make_team()
    product = make_product()
    v1 = make_plan(
        {"kind": Rule.Kind.SALES, "level": 0, "rate_percent": Decimal("10")}, effective_from=local(2030, 1, 1)
    )
    v2 = rule_services.ruleset_copy(rule_set=v1, name="v2")
    rule_services.rule_add(rule_set=v2, **MONTHLY)
    rule_services.ruleset_activate(rule_set=v2, effective_from=local(2030, 3, 15), now=local(2030, 3, 14))
    before = order_payload(koc=team["mia"], lines=[(product, 1, 25000)], paid_at=local(2030, 3, 10))
    paid(before)
    completed(before, completed_at=local(2030, 3, 20))  # completed in March, but paid under v1
    sale(team, product, 5000, local(2030, 3, 16))

    settle_commissions(now=local(2030, 4, 1, 1))

    assert rewards(team) == []  # 5000 fen of sales under v2: below 20000


def test_a_completion_that_arrives_after_its_period_closed_is_applied_to_that_period(world):
    team, product = world
    sale(team, product, 15000, local(2030, 3, 5))
    slow = sale(team, product, 6000, local(2030, 3, 25), complete=False)
    settle_commissions(now=local(2030, 4, 1, 1))
    assert rewards(team) == []

    # when: the completion of March 31 reaches the engine on April 3
    accrual.order_completed_record(payload=completed_payload(slow, completed_at=local(2030, 3, 31, 12)))
    settle_commissions(now=local(2030, 4, 3))

    assert rewards(team) == [(5000, 0, "available")]


def test_a_refunded_reward_period_met_again_is_rewarded_again_once(world):
    team, product = world
    sale(team, product, 15000, local(2030, 3, 5))
    refunded_order = sale(team, product, 6000, local(2030, 3, 20))
    settle_commissions(now=local(2030, 4, 1, 1))
    refunded(
        refunded_order,
        refund_id=refunded_order["order_id"] * 10 + 1,
        amount_fen=6000,
        refunded_fen=6000,
        refunded_at=local(2030, 4, 2),
    )
    settle_commissions(now=local(2030, 4, 2, 1))
    late = sale(team, product, 7000, local(2030, 3, 30), complete=False)
    accrual.order_completed_record(payload=completed_payload(late, completed_at=local(2030, 3, 31)))

    settle_commissions(now=local(2030, 4, 4))
    settle_commissions(now=local(2030, 4, 4, 1))

    assert rewards(team) == [(5000, 5000, "reversed"), (5000, 0, "available")]


@pytest.mark.parametrize(
    ("metric", "target", "amount_fen"),
    [("amount", 100, 100000), ("amount", 20000, 6001), ("units", 10, 5001)],
)
def test_a_periodic_reward_above_what_its_target_could_earn_is_refused(metric, target, amount_fen):
    draft = rule_services.ruleset_create(name="草稿")

    with pytest.raises(RuleSetNotCompliant) as caught:
        rule_services.rule_add(
            rule_set=draft, **{**MONTHLY, "metric": metric, "target": target, "amount_fen": amount_fen}
        )

    assert caught.value.codes == ["periodic_reward_exceeded"]


def test_a_periodic_reward_at_its_bound_is_accepted():
    draft = rule_services.ruleset_create(name="草稿")

    rule_services.rule_add(rule_set=draft, **{**MONTHLY, "target": 20000, "amount_fen": 6000})
    rule_services.rule_add(
        rule_set=draft, **{**MONTHLY, "name": "件数", "metric": "units", "target": 10, "amount_fen": 5000}
    )

    assert draft.rules.count() == 2


def test_a_drafts_periodic_rules_are_in_the_dry_run(world):
    from apps.commissions.services.dry_run import dry_run

    # given: March sales of 25000 by mia under the active plan's monthly target (rewarded), and a
    # draft whose monthly target is 30000 (not met) plus a units target of 2 (met: 2 orders)
    team, product = world
    sale(team, product, 15000, local(2030, 3, 5))
    sale(team, product, 10000, local(2030, 3, 6))
    settle_commissions(now=local(2030, 4, 1, 1))
    draft = rule_services.ruleset_create(name="草稿")
    rule_services.rule_add(rule_set=draft, **{**MONTHLY, "target": 30000})
    rule_services.rule_add(
        rule_set=draft, **{**MONTHLY, "name": "件数", "metric": "units", "target": 2, "amount_fen": 800}
    )

    # when
    report = dry_run(rule_set=draft, start=local(2030, 3, 1), end=local(2030, 4, 1))

    # then: the periodic column of each side (before: the draft's periodic rules were ignored)
    assert report.current.per_level["周期奖励"] == 5000
    assert report.draft.per_level["周期奖励"] == 800
    mia = team["mia"].pk
    assert report.current.per_koc[mia] == 2500 + 5000  # 10% of 25000, and the reward
    assert report.draft.per_koc[mia] == 800  # the draft has no sales rule


def test_a_reward_withdrawn_then_taken_back_leaves_a_debt_that_later_earnings_repay(
    world, api_client, wechat_sandbox
):
    """The reward was paid out before the refund that undid it: the money is gone, so `available`
    goes below zero by exactly what is taken back, and the next commission repays it first."""
    import uuid

    from apps.commissions.services import withdrawals as withdrawal_services

    team, product = world
    sale(team, product, 15000, local(2030, 3, 5))
    late = sale(team, product, 6000, local(2030, 3, 20))
    settle_commissions(now=local(2030, 4, 1, 1))
    # 10% of 15000 and of 6000, and the 5000 reward
    assert selectors.wallet(koc_id=team["mia"].pk)["available_fen"] == 1500 + 600 + 5000

    answer = withdrawal_services.withdrawal_create(
        koc_id=team["mia"].pk, user_id=team["mia"].user_id, amount_fen=7100, idempotency_key=uuid.uuid4().hex
    )
    out_bill_no = answer.body["out_bill_no"]
    confirmed = api_client.post(
        "/wechat-sandbox/transfer/confirm", {"out_bill_no": out_bill_no}, format="json"
    )
    assert confirmed.status_code == 200
    withdrawal = withdrawal_services.Withdrawal.objects.get(out_bill_no=out_bill_no)
    assert withdrawal.status == "succeeded"
    assert rewards(team) == [(5000, 0, "paid")]

    refunded(
        late,
        refund_id=late["order_id"] * 10 + 1,
        amount_fen=2000,
        refunded_fen=2000,
        refunded_at=local(2030, 4, 5),
    )
    settle_commissions(now=local(2030, 4, 5, 1))

    assert rewards(team) == [(5000, 5000, "reversed")]
    # the reward (5000) and the refunded line's 10% (200) are taken back from money already paid out
    assert selectors.wallet(koc_id=team["mia"].pk)["available_fen"] == -5200

    sale(team, product, 10000, local(2030, 4, 10))  # 1000 more in April (below April's target)
    settle_commissions(now=local(2030, 4, 10, 1))
    assert selectors.wallet(koc_id=team["mia"].pk)["available_fen"] == -4200


def test_late_completions_of_one_closed_month_read_its_closed_run_once(world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.commissions.models import OrderFact
    from apps.commissions.services.periods import periods_resync

    team, product = world
    orders = [sale(team, product, 3000, local(2030, 3, 5 + i), complete=False) for i in range(8)]
    settle_commissions(now=local(2030, 4, 1, 1))  # March closes with nothing completed: no reward
    assert rewards(team) == []
    for i, order in enumerate(orders):  # completed late, each dated in March
        completed(order, completed_at=local(2030, 3, 20 + i))
    assert OrderFact.objects.filter(periods_stale=True).count() == 8

    with CaptureQueriesContext(connection) as queries:
        outcome = periods_resync(now=local(2030, 4, 2))

    closed_lookups = [
        q["sql"]
        for q in queries.captured_queries
        if 'FROM "commissions_periodrun"' in q["sql"] and '"closed_at" IS NOT NULL' in q["sql"]
    ]
    assert len(closed_lookups) == 1  # March's run, read once for the eight orders
    assert OrderFact.objects.filter(periods_stale=True).count() == 0
    assert (outcome.rewarded, outcome.rewarded_fen) == (1, 5000)  # 8 × 30.00 = 240.00 ≥ 200.00
    assert rewards(team) == [(5000, 0, "frozen")]  # available at the next settlement, as any reward
