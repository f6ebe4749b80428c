"""Orders carry the right attribution snapshot, made by the real shop service; link stats follow payments."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from apps.core import events
from apps.core.models import OutboxEvent
from apps.sharing import services
from apps.sharing.attribution import resolve_attribution
from apps.sharing.models import ShareLinkOrder
from apps.shop.models import Order
from tests.accounts.factories import AddressFactory, UserFactory
from tests.helpers import bearer_client
from tests.sharing.factories import make_koc_user, make_link, make_product, set_policy
from tests.shop.factories import make_order, payment_notice

pytestmark = pytest.mark.django_db

POLICY = {
    "mode": "last_touch",
    "validity_days": 30,
    "protection_days": 7,
    "share_code_wins_unprotected": True,
}


@pytest.fixture
def world():
    """Two KOCs (A and B) with links to one product, and a shopper."""
    set_policy(mode="last_touch", validity_days=30, protection_days=7)
    product = make_product(price_fen=9900)
    a, b = make_koc_user(nickname="A"), make_koc_user(nickname="B")
    return {
        "product": product,
        "sku": product.skus.get(),
        "a": a,
        "b": b,
        "link_a": make_link(sharer=a, product=product),
        "link_b": make_link(sharer=b, product=product),
        "shopper": UserFactory(),
    }


def order(world, *, buyer=None, share_code=None) -> Order:
    return make_order(buyer=buyer or world["shopper"], sku=world["sku"], share_code=share_code)


def bind(world, who: str, *, now=None) -> None:
    services.binding_touch(customer=world["shopper"], link=world[f"link_{who}"], via="api", now=now)


def test_an_order_with_a_kocs_share_code_is_that_kocs(world):
    # when
    placed = order(world, share_code=world["link_a"].code)

    # then
    assert placed.attributed_koc_id == world["a"].koc.pk
    assert placed.share_link_id == world["link_a"].pk
    assert placed.attribution == {
        "koc_id": world["a"].koc.pk,
        "share_link_id": world["link_a"].pk,
        "source": "share_code",
        "why": "share_code",
        "self_purchase": False,
        "share_code": world["link_a"].code,
        "binding_id": None,
        "binding": None,
        "overridden": None,
        "policy": POLICY,
    }


def test_the_share_code_wins_over_the_buyers_binding_once_its_protection_ended(world):
    # given: the shopper was bound to B 8 days ago (7 days' protection)
    bind(world, "b", now=timezone.now() - timedelta(days=8))

    # when
    placed = order(world, share_code=world["link_a"].code)

    # then
    assert (placed.attributed_koc_id, placed.attribution["source"]) == (world["a"].koc.pk, "share_code")
    assert placed.attribution["overridden"]["koc_id"] == world["b"].koc.pk


def test_a_protected_binding_wins_over_the_share_code(world):
    # given: the shopper was bound to B a moment ago
    bind(world, "b")

    # when
    placed = order(world, share_code=world["link_a"].code)

    # then
    assert (placed.attributed_koc_id, placed.attribution["why"]) == (world["b"].koc.pk, "protected_binding")


def test_without_a_code_the_order_is_the_bound_kocs(world):
    # given
    bind(world, "b")
    binding = world["shopper"].share_binding

    # when
    placed = order(world)

    # then
    assert placed.attributed_koc_id == world["b"].koc.pk
    assert placed.share_link_id == world["link_b"].pk
    snapshot = dict(placed.attribution)
    bound = snapshot.pop("binding")
    assert datetime.fromisoformat(bound.pop("expires_at")) == binding.expires_at
    assert datetime.fromisoformat(bound.pop("protected_until")) == binding.protected_until
    assert bound == {"koc_id": world["b"].koc.pk, "protected": True}
    assert snapshot == {
        "koc_id": world["b"].koc.pk,
        "share_link_id": world["link_b"].pk,
        "source": "binding",
        "why": "binding",
        "self_purchase": False,
        "share_code": world["link_b"].code,
        "binding_id": binding.pk,
        "overridden": None,
        "policy": POLICY,
    }


@pytest.mark.parametrize("junk", ["nope", "ZZZZZZZZ", "'; select 1; --", "码码码码码码码码"])
def test_a_junk_code_falls_back_to_the_binding_and_never_fails_the_order(world, junk):
    # given
    bind(world, "b")

    # when
    placed = order(world, share_code=junk)

    # then
    assert placed.pk is not None
    assert (placed.attributed_koc_id, placed.attribution["source"]) == (world["b"].koc.pk, "binding")


def test_no_code_and_no_binding_is_nobodys_order(world):
    placed = order(world, share_code="ZZZZZZZZ")

    assert (placed.attributed_koc_id, placed.share_link_id, placed.attribution) == (None, None, {})


def test_an_expired_binding_attributes_nothing(world):
    # given: bound 31 days ago under a 30-day policy
    bind(world, "b", now=timezone.now() - timedelta(days=31))

    # when
    placed = order(world)

    # then
    assert placed.attributed_koc_id is None


def test_a_shoppers_own_share_link_attributes_nothing(world):
    # given: a plain shopper shared the product with a friend
    friend_link = make_link(sharer=UserFactory(), product=world["product"])

    # when
    placed = order(world, share_code=friend_link.code)

    # then
    assert placed.attributed_koc_id is None


def test_a_koc_buying_through_their_own_link_is_a_self_purchase(world):
    # when
    placed = order(world, buyer=world["a"], share_code=world["link_a"].code)

    # then
    assert placed.attributed_koc_id == world["a"].koc.pk
    assert placed.attribution["self_purchase"] is True


def test_the_snapshot_keeps_the_policy_in_force_when_the_order_was_made(world):
    # given
    bind(world, "b")
    first = order(world)
    set_policy(mode="first_touch", validity_days=60, protection_days=0)

    # when
    second = order(world)

    # then
    first.refresh_from_db()
    assert first.attribution["policy"] == POLICY
    assert second.attribution["policy"] == {
        "mode": "first_touch",
        "validity_days": 60,
        "protection_days": 0,
        "share_code_wins_unprotected": True,
    }


def test_the_resolver_reads_only(world, django_assert_max_num_queries):
    # given
    bind(world, "b")

    # when / then: the policy row, the link, its KOC, the binding; nothing written
    with django_assert_max_num_queries(4):
        result = resolve_attribution(buyer=world["shopper"], share_code=world["link_a"].code)
    assert (result["koc_id"], result["why"]) == (world["b"].koc.pk, "protected_binding")


def test_the_order_api_carries_the_share_code_to_the_snapshot(world):
    # given
    address = AddressFactory(user=world["shopper"])

    # when
    response = bearer_client(world["shopper"]).post(
        "/api/v1/orders",
        {
            "items": [{"sku_id": world["sku"].pk, "quantity": 1}],
            "address_id": address.pk,
            "share_code": world["link_a"].code,
        },
        format="json",
    )

    # then
    assert response.status_code == 201, response.content
    placed = Order.objects.get(pk=response.json()["id"])
    assert (placed.attributed_koc_id, placed.share_link_id) == (world["a"].koc.pk, world["link_a"].pk)


# --- paid orders move the link's counters, and commissions follow the snapshot -----------------------


def pay(placed: Order) -> OutboxEvent:
    from apps.shop import services as shop_services

    shop_services.payment_notification_handle(notice=payment_notice(placed))
    return OutboxEvent.objects.get(key=f"order_paid:{placed.pk}")


def test_a_paid_order_counts_on_its_link_once(world):
    # given
    placed = order(world, share_code=world["link_a"].code)
    event = pay(placed)

    # when: delivered, and the same payload handled again
    events.dispatch(event.pk)
    services.order_paid_record(order=event.payload)

    # then
    link = world["link_a"]
    link.refresh_from_db()
    assert (link.orders, link.gmv_fen) == (1, 9900)
    assert ShareLinkOrder.objects.get().order_id == placed.pk
    world["link_b"].refresh_from_db()
    assert (world["link_b"].orders, world["link_b"].gmv_fen) == (0, 0)


def test_an_order_through_a_binding_counts_on_the_link_that_bound_the_buyer(world):
    # given
    bind(world, "b")
    placed = order(world)

    # when
    events.dispatch(pay(placed).pk)

    # then
    world["link_b"].refresh_from_db()
    assert (world["link_b"].orders, world["link_b"].gmv_fen) == (1, 9900)


def test_an_order_without_attribution_counts_nowhere(world):
    events.dispatch(pay(order(world)).pk)

    assert not ShareLinkOrder.objects.exists()


def test_commission_follows_the_snapshot_and_a_self_purchase_earns_nothing(world):
    # given: the demo plan (10% to the attributed KOC)
    from apps.commissions.models import Commission
    from tests.commissions.factories import demo_plan

    demo_plan()
    shared = order(world, share_code=world["link_a"].code)
    own = order(world, buyer=world["a"], share_code=world["link_a"].code)

    # when
    for placed in (shared, own):
        events.dispatch(pay(placed).pk)

    # then: A earns 10% of the shopper's order and nothing on their own purchase
    earned = Commission.objects.filter(koc_id=world["a"].koc.pk)
    assert [(c.order_id, c.amount_fen) for c in earned] == [(shared.pk, 990)]
    assert not Commission.objects.filter(order_id=own.pk).exists()
