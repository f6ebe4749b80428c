"""The dry run: a draft replayed over past orders next to the sets in force, writing nothing."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from apps.commissions.models import Account, Commission, LedgerEntry, OrderFact, Rule
from apps.commissions.services import rules as rule_services
from apps.commissions.services.dry_run import dry_run
from tests.commissions.factories import at, demo_plan, make_product, order_payload, paid


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


def test_a_draft_is_replayed_next_to_the_set_in_force_without_writing(team, history):
    _plan, draft = history
    before = counts()

    report = dry_run(rule_set=draft, start=at(0), end=at(30))

    assert counts() == before
    assert report.orders == 3
    # in force: 10% + 3% (lily's own sale has an agency above: no individual upline)
    assert report.current.total_fen == 1000 + 300 + 2000 + 600 + 500
    assert report.draft.total_fen == 1200 + 200 + 2400 + 400 + 600
    assert report.current.cap_fen == report.draft.cap_fen == 3000 + 6000 + 1500
    assert report.draft.headroom_fen == 10500 - 4800
    assert report.draft.min_headroom_fen == 1500 - 600
    assert dict(report.draft.per_koc) == {
        team["mia"].pk: 1200 + 400,
        team["lily"].pk: 200 + 600,
        team["ava"].pk: 2400,
    }
    assert dict(report.draft.per_level) == {"L0 成交 KOC": 4200, "L1 上级": 600}
    assert sorted(report.draft.per_rule.values()) == [600, 4200]
    level_rows = report.rows("per_level")
    assert level_rows[0] == ("L0 成交 KOC", 3500, 4200, 700)


def test_the_command_prints_the_comparison(team, history):
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

    text = out.getvalue()
    assert "over 3 orders" in text
    assert "total fen" in text and "4400" in text and "4800" in text
    assert "per KOC:" in text


def test_the_admin_page_runs_it(team, history, admin_client):
    _plan, draft = history
    before = counts()

    page = admin_client.get(f"/admin/commissions/ruleset/{draft.pk}/dry-run/")
    result = admin_client.get(
        f"/admin/commissions/ruleset/{draft.pk}/dry-run/?start={at(0):%Y-%m-%d}&end={at(30):%Y-%m-%d}"
    )

    assert page.status_code == 200
    assert result.status_code == 200
    body = result.content.decode()
    assert "合计（3 笔订单）" in body
    assert "<td>佣金合计 (分)</td><td>4400</td><td>4800</td>" in body
    assert counts() == before
