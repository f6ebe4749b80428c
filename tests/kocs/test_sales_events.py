"""The KOC app's read model of sales, built from the shop's order events."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.core import events
from apps.kocs import selectors
from apps.kocs.models import Koc, KocOrderLine, KocSale
from tests.kocs.factories import LevelFactory, make_individual, make_leader, make_sale

pytestmark = pytest.mark.django_db


def completed(
    *, order_id: int, koc: Koc | None, buyer_id: int, paid_fen: int, refunded_fen: int = 0, items=None
):
    items = items or [
        {
            "item_id": order_id * 10,
            "sku_id": 1,
            "product_id": 7,
            "brand_id": 3,
            "category_id": 5,
            "quantity": 2,
            "price_fen": paid_fen // 2,
            "line_fen": paid_fen,
            "price_source": "list",
        }
    ]
    return {
        "order_id": order_id,
        "order_no": f"N{order_id}",
        "buyer_id": buyer_id,
        "paid_fen": paid_fen,
        "total_fen": paid_fen,
        "paid_at": timezone.now().isoformat(),
        "completed_at": timezone.now().isoformat(),
        "refunded_fen": refunded_fen,
        "kind": "standard",
        "group_id": None,
        "attributed_koc_id": koc.pk if koc else None,
        "share_link_id": None,
        "attribution": {},
        "items": items,
    }


def deliver(event_type: str, payload: dict, key: str) -> None:
    """Publish through the outbox and deliver to this app's subscribers (others have their own tests)."""
    event = events.publish(event_type, payload, key=key)
    ours = {n: h for n, h in events.subscribers(event_type).items() if n.startswith("apps.kocs.")}
    assert ours, f"the KOC app does not subscribe to {event_type}"
    for name, handler in ours.items():
        events._deliver(event, name, handler)


def test_a_completed_attributed_order_is_a_sale_once(shopper):
    # given
    koc = make_individual()
    payload = completed(order_id=501, koc=koc, buyer_id=shopper.pk, paid_fen=19_800)

    # when: delivered, then the same fact published again and redelivered
    deliver("order_completed", payload, key="order_completed:501")
    deliver("order_completed", payload, key="order_completed:501-again")

    # then
    sale = KocSale.objects.get()
    assert (sale.koc, sale.order_id, sale.amount_fen, sale.units) == (koc, 501, 19_800, 2)
    assert selectors.own_sales_fen(koc=koc) == 19_800
    line = KocOrderLine.objects.get()
    assert (line.kind, line.koc, line.brand_id, line.line_fen) == ("sale", koc, 3, 19_800)


def test_an_unattributed_order_of_a_shopper_records_nothing(shopper):
    deliver(
        "order_completed", completed(order_id=502, koc=None, buyer_id=shopper.pk, paid_fen=100), key="c:502"
    )
    assert KocSale.objects.count() == 0
    assert KocOrderLine.objects.count() == 0


def test_a_kocs_own_purchase_is_a_brand_line_for_affinity():
    koc = make_individual()
    deliver(
        "order_completed",
        completed(order_id=503, koc=None, buyer_id=koc.user_id, paid_fen=9_900),
        key="c:503",
    )
    line = KocOrderLine.objects.get()
    assert (line.kind, line.koc, line.brand_id, line.product_id, line.quantity) == ("purchase", koc, 3, 7, 2)
    assert KocSale.objects.count() == 0


def test_refunds_after_completion_lower_the_sale_idempotently(shopper):
    # given
    koc = make_individual()
    deliver(
        "order_completed", completed(order_id=504, koc=koc, buyer_id=shopper.pk, paid_fen=10_000), key="c:504"
    )

    # when: a partial refund, delivered twice, then the rest
    partial = {
        "order_id": 504,
        "order_no": "N504",
        "refund_id": 1,
        "amount_fen": 3_000,
        "refunded_fen": 3_000,
        "paid_fen": 10_000,
        "fully_refunded": False,
        "refunded_at": timezone.now().isoformat(),
        "buyer_id": shopper.pk,
        "group_id": None,
        "attributed_koc_id": koc.pk,
    }
    deliver("order_refunded", partial, key="r:1")
    deliver("order_refunded", partial, key="r:1-again")
    assert KocSale.objects.get().amount_fen == 7_000

    deliver(
        "order_refunded",
        {**partial, "refund_id": 2, "amount_fen": 7_000, "refunded_fen": 10_000, "fully_refunded": True},
        key="r:2",
    )

    # then
    sale = KocSale.objects.get()
    assert (sale.refunded_fen, sale.amount_fen) == (10_000, 0)
    assert KocOrderLine.objects.get().refunded is True
    # an earlier refund delivered late changes nothing
    deliver("order_refunded", partial, key="r:1-late")
    assert KocSale.objects.get().amount_fen == 0


def test_a_refund_before_completion_is_carried_by_the_completed_event(shopper):
    koc = make_individual()
    deliver("order_refunded", {"order_id": 505, "refunded_fen": 500, "fully_refunded": False}, key="r:505")
    deliver(
        "order_completed",
        completed(order_id=505, koc=koc, buyer_id=shopper.pk, paid_fen=2_000, refunded_fen=500),
        key="c:505",
    )
    assert KocSale.objects.get().amount_fen == 1_500


def test_a_completed_sale_upgrades_the_koc_and_its_uplines(
    shopper, celery_eager, django_capture_on_commit_callbacks
):
    # given: silver on own sales, gold on team sales; the leader already sold 10 000 itself
    silver = LevelFactory(rank=1, name="银牌", min_own_sales_fen=10_000)
    gold = LevelFactory(rank=2, name="金牌", min_own_sales_fen=10_000, min_team_sales_fen=20_000)
    leader = make_leader()
    koc = make_individual(parent=leader)
    make_sale(koc=leader, amount_fen=10_000)

    # when: the KOC's order completes
    with django_capture_on_commit_callbacks(execute=True):
        deliver(
            "order_completed",
            completed(order_id=506, koc=koc, buyer_id=shopper.pk, paid_fen=10_000),
            key="c:506",
        )

    # then: the KOC reached silver, its leader (team 20 000) gold
    assert Koc.objects.get(pk=koc.pk).level == silver
    assert Koc.objects.get(pk=leader.pk).level == gold
