"""Group-buy test data, made through the real services wherever a service exists."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from apps.core import events
from apps.core.models import OutboxEvent
from apps.groupbuys import services
from apps.groupbuys.models import Campaign
from apps.shop import services as shop
from tests.accounts.factories import AddressFactory, UserFactory
from tests.shop.factories import SkuFactory, payment_notice


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    sku = factory.SubFactory(SkuFactory, price_fen=9900, stock=1000)
    product = factory.LazyAttribute(lambda o: o.sku.product)
    group_price_fen = 6900
    leader_price_fen = None
    group_size = 3
    duration_minutes = 24 * 60
    starts_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))
    ends_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=30))
    per_user_limit = 2
    is_active = True


def shopper_with_address(**kwargs):
    user = UserFactory(**kwargs)
    return user, AddressFactory(user=user)


def open_group(campaign, *, leader=None, quantity: int = 1, **kwargs):
    """(group, order, leader) opened through the service."""
    if leader is None:
        leader, address = shopper_with_address()
    else:
        address = AddressFactory(user=leader)
    group, order = services.group_open(
        campaign=campaign, leader=leader, quantity=quantity, address=address, **kwargs
    )
    return group, order, leader


def join_group(group, *, buyer=None, quantity: int = 1, **kwargs):
    """(group, order, buyer) joined through the service."""
    if buyer is None:
        buyer, address = shopper_with_address()
    else:
        address = AddressFactory(user=buyer)
    group, order = services.group_join(group=group, buyer=buyer, quantity=quantity, address=address, **kwargs)
    return group, order, buyer


def pay(order, **overrides) -> str:
    """WeChat Pay's verified notification, applied by the shop (the unit-level payment path)."""
    order.refresh_from_db()
    return shop.payment_notification_handle(notice=payment_notice(order, **overrides))


def deliver_events() -> int:
    """Deliver every undispatched outbox event to its subscribers, in order, until none is left
    (handlers publish more). In a test wrapped in one transaction nothing commits, so this is how
    unit-level tests let the shop's events reach group buys."""
    delivered = 0
    while True:
        pending = list(
            OutboxEvent.objects.filter(dispatched_at__isnull=True).order_by("id").values_list("id", flat=True)
        )
        if not pending:
            return delivered
        for event_id in pending:
            assert events.dispatch(event_id), OutboxEvent.objects.get(pk=event_id).last_error
            delivered += 1
