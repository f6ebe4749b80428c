"""The ledger from the shop's events: accrual, freeze, reversal, idempotency, append-only."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.commissions import selectors
from apps.commissions.models import AppendOnly, Bucket, Commission, LedgerEntry, OrderFact, Rule
from apps.commissions.services import accrual
from apps.commissions.services.settlement import settle_commissions
from apps.core.money import pro_rata
from tests.commissions import ledger_state
from tests.commissions.factories import (
    at,
    completed,
    completed_payload,
    demo_plan,
    make_plan,
    make_product,
    make_team,
    order_payload,
    paid,
    refund_payload,
    refunded,
)


@pytest.fixture
def team(db):
    return make_team()


@pytest.fixture
def product(db):
    return make_product()


@pytest.fixture
def plan(db):
    return demo_plan()


def wallet(koc) -> dict[str, int]:
    return selectors.wallet(koc_id=koc.pk)


# --- accrual --------------------------------------------------------------------------------------------


def test_an_attributed_order_accrues_pending_commission_for_the_koc_and_her_parent(team, product, plan):
    # when
    order = order_payload(koc=team["ava"], lines=[(product, 2, 5000)], paid_fen=9000)
    paid(order)

    # then: ava sells; mia is her parent; lily (grandparent) is beyond the two levels
    assert wallet(team["ava"])["pending_fen"] == 900
    assert wallet(team["mia"])["pending_fen"] == 270
    assert wallet(team["lily"])["pending_fen"] == 0
    ava = Commission.objects.get(koc_id=team["ava"].pk)
    assert (ava.kind, ava.level, ava.base_fen, ava.rate_percent, ava.rule_set_version) == (
        "direct",
        0,
        9000,
        Decimal("10"),
        plan.version,
    )
    assert "实付 ¥90.00 × 10% = ¥9.00（直推奖励" in ava.explanation
    upline = Commission.objects.get(koc_id=team["mia"].pk)
    assert (upline.kind, upline.level) == ("upline", 1)
    assert "第 1 级上级" in upline.explanation


def test_a_self_purchase_or_an_unattributed_order_earns_nothing(team, product, plan):
    paid(order_payload(koc=team["mia"], lines=[(product, 1, 9900)], self_purchase=True))
    paid(order_payload(koc=None, lines=[(product, 1, 9900)]))

    assert Commission.objects.count() == 0
    assert LedgerEntry.objects.count() == 0
    assert OrderFact.objects.filter(accrued_at__isnull=False).count() == 2


def test_uplines_are_read_as_of_the_paid_date(team, product, plan):
    from apps.kocs import services as koc_services
    from tests.kocs.factories import make_individual

    # given: an order paid now, under lily; then mia moves under another leader
    before = order_payload(koc=team["mia"], lines=[(product, 1, 10000)], paid_at=timezone.now())
    other = make_individual(parent=team["agency"], role="leader", real_name="王五")
    koc_services.koc_move(koc=team["mia"], new_parent=other, by=None, reason="调整团队")
    after = order_payload(
        koc=team["mia"], lines=[(product, 1, 10000)], paid_at=timezone.now() + timedelta(days=1)
    )

    # when
    paid(before)
    paid(after)

    # then
    assert Commission.objects.get(order_id=before["order_id"], level=1).koc_id == team["lily"].pk
    assert Commission.objects.get(order_id=after["order_id"], level=1).koc_id == other.pk


def test_an_order_is_paid_by_the_rule_set_in_force_when_it_was_paid(team, product, plan):
    from apps.commissions.services import rules as rule_services

    v2 = rule_services.ruleset_copy(rule_set=plan)
    Rule.objects.filter(rule_set=v2, level=0).update(rate_percent=Decimal("12"))
    rule_services.ruleset_activate(rule_set=v2, effective_from=at(10))

    early = order_payload(koc=team["mia"], lines=[(product, 1, 10000)], paid_at=at(9))
    late = order_payload(koc=team["mia"], lines=[(product, 1, 10000)], paid_at=at(11))
    # delivered in the other order: the paid date decides, not the delivery
    paid(late)
    paid(early)

    assert Commission.objects.get(order_id=early["order_id"], level=0).amount_fen == 1000
    late_commission = Commission.objects.get(order_id=late["order_id"], level=0)
    assert (late_commission.amount_fen, late_commission.rule_set_version) == (1200, v2.version)


def test_team_rewards_go_to_organisation_ancestors_only(team, product):
    make_plan(
        {"kind": Rule.Kind.SALES, "level": 0, "rate_percent": Decimal("10")},
        {"kind": Rule.Kind.TEAM, "rate_percent": Decimal("2"), "beneficiary_role": "agency"},
        {"kind": Rule.Kind.TEAM, "rate_percent": Decimal("1"), "beneficiary_role": "branch"},
    )
    order = order_payload(koc=team["ava"], lines=[(product, 1, 10000)])

    paid(order)

    amounts = dict(Commission.objects.filter(order_id=order["order_id"]).values_list("koc_id", "amount_fen"))
    assert amounts == {team["ava"].pk: 1000, team["agency"].pk: 200, team["branch"].pk: 100}
    assert Commission.objects.get(koc_id=team["agency"].pk).kind == "team"


def test_the_tier_bonus_and_a_targeted_campaign_add_to_the_sellers_rate(team, product):
    from apps.kocs.models import Koc
    from tests.kocs.factories import LevelFactory

    level = LevelFactory(rank=1, commission_bonus_percent=Decimal("2"))
    Koc.objects.filter(pk=team["mia"].pk).update(level=level)
    make_plan(
        {"kind": Rule.Kind.SALES, "level": 0, "rate_percent": Decimal("10")},
        {"kind": Rule.Kind.TIER},
        {
            "kind": Rule.Kind.TARGETED,
            "rate_percent": Decimal("5"),
            "product_ids": [product.pk],
            "valid_from": at(-1),
            "valid_to": at(6),
        },
    )
    in_window = order_payload(koc=team["mia"], lines=[(product, 1, 10000)], paid_at=at(0))
    after_window = order_payload(koc=team["mia"], lines=[(product, 1, 10000)], paid_at=at(7))

    paid(in_window)
    paid(after_window)

    def kinds(order):
        return dict(Commission.objects.filter(order_id=order["order_id"]).values_list("kind", "amount_fen"))

    assert kinds(in_window) == {"direct": 1000, "tier": 200, "targeted": 500}
    assert kinds(after_window) == {"direct": 1000, "tier": 200}


def test_a_brand_cap_lowers_what_one_person_earns_on_its_items(team):
    product = make_product(max_rate="30.00")
    make_plan({"kind": Rule.Kind.SALES, "level": 0, "rate_percent": Decimal("10")})
    product.brand.max_commission_rate = Decimal("6")  # lowered after the plan was activated
    product.brand.save()
    order = order_payload(koc=team["mia"], lines=[(product, 1, 10000)])

    paid(order)

    commission = Commission.objects.get(order_id=order["order_id"])
    assert (commission.amount_fen, commission.rate_percent) == (600, Decimal("6"))
    assert "受品牌佣金上限限制" in commission.explanation


# --- the lifecycle ----------------------------------------------------------------------------------------


def test_completion_freezes_and_settlement_releases_after_the_freeze(team, product, plan, settings):
    settings.COMMISSION_FREEZE_DAYS = 7
    order = order_payload(koc=team["mia"], lines=[(product, 1, 9900)])
    paid(order)

    completed(order, completed_at=at(1))

    commission = Commission.objects.get(koc_id=team["mia"].pk)
    assert (commission.status, commission.available_at) == ("frozen", at(8))
    assert wallet(team["mia"])["frozen_fen"] == 990
    settle_commissions(now=at(8))
    assert wallet(team["mia"])["available_fen"] == 990
    assert wallet(team["lily"])["available_fen"] == 297


def test_a_partial_refund_reverses_pro_rata_to_the_fen(team, product, plan):
    order = order_payload(koc=team["mia"], lines=[(product, 1, 9900)])
    paid(order)

    refunded(order, refund_id=order["order_id"] * 10 + 1, amount_fen=3333, refunded_fen=3333)

    # What is kept is the pro-rata share of what is still paid, rounded down, so it never passes the
    # rate on the net paid: 990 x 6567 / 9900 = 656.7 -> 656 (657 would be 10.005% of 6567);
    # 297 x 6567 / 9900 = 197.01 -> 197.
    assert wallet(team["mia"])["pending_fen"] == 656
    assert wallet(team["lily"])["pending_fen"] == 197


def test_a_full_refund_in_parts_nets_every_commission_to_zero(team, product, plan):
    order = order_payload(koc=team["mia"], lines=[(product, 3, 3333)])
    paid(order)
    completed(order)
    refunded(order, refund_id=order["order_id"] * 10 + 1, amount_fen=1, refunded_fen=1)
    refunded(order, refund_id=order["order_id"] * 10 + 2, amount_fen=4998, refunded_fen=4999)
    refunded(order, refund_id=order["order_id"] * 10 + 3, amount_fen=5000, refunded_fen=9999)

    for koc in (team["mia"], team["lily"]):
        assert wallet(koc) == {
            "pending_fen": 0,
            "frozen_fen": 0,
            "available_fen": 0,
            "withdrawing_fen": 0,
            "paid_fen": 0,
        }
    assert set(Commission.objects.values_list("status", flat=True)) == {"reversed"}
    settle_commissions(now=at(100))
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.RELEASE).count() == 0


def test_each_refund_is_reversed_exactly_once(team, product, plan):
    order = order_payload(koc=team["mia"], lines=[(product, 1, 9900)])
    paid(order)
    refund = refund_payload(order, refund_id=order["order_id"] * 10 + 1, amount_fen=9900, refunded_fen=9900)

    accrual.order_refunded_record(payload=refund)
    accrual.order_refunded_record(payload=refund)

    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REVERSAL).count() == 2  # mia and lily, once each
    assert wallet(team["mia"])["pending_fen"] == 0


def test_reversing_paid_out_money_leaves_a_negative_balance_that_later_earnings_repay(
    team, product, plan, settings
):
    from apps.commissions.services import withdrawals

    settings.COMMISSION_FREEZE_DAYS = 0
    first = order_payload(koc=team["mia"], lines=[(product, 1, 9900)])
    paid(first)
    completed(first, completed_at=at(0))
    settle_commissions(now=at(0))
    w = withdrawals._debit(
        account_id=selectors.account_for_koc(koc_id=team["mia"].pk).pk,
        koc_id=team["mia"].pk,
        user_id=None,
        payee=accrual.sources.payee(team["mia"].pk),
        amount_fen=990,
        idempotency_key="k",
        digest="d",
        limits=withdrawals.PayoutSettings.load(),
    )
    withdrawals.withdrawal_succeed(withdrawal_id=w.pk)
    assert Commission.objects.get(order_id=first["order_id"], koc_id=team["mia"].pk).status == "paid"

    # when: the order is refunded after the payout
    refunded(first, refund_id=first["order_id"] * 10 + 1, amount_fen=9900, refunded_fen=9900)

    # then
    assert wallet(team["mia"])["available_fen"] == -990
    assert wallet(team["mia"])["paid_fen"] == 990
    second = order_payload(koc=team["mia"], lines=[(product, 2, 9900)])
    paid(second)
    completed(second, completed_at=at(0))
    settle_commissions(now=at(0))
    assert wallet(team["mia"])["available_fen"] == 1980 - 990


def test_every_balance_is_the_sum_of_its_entries(team, product, plan, settings):
    settings.COMMISSION_FREEZE_DAYS = 0
    for quantity in (1, 2, 3):
        order = order_payload(koc=team["ava"], lines=[(product, quantity, 4321)])
        paid(order)
        completed(order, completed_at=at(0))
        refunded(order, refund_id=order["order_id"] * 10 + 1, amount_fen=1000, refunded_fen=1000)
    settle_commissions(now=at(0))

    for koc in (team["ava"], team["mia"]):
        account = selectors.account_for_koc(koc_id=koc.pk)
        total = {}
        for entry in LedgerEntry.objects.filter(account=account):
            total[entry.to_bucket] = total.get(entry.to_bucket, 0) + entry.amount_fen
            total[entry.from_bucket] = total.get(entry.from_bucket, 0) - entry.amount_fen
        assert selectors.wallet(koc_id=koc.pk)["available_fen"] == total[Bucket.AVAILABLE]
        net = sum(c.amount_fen - c.reversed_fen for c in Commission.objects.filter(koc_id=koc.pk))
        assert total[Bucket.AVAILABLE] == net
    assert sum(selectors.ledger_totals().values()) == 0


# --- duplicated and reordered events ---------------------------------------------------------------------


def _story(team, product, *, refund_before_completion: bool):
    order = order_payload(koc=team["mia"], lines=[(product, 1, 9900)], paid_at=at(0))
    oid = order["order_id"]
    r1 = refund_payload(
        order, refund_id=oid * 10 + 1, amount_fen=2000, refunded_fen=2000, refunded_at=at(0.5)
    )
    done = completed_payload(order, completed_at=at(1), refunded_fen=2000 if refund_before_completion else 0)
    r2 = refund_payload(order, refund_id=oid * 10 + 2, amount_fen=3000, refunded_fen=5000, refunded_at=at(2))
    return order, r1, done, r2


HANDLERS = {
    "paid": accrual.order_paid_record,
    "refund1": accrual.order_refunded_record,
    "completed": accrual.order_completed_record,
    "refund2": accrual.order_refunded_record,
}


def _deliver(events: list[str], payloads: dict[str, dict]) -> None:
    for name in events:
        HANDLERS[name](payload=payloads[name])


def _run(team, product, events: list[str]) -> int:
    order, r1, done, r2 = _story(team, product, refund_before_completion=True)
    _deliver(events, {"paid": order, "refund1": r1, "completed": done, "refund2": r2})
    return order["order_id"]


CLEAN = ["paid", "refund1", "completed", "refund2"]


@pytest.mark.parametrize(
    "messy",
    [
        ["paid", "paid", "refund1", "completed", "refund2"],  # paid twice
        ["paid", "refund1", "completed", "completed", "refund2", "completed"],  # completion twice
        ["paid", "completed", "refund1", "refund2"],  # a refund made before completion, delivered after it
        ["refund1", "completed", "paid", "refund2"],  # everything before the payment
        ["completed", "refund1", "paid", "paid", "refund1", "refund2", "refund2"],
    ],
)
def test_duplicated_and_reordered_events_write_the_clean_ledger(team, product, plan, messy):
    clean_id = _run(team, product, CLEAN)
    messy_id = _run(team, product, messy)

    assert ledger_state.entries(messy_id) == ledger_state.entries(clean_id)
    assert ledger_state.money(messy_id) == ledger_state.money(clean_id)
    assert ledger_state.per_refund(clean_id) == {
        (team["mia"].pk, 1): pro_rata(990, 2000, 9900),
        (team["lily"].pk, 1): pro_rata(297, 2000, 9900),
        (team["mia"].pk, 2): pro_rata(990, 5000, 9900) - pro_rata(990, 2000, 9900),
        (team["lily"].pk, 2): pro_rata(297, 5000, 9900) - pro_rata(297, 2000, 9900),
    }


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_order_and_any_repetition_of_the_events_ends_in_the_same_money(team, product, plan, data):
    """Whatever the order, the balances, commissions and per-refund reversals are the clean ones.

    (The entries themselves are equal too unless a refund made after completion is delivered before
    the completion: it then comes out of `pending` instead of `frozen` - the same money, another path.)
    """
    events = data.draw(st.permutations(CLEAN))
    repeats = data.draw(st.lists(st.sampled_from(CLEAN), max_size=4))
    positions = [data.draw(st.integers(0, len(events) + i)) for i in range(len(repeats))]
    messy = list(events)
    for name, position in zip(repeats, positions, strict=True):
        messy.insert(position, name)

    clean_id = _run(team, product, CLEAN)
    messy_id = _run(team, product, messy)

    assert ledger_state.money(messy_id) == ledger_state.money(clean_id)


# --- append-only --------------------------------------------------------------------------------------------


def test_entries_refuse_changes_and_deletes_in_python(team, product, plan):
    paid(order_payload(koc=team["mia"], lines=[(product, 1, 9900)]))
    entry = LedgerEntry.objects.first()

    entry.amount_fen = 1
    with pytest.raises(AppendOnly):
        entry.save()
    with pytest.raises(AppendOnly):
        entry.delete()
    assert LedgerEntry.objects.get(pk=entry.pk).amount_fen == 990


@pytest.mark.postgres
def test_the_database_refuses_updates_and_deletes_of_entries_on_postgres(team, product, plan):
    from django.db.utils import IntegrityError, InternalError

    paid(order_payload(koc=team["mia"], lines=[(product, 1, 9900)]))
    entry_id = LedgerEntry.objects.first().pk
    table = LedgerEntry._meta.db_table

    for sql in (f"UPDATE {table} SET amount_fen = 1 WHERE id = %s", f"DELETE FROM {table} WHERE id = %s"):
        with (
            pytest.raises((InternalError, IntegrityError), match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [entry_id])
    with pytest.raises((InternalError, IntegrityError), match="append-only"), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry_id).update(amount_fen=2)
    assert LedgerEntry.objects.get(pk=entry_id).amount_fen == 990


def test_an_order_paid_in_the_second_its_koc_joined_pays_her_upline(product, plan):
    # given: mia joins under lily at 12:00:00.700; WeChat reports the payment as 12:00:00 (whole
    # seconds), although it was made after she joined
    from datetime import datetime
    from unittest import mock
    from zoneinfo import ZoneInfo

    from tests.kocs.factories import make_individual, make_leader

    joined = datetime(2030, 3, 1, 12, 0, 0, 700000, tzinfo=ZoneInfo("Asia/Shanghai"))
    with mock.patch("django.utils.timezone.now", return_value=joined):
        lily = make_leader()
        mia = make_individual(parent=lily)
    order = order_payload(koc=mia, lines=[(product, 1, 10000)], paid_at=joined.replace(microsecond=0))

    # when
    paid(order)

    # then: read as of the end of the reported second, the tree has mia under lily
    parts = dict(Commission.objects.filter(order_id=order["order_id"]).values_list("level", "koc_id"))
    assert parts == {0: mia.pk, 1: lily.pk}
