"""Refunds that name returned lines take back what those lines earned; amount refunds stay pro rata."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.commissions.models import Commission, Rule
from apps.commissions.services import accrual
from tests.commissions import ledger_state
from tests.commissions.factories import (
    make_plan,
    make_product,
    make_team,
    order_payload,
    paid,
    refund_payload,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    team = make_team()
    tea = make_product(max_rate="30.00")
    cup = make_product(max_rate="30.00")
    make_plan(
        {"kind": Rule.Kind.SALES, "level": 0, "rate_percent": Decimal("10")},
        {"kind": Rule.Kind.TARGETED, "rate_percent": Decimal("5"), "product_ids": [tea.pk]},
    )
    return team, tea, cup


def kept(order) -> dict[str, int]:
    return {
        c.kind: c.amount_fen - c.reversed_fen for c in Commission.objects.filter(order_id=order["order_id"])
    }


def test_returning_a_line_takes_back_only_what_that_line_earned(shop):
    team, tea, cup = shop
    order = order_payload(koc=team["mia"], lines=[(tea, 1, 10000), (cup, 1, 3000)])
    paid(order)
    _tea_item, cup_item = (i["item_id"] for i in order["items"])
    assert kept(order) == {"direct": 1300, "targeted": 500}

    # when: the cup is returned (3000 fen)
    accrual.order_refunded_record(
        payload=refund_payload(
            order,
            refund_id=order["order_id"] * 10 + 1,
            amount_fen=3000,
            refunded_fen=3000,
            items=[(cup_item, 1, 3000)],
            refunded_items={cup_item: 1},
            refunded_lines_fen=3000,
        )
    )

    # then: the cup's 300 of the direct commission; the tea campaign keeps all of its 500
    # (before: pro rata, 3000/13000 of each: 300 and 115)
    assert kept(order) == {"direct": 1000, "targeted": 500}


def test_an_amount_refund_after_a_line_return_is_spread_over_what_is_left(shop):
    team, tea, cup = shop
    order = order_payload(koc=team["mia"], lines=[(tea, 1, 10000), (cup, 1, 3000)])
    paid(order)
    _tea_item, cup_item = (i["item_id"] for i in order["items"])
    line = refund_payload(
        order,
        refund_id=order["order_id"] * 10 + 1,
        amount_fen=3000,
        refunded_fen=3000,
        items=[(cup_item, 1, 3000)],
        refunded_items={cup_item: 1},
        refunded_lines_fen=3000,
    )
    amount = refund_payload(
        order,
        refund_id=order["order_id"] * 10 + 2,
        amount_fen=2500,
        refunded_fen=5500,
        refunded_items={cup_item: 1},
        refunded_lines_fen=3000,
    )
    accrual.order_refunded_record(payload=line)
    accrual.order_refunded_record(payload=amount)

    # the tea line's pieces keep (10000 - 2500) / 10000 of themselves: 750 of 1000, 375 of 500
    assert kept(order) == {"direct": 750, "targeted": 375}


def test_line_and_amount_refunds_in_any_order_give_the_same_ledger(shop):
    team, tea, cup = shop

    def run(reverse: bool):
        order = order_payload(koc=team["mia"], lines=[(tea, 3, 3333), (cup, 2, 1501)])
        tea_item, cup_item = (i["item_id"] for i in order["items"])
        events = [
            refund_payload(
                order,
                refund_id=order["order_id"] * 10 + 1,
                amount_fen=3333,
                refunded_fen=3333,
                items=[(tea_item, 1, 3333)],
                refunded_items={tea_item: 1},
                refunded_lines_fen=3333,
            ),
            refund_payload(
                order,
                refund_id=order["order_id"] * 10 + 2,
                amount_fen=1000,
                refunded_fen=4333,
                refunded_items={tea_item: 1},
                refunded_lines_fen=3333,
            ),
            refund_payload(
                order,
                refund_id=order["order_id"] * 10 + 3,
                amount_fen=1501,
                refunded_fen=5834,
                items=[(cup_item, 1, 1501)],
                refunded_items={tea_item: 1, cup_item: 1},
                refunded_lines_fen=4834,
            ),
        ]
        if reverse:
            for event in reversed(events):
                accrual.order_refunded_record(payload=event)
            paid(order)
        else:
            paid(order)
            for event in events:
                accrual.order_refunded_record(payload=event)
        return ledger_state.money(order["order_id"])

    assert run(reverse=False) == run(reverse=True)
