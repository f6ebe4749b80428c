"""The dry run: a draft replayed over past orders next to what was paid, writing nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from io import StringIO
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.commissions.admin import RuleSetAdmin
from apps.commissions.models import Account, Commission, LedgerEntry, OrderFact, Rule
from apps.commissions.plans import plan_in_force, plan_spec
from apps.commissions.services import rules as rule_services
from apps.commissions.services.accrual import compute_for, order_input
from apps.commissions.services.dry_run import KocDifference, dry_run
from tests.commissions.factories import at, demo_plan, make_product, order_payload, paid
from tests.kocs.factories import LevelFactory, make_individual


@pytest.fixture
def history(team):
    plan = demo_plan()
    product = make_product()
    for koc, price in (("mia", 10000), ("ava", 20000), ("lily", 5000)):
        paid(order_payload(koc=team[koc], lines=[(product, 1, price)], paid_at=at(1)))
    paid(order_payload(koc=team["mia"], lines=[(product, 1, 99999)], paid_at=at(40)))  # outside the period
    draft = rule_services.ruleset_create(name="新方案")
    rule_services.rule_add(
        rule_set=draft, name="直推", kind=Rule.Kind.SALES, level=0, rate_percent=Decimal("12")
    )
    rule_services.rule_add(
        rule_set=draft, name="上级", kind=Rule.Kind.SALES, level=1, rate_percent=Decimal("2")
    )
    return plan, draft


def counts():
    return [m.objects.count() for m in (LedgerEntry, Commission, Account, OrderFact)]


def test_a_draft_is_replayed_next_to_what_was_paid_without_writing(team, history):
    _plan, draft = history
    before = counts()

    report = dry_run(rule_set=draft, start=at(0), end=at(30))

    assert counts() == before
    assert (report.orders, report.orders_attributed) == (3, 3)
    # paid: 10% + 3% (lily's own sale has an agency above: no individual upline)
    assert report.current.total_fen == 1000 + 300 + 2000 + 600 + 500
    assert report.draft.total_fen == 1200 + 200 + 2400 + 400 + 600
    assert report.current.cap_fen == report.draft.cap_fen == 3000 + 6000 + 1500
    assert report.draft.headroom_fen == 10500 - 4800
    assert report.draft.min_headroom_fen == 1500 - 600
    assert report.current.min_headroom_fen == 1500 - 500
    assert (report.current.orders_paying, report.draft.orders_paying) == (3, 3)
    assert (report.current.orders_at_cap, report.draft.orders_at_cap) == (0, 0)
    assert dict(report.draft.per_koc) == {
        team["mia"].pk: 1200 + 400,
        team["lily"].pk: 200 + 600,
        team["ava"].pk: 2400,
    }
    assert dict(report.draft.per_level) == {"L0 成交 KOC": 4200, "L1 上级": 600}
    assert sorted(report.draft.per_rule.values()) == [600, 4200]
    level_rows = report.rows("per_level")
    assert level_rows[0] == ("L0 成交 KOC", 3500, 4200, 700)


def test_only_the_kocs_whose_totals_differ_are_listed(team, history):
    # given: under the draft mia (1000 + 600 -> 1200 + 400) and lily (300 + 500 -> 200 + 600) are
    # paid the same in total; only ava (2000 -> 2400) is not
    _plan, draft = history

    # when
    report = dry_run(rule_set=draft, start=at(0), end=at(30))

    # then
    assert report.koc_differences() == [
        KocDifference(koc_id=team["ava"].pk, current_fen=2000, draft_fen=2400)
    ]
    assert report.kocs_paid == 3


def test_the_command_prints_the_comparison_and_only_the_kocs_that_differ(team, history):
    _plan, draft = history
    out = StringIO()

    call_command(
        "commission_dry_run",
        "--rule-set",
        str(draft.pk),
        "--start",
        at(0).isoformat(),
        "--end",
        at(30).isoformat(),
        stdout=out,
    )

    lines = out.getvalue().splitlines()
    assert lines[0].startswith("dry run of 新方案 v2 (草稿) over 3 orders paid in [")
    assert lines[0].endswith("(3 attributed)")
    assert lines[2] == f"{'total fen':28}{4400:>14}{4800:>14}"
    at_kocs = lines.index("KOCs whose totals differ: 1 of 3 paid by either")
    assert len(lines) == at_kocs + 2
    assert lines[at_kocs + 1].startswith(f"  #{team['ava'].pk} ")
    assert lines[at_kocs + 1].split()[-3:] == ["2000", "2400", "+400"]


def test_the_admin_page_lists_the_differing_kocs_a_page_at_a_time(team, history, admin_client, monkeypatch):
    # given: a draft that changes what every KOC gets, and pages of two KOCs
    _plan, _draft = history
    draft = rule_services.ruleset_create(name="全变")
    rule_services.rule_add(
        rule_set=draft, name="直推", kind=Rule.Kind.SALES, level=0, rate_percent=Decimal("11")
    )
    monkeypatch.setattr(RuleSetAdmin, "dry_run_kocs_per_page", 2)
    before = counts()
    url = f"/admin/commissions/ruleset/{draft.pk}/dry-run/?start={at(0):%Y-%m-%d}&end={at(30):%Y-%m-%d}"

    # when
    blank = admin_client.get(f"/admin/commissions/ruleset/{draft.pk}/dry-run/")
    first = admin_client.get(url)
    second = admin_client.get(url + "&page=2")

    # then: ava 2000 -> 2200 (+200), mia 1600 -> 1100 (-500), lily 800 -> 550 (-250): largest change first
    assert blank.status_code == first.status_code == second.status_code == 200
    assert "按 KOC" not in blank.content.decode()
    assert counts() == before
    body = first.content.decode()
    assert "合计（3 笔订单）" in body
    assert "<td>佣金合计</td><td>¥44.00</td><td>¥38.50</td>" in body  # yuan, not fen
    assert "按 KOC：金额有变化的 3 位（共 3 位有佣金）" in body
    assert f"<td>#{team['mia'].pk} " in body and "</td><td>¥16.00</td><td>¥11.00</td><td>-¥5.00</td>" in body
    assert f"<td>#{team['lily'].pk} " in body and "</td><td>¥8.00</td><td>¥5.50</td><td>-¥2.50</td>" in body
    assert f"<td>#{team['ava'].pk} " not in body
    assert "第 1 / 2 页" in body
    assert f'href="?start={at(0):%Y-%m-%d}&amp;end={at(30):%Y-%m-%d}&amp;page=2"' in body
    page2 = second.content.decode()
    assert f"<td>#{team['ava'].pk} " in page2 and "</td><td>¥20.00</td><td>¥22.00</td><td>¥2.00</td>" in page2
    assert f"<td>#{team['mia'].pk} " not in page2
    assert "第 2 / 2 页" in page2


def test_the_admin_page_says_when_no_koc_differs(team, history, admin_client):
    plan, _draft = history
    same = rule_services.ruleset_copy(rule_set=plan)

    page = admin_client.get(
        f"/admin/commissions/ruleset/{same.pk}/dry-run/?start={at(0):%Y-%m-%d}&end={at(30):%Y-%m-%d}"
    )

    body = page.content.decode()
    assert "按 KOC：金额有变化的 0 位（共 3 位有佣金）" in body
    assert "没有金额变化的 KOC" in body


# --- equal to a full replay --------------------------------------------------------------------------


def full_replay(draft, start, end):
    """The reference: every order replayed on its own, the tree read per order, both sides."""
    spec = plan_spec(draft)
    sides = {"current": {}, "draft": {}}
    totals = {"current": [], "draft": []}
    for fact in OrderFact.objects.filter(paid_at__gte=start, paid_at__lt=end).exclude(payload={}):
        order = order_input(fact)
        _set, in_force = plan_in_force(fact.paid_at)
        for side, plan in (("current", in_force), ("draft", spec)):
            outcome = compute_for(order, plan)
            totals[side].append((fact.order_id, outcome.cap_fen, outcome.total_fen))
            for part in outcome.parts:
                key = (part.koc_id, part.rule_id, part.kind, part.level)
                sides[side][key] = sides[side].get(key, 0) + part.amount_fen
    return sides, totals


@pytest.fixture
def busy_month(team):
    """Orders of several lines and brands, an unattributed order, a self-purchase, a KOC moved
    between two of her orders, a tier bonus; the demo plan in force."""
    from apps.kocs import services as koc_services
    from tests.shop.factories import BrandFactory

    demo_plan()
    tea = make_product(price_fen=9900)
    cups = make_product(price_fen=2500, brand=BrandFactory(max_commission_rate=Decimal("15.00")))
    silver = LevelFactory(rank=1, name="银牌", commission_bonus_percent=Decimal("1.50"))
    koc_services.koc_set_level(koc=team["ava"], level=silver, by=None, reason="测试")
    other = make_individual(parent=team["agency"], role="leader", real_name="王五")
    now = timezone.now()
    orders = [
        order_payload(koc=team["mia"], lines=[(tea, 2, 9900), (cups, 1, 2500)], paid_at=now),
        order_payload(koc=team["ava"], lines=[(tea, 1, 9900), (cups, 3, 2500)], paid_at=now),
        order_payload(koc=team["lily"], lines=[(cups, 1, 2500)], paid_at=now, paid_fen=2000),
        order_payload(koc=None, lines=[(tea, 1, 9900)], paid_at=now),
        order_payload(koc=team["ava"], lines=[(tea, 1, 9900)], paid_at=now, self_purchase=True),
    ]
    for payload in orders:
        paid(payload)
    koc_services.koc_move(koc=team["mia"], new_parent=other, by=None, reason="调整团队")
    later = timezone.now() + timedelta(hours=1)
    for payload in (
        order_payload(koc=team["mia"], lines=[(tea, 1, 9900)], paid_at=later),
        order_payload(koc=team["ava"], lines=[(cups, 2, 2500), (tea, 1, 9900)], paid_at=later),
    ):
        paid(payload)
    draft = rule_services.ruleset_create(name="草稿")
    for fields in (
        {"kind": Rule.Kind.SALES, "level": 0, "rate_percent": Decimal("8")},
        {
            "kind": Rule.Kind.SALES,
            "level": 0,
            "scope": "brand",
            "scope_id": cups.brand_id,
            "rate_percent": Decimal("5"),
        },
        {"kind": Rule.Kind.SALES, "level": 1, "rate_percent": Decimal("4")},
        {"kind": Rule.Kind.TEAM, "rate_percent": Decimal("2"), "beneficiary_role": "agency"},
        {"kind": Rule.Kind.TARGETED, "rate_percent": Decimal("3"), "product_ids": [tea.pk]},
        {"kind": Rule.Kind.TIER},
    ):
        rule_services.rule_add(rule_set=draft, name=fields["kind"], **fields)
    return draft, now - timedelta(days=1), now + timedelta(days=1), other


def test_the_totals_equal_a_full_replay_of_every_order(team, busy_month):
    # given
    draft, start, end, other = busy_month

    # when
    report = dry_run(rule_set=draft, start=start, end=end)

    # then: both sides, per KOC, per rule, per level and per order, to the fen
    sides, totals = full_replay(draft, start, end)
    for side in ("current", "draft"):
        column = getattr(report, side)
        expected = sides[side]
        per_koc, per_rule = {}, {}
        for (koc_id, rule_id, _kind, _level), fen in expected.items():
            per_koc[koc_id] = per_koc.get(koc_id, 0) + fen
            per_rule[rule_id] = per_rule.get(rule_id, 0) + fen
        assert {k: v for k, v in column.per_koc.items() if v} == per_koc
        assert {k: v for k, v in column.per_rule.items() if v} == per_rule
        assert column.total_fen == sum(t for _o, _c, t in totals[side])
        assert column.cap_fen == sum(c for _o, c, _t in totals[side])
        assert column.min_headroom_fen == min(c - t for _o, c, t in totals[side])
        assert column.orders_paying == sum(1 for _o, _c, t in totals[side] if t)
    assert report.orders == 7
    assert report.orders_attributed == 6
    # the move is honoured: mia's upline is lily before it, the new leader after
    assert report.draft.per_koc[other.pk] > 0 and report.draft.per_koc[team["lily"].pk] > 0
    # the tier bonus is paid to ava (1.5% of her two attributed, non-self-purchase orders)
    tier_rule = draft.rules.get(kind=Rule.Kind.TIER)
    assert report.draft.per_rule[tier_rule.pk] > 0


def test_the_tier_bonus_is_the_level_held_when_each_order_was_paid(team):
    # given: mia had no level, then silver (2%) from day 2, then gold (5%) from day 10; she is gold today
    from apps.kocs import services as koc_services

    demo_plan()
    product = make_product(price_fen=10000)
    silver = LevelFactory(rank=1, name="银", commission_bonus_percent=Decimal("2.00"))
    gold = LevelFactory(rank=2, name="金", commission_bonus_percent=Decimal("5.00"))
    for day, level in ((2, silver), (10, gold)):
        with mock.patch("django.utils.timezone.now", return_value=at(day)):
            koc_services.koc_set_level(koc=team["mia"], level=level, by=None, reason="调整")
    for day in (1, 5, 20):
        paid(order_payload(koc=team["mia"], lines=[(product, 1, 10000)], paid_at=at(day)))
    draft = rule_services.ruleset_create(name="等级")
    rule_services.rule_add(
        rule_set=draft, name="直推", kind=Rule.Kind.SALES, level=0, rate_percent=Decimal("10")
    )
    rule_services.rule_add(rule_set=draft, name="等级加成", kind=Rule.Kind.TIER)

    # when
    report = dry_run(rule_set=draft, start=at(0), end=at(30))

    # then: 10% on each order, plus 0% (day 1), 2% (day 5), 5% (day 20) - not 5% on all three
    tier_rule = draft.rules.get(kind=Rule.Kind.TIER)
    assert report.draft.per_rule[tier_rule.pk] == 0 + 200 + 500
    assert report.draft.per_koc[team["mia"].pk] == 3 * 1000 + 700


def test_the_number_of_queries_does_not_grow_with_the_orders(team, busy_month):
    # given
    draft, start, end, _other = busy_month
    product = make_product(price_fen=5000)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            dry_run(rule_set=draft, start=start, end=end)
        return len(captured)

    few = queries()
    for i in range(12):
        koc = team[("mia", "ava", "lily")[i % 3]]
        paid(
            order_payload(koc=koc, lines=[(product, 1 + i % 2, 5000)], paid_at=start + timedelta(hours=2 + i))
        )

    # when
    many = queries()

    # then
    assert few == many
    assert many <= 16  # 14 for the orders, 2 for the periodic rewards (what was rewarded, the draft's rules)


def test_the_benchmark_flag_times_it_against_the_order_by_order_baseline_which_agrees(team, busy_month):
    draft, start, end, _other = busy_month
    out = StringIO()

    call_command(
        "commission_dry_run",
        "--rule-set",
        str(draft.pk),
        "--start",
        start.isoformat(),
        "--end",
        end.isoformat(),
        "--benchmark",
        "--repeat",
        "1",
        stdout=out,
    )

    lines = out.getvalue().splitlines()
    assert lines[1].startswith("  dry run: ") and lines[1].endswith("7 orders, 6 attributed)")
    assert lines[2].startswith("  baseline: ")
    assert lines[4].startswith("  draft per KOC equal to the baseline's: yes ")
    assert lines[5].startswith("  paid per KOC equal to the baseline's replay of the sets in force: yes ")


def test_with_periodic_rules_the_number_of_queries_does_not_grow_with_the_orders(team):
    # given: March 2030 (a whole month inside the range), completed orders, a draft with a monthly reward
    from datetime import datetime

    from tests.commissions.factories import completed

    demo_plan()
    products = [make_product(price_fen=5000) for _ in range(3)]
    start = timezone.make_aware(datetime(2030, 3, 1))
    end = timezone.make_aware(datetime(2030, 4, 1))
    draft = rule_services.ruleset_create(name="月度")
    rule_services.rule_add(
        rule_set=draft, name="直推", kind=Rule.Kind.SALES, level=0, rate_percent=Decimal("10")
    )
    rule_services.rule_add(
        rule_set=draft,
        name="月度奖",
        kind=Rule.Kind.PERIODIC,
        amount_fen=100,
        period="month",
        measure="own",
        metric="amount",
        target=1000,
    )

    def sell(n: int) -> None:
        for i in range(n):
            payload = order_payload(
                koc=team[("mia", "ava", "lily")[i % 3]],
                lines=[(products[i % 3], 1, 5000)],
                paid_at=at(1 + i / 10),
            )
            paid(payload)
            completed(payload, completed_at=at(2 + i / 10))

    def queries() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as captured:
            report = dry_run(rule_set=draft, start=start, end=end)
        return len(captured), report.draft.per_level["周期奖励"]

    sell(3)
    few, rewarded_few = queries()
    sell(12)

    # when
    many, rewarded_many = queries()

    # then: each of the three KOCs met the target both times; the queries did not grow
    assert (rewarded_few, rewarded_many) == (300, 300)
    assert few == many
