"""The engine's wiring: outbox subscriptions, the demo plan, the admin pages and actions."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.db import transaction

from apps.commissions import demo
from apps.commissions.models import Commission, LedgerEntry, RuleSet
from apps.core import events
from tests.commissions.factories import demo_plan, make_product, order_payload


@pytest.mark.django_db
def test_the_shops_events_reach_the_engine_through_the_outbox(team):
    demo_plan()
    payload = order_payload(koc=team["mia"], lines=[(make_product(), 1, 9900)])
    with transaction.atomic():
        event = events.publish("order_paid", payload, key=f"order_paid:{payload['order_id']}")

    assert events.dispatch(event.pk) is True
    assert events.dispatch(event.pk) is True  # delivered once per subscriber

    assert sorted(Commission.objects.values_list("amount_fen", flat=True)) == [297, 990]
    assert LedgerEntry.objects.count() == 2


@pytest.mark.django_db
def test_the_demo_plan_is_seeded_once():
    out = StringIO()
    demo.seed(out)
    demo.seed(out)

    rule_set = RuleSet.objects.get()
    assert (rule_set.name, rule_set.status) == ("基础分佣方案", "active")
    assert sorted(rule_set.rules.values_list("level", "rate_percent")) == [
        (0, Decimal("10")),
        (1, Decimal("3")),
    ]


@pytest.mark.django_db
def test_admin_pages_answer(admin_client, team, earn):
    earn(team["mia"], 990)
    rule_set = RuleSet.objects.get()
    pages = [
        "/admin/commissions/ruleset/",
        "/admin/commissions/ruleset/add/",
        f"/admin/commissions/ruleset/{rule_set.pk}/change/",
        "/admin/commissions/commission/",
        "/admin/commissions/ledgerentry/",
        "/admin/commissions/account/",
        "/admin/commissions/orderfact/",
        "/admin/commissions/refundfact/",
        "/admin/commissions/withdrawal/",
        "/admin/commissions/taxrecord/",
        "/admin/commissions/periodrun/",
    ]
    for page in pages:
        assert admin_client.get(page).status_code == 200, page
    assert admin_client.get("/admin/commissions/payoutsettings/").status_code == 302  # to the one row
    entry = LedgerEntry.objects.first()
    assert admin_client.post(f"/admin/commissions/ledgerentry/{entry.pk}/delete/").status_code == 403


@pytest.mark.django_db
def test_an_active_set_is_read_only_and_the_admin_copies_and_activates_versions(admin_client):
    make_product()
    active = demo_plan()

    page = admin_client.get(f"/admin/commissions/ruleset/{active.pk}/change/").content.decode()
    assert 'name="rules-0-rate_percent"' not in page  # the rules of an active set cannot be edited

    admin_client.post(
        "/admin/commissions/ruleset/", {"action": "copy_as_new_version", "_selected_action": [active.pk]}
    )
    draft = RuleSet.objects.get(status="draft")
    assert draft.version == active.version + 1
    # the action first asks, saying which set replaces which, and changes nothing
    asked = admin_client.post(
        "/admin/commissions/ruleset/", {"action": "activate", "_selected_action": [draft.pk]}
    ).content.decode()
    assert f"「{draft.name}」v{draft.version} 将从 " in asked
    assert f"替换 「{active.name}」v{active.version}（其生效期截止于 " in asked
    assert RuleSet.objects.get(pk=draft.pk).status == "draft"
    admin_client.post(
        "/admin/commissions/ruleset/",
        {"action": "activate", "_selected_action": [draft.pk], "confirm": "yes"},
    )

    draft.refresh_from_db()
    active.refresh_from_db()
    assert draft.status == "active"
    assert active.effective_to == draft.effective_from
